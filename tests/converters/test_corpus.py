"""Every real Keras file in the corpus loads in kzoo (or fails with the error it must),
and where tf-keras or Keras 3 can load it too, kzoo predicts what they predict.

Files come from other people's Keras 1.x, 2.x, tf.keras and Keras 3 installs
(corpus/MANIFEST.md). Weights-only files are loaded into their JSON architecture, or
into the architecture written in ``corpus_builders`` (built by the same code in kzoo
and in the oracle). Oracle tolerance: 1e-5, scaled by the output's magnitude
(``helpers.assert_matches``).
"""
import json
import os

import numpy as np
import pytest

from converter_oracles import (corpus_path, keras_predict, kzoo_predict, sample_inputs)
from corpus_builders import BUILDERS, api
from helpers import assert_matches
from kzoo.errors import UnknownObjectError, UnsafeInputError
from kzoo.models import load_model, model_from_json

KERAS_DIR = '/work/shared/corpus/keras'
FILES = sorted(os.listdir(KERAS_DIR)) if os.path.isdir(KERAS_DIR) else []

# Weights-only files and the JSON architecture published with them.
WEIGHTS_WITH_JSON = {
    'ddpgtorcs__actormodel.h5': 'ddpgtorcs__actormodel.json',
    'ddpgtorcs__criticmodel.h5': 'ddpgtorcs__criticmodel.json',
    'dl4j__mnist_cnn_th_keras_1_weights.h5': 'dl4j__mnist_cnn_th_keras_1_config.json',
    'dl4j__permute_retina_unet.h5': 'dl4j__permute_retina_unet.json',
    'dventi__model.h5': 'dventi__model.json',
}

# Files that must fail, with the error that says why.
EXPECTED_ERRORS = {
    'dl4j__tfop_0.h5': (UnknownObjectError, 'TensorFlowOpLayer.*raw TensorFlow graph op'),
}


def lambda_functions(K):
    """The functions of the corpus's Lambda layers, read from their bytecode by hand
    (Python 2 and 3.6 bytecode cannot be loaded by this Python), by layer name."""
    return {
        'dl4j__deepfm.h5': {
            'cat_embed_2d_genure_mean': lambda x: K.mean(x, axis=1, keepdims=True),
            'embed_1d_mean': lambda x: K.mean(x, axis=1, keepdims=False),
            'sum_of_tensors': lambda x: K.sum(x, axis=1),
            'square_of_tensors': lambda x: K.square(x),
            'lambda_1': lambda x: x * 0.5},
        'dl4j__model_lambda.h5': {'lambda_3': lambda x: x ** 2, 'lambda_4': lambda x: 3 * x},
        'dl4j__sequential_lambda.h5': {'lambda_1': lambda x: x ** 2,
                                       'lambda_2': lambda x: 3 * x},
    }


def kzoo_lambdas(name):
    from kzoo import backend as K
    return lambda_functions(K).get(name)


def nested_dense_model_class():
    """kzoo's version of the custom class in Keras's pre-PR-22362 fixture."""
    from kzoo.engine.base_layer import Layer
    from kzoo.layers import Dense

    class NestedDenseModel(Layer):
        def __init__(self, num=3, **kwargs):
            Layer.__init__(self, **kwargs)
            self.num = num
            self.blocks = [(Dense(4, use_bias=False, name='d_%d' % i),) for i in range(num)]
            self.out = Dense(2)

        @property
        def layers(self):  # what Keras 3's Model.layers lists for it
            return [d for (d,) in self.blocks] + [self.out]

        def build(self, input_shape):
            shape = tuple(input_shape)
            for layer in self.layers:
                layer.build(shape)
                layer.built = True
                shape = shape[:-1] + (layer.units,)

        def call(self, x):
            for layer in self.layers:
                x = layer.call(x)
            return x

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[:-1]) + (2,)

    return NestedDenseModel


def load_corpus_file(name):
    """The kzoo model for corpus file ``name``, loaded the way that file is meant to be."""
    path = corpus_path('keras', name)
    if name in WEIGHTS_WITH_JSON:
        with open(corpus_path('keras', WEIGHTS_WITH_JSON[name])) as f:
            model = model_from_json(f.read())
        model.load_weights(path)
        return model
    if name in BUILDERS:
        import kzoo
        model = BUILDERS[name](api(kzoo))
        model.load_weights(path)
        return model
    if name == 'keras__pre_pr22362_nested_container.keras':
        return load_model(path, custom_objects={'NestedDenseModel': nested_dense_model_class()})
    if name.endswith('.json'):
        with open(path) as f:
            return model_from_json(f.read())
    return load_model(path, custom_objects=kzoo_lambdas(name))


@pytest.mark.parametrize('name', FILES)
def test_corpus_file_loads(name):
    if name in EXPECTED_ERRORS:
        error, pattern = EXPECTED_ERRORS[name]
        with pytest.raises(error, match=pattern):
            load_model(corpus_path('keras', name))
        return
    model = load_corpus_file(name)
    weights = model.get_weights()
    assert all(np.all(np.isfinite(w)) for w in weights), 'non-finite weights in %s' % name
    if hasattr(model, 'inputs') and getattr(model, 'predict', None):
        outputs = kzoo_predict(model, sample_inputs(model))
        assert all(np.all(np.isfinite(o)) for o in outputs)


@pytest.mark.parametrize('name', sorted(lambda_functions(np)))
def test_lambda_bytecode_is_refused_in_safe_mode(name):
    with pytest.raises(UnsafeInputError, match='marshalled Python bytecode'):
        load_model(corpus_path('keras', name))


def test_pre_pr22362_nested_container_weights():
    """Keras's own test states the fixture's weights: block i kernel 0.1 (i + 1), the
    output kernel 0.5 and bias 0 (keras/src/saving/saving_lib_test.py)."""
    name = 'keras__pre_pr22362_nested_container.keras'
    with pytest.raises(UnknownObjectError, match='NestedDenseModel'):
        load_model(corpus_path('keras', name))
    model = load_corpus_file(name)
    for i, (dense,) in enumerate(model.blocks):
        np.testing.assert_allclose(dense.get_weights()[0], np.full((4, 4), 0.1 * (i + 1)),
                                   atol=1e-6)
    kernel, bias = model.out.get_weights()
    np.testing.assert_allclose(kernel, np.full((4, 2), 0.5), atol=1e-6)
    np.testing.assert_allclose(bias, np.zeros(2), atol=1e-6)


# ---- the oracles -----------------------------------------------------------------------------

def _rewrite_lambdas(config, names):
    """A config whose Lambda layers name their function (``fn_<layer>``, looked up in
    custom_objects), so that tf-keras can load it without the unreadable bytecode."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get('config'), dict) and 'class_name' in item \
                    and 'module' not in item:
                # tf-keras's legacy path would swap the names for the functions
                item.update(module='keras.layers', registered_name=None)
            if item.get('class_name') == 'Lambda':
                layer_name = item['config']['name']
                if layer_name in names:
                    item['config'].update(function='fn_' + layer_name,
                                          function_type='function', module=None)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return config


# Theano kernels are true convolutions; neither tf-keras nor Keras 3 flips them on load
# (both dropped Theano), so these are checked against scipy in test_theano_kernels.
THEANO_FILES = ('dl4j__conv2d_theano_1.h5', 'dl4j__conv2d_theano_2.h5',
                'dl4j__mnist_cnn_th_keras_1_weights.h5')


def oracle_model(name, tfk, k3):
    """The oracle's model for a corpus file, or a skip saying why there is none."""
    path = corpus_path('keras', name)
    reasons = []
    if name in THEANO_FILES:
        pytest.skip('Theano kernels: tf-keras and Keras 3 load them unflipped; scipy is the '
                    'oracle (test_theano_kernels_match_scipy)')
    if name.endswith('.keras'):
        if name == 'keras__pre_pr22362_nested_container.keras':
            pytest.skip('custom class; checked against the weights Keras states instead')
        return k3.saving.load_model(path, compile=False)
    if name in BUILDERS:
        if name.endswith('.weights.h5'):
            model = BUILDERS[name](api(k3))
        else:
            model = BUILDERS[name](api(tfk))
        model.load_weights(path)
        return model
    lambdas = lambda_functions(tfk.backend).get(name)
    if name in WEIGHTS_WITH_JSON or lambdas:
        if lambdas:
            import h5py
            with h5py.File(path, 'r') as f:
                config = json.loads(f.attrs['model_config'])
            text = json.dumps(_rewrite_lambdas(config, lambdas))
            lambdas = {'fn_' + k: v for k, v in lambdas.items()}
        else:
            with open(corpus_path('keras', WEIGHTS_WITH_JSON[name])) as f:
                text = f.read()
            while isinstance(json.loads(text), str):  # double-encoded
                text = json.loads(text)
        try:
            model = tfk.models.model_from_json(text, custom_objects=lambdas)
            model.load_weights(path)
            return model
        except Exception as e:
            pytest.skip('tf-keras cannot load %s: %s' % (name, str(e).splitlines()[0][:200]))
    for loader, label in ((lambda: tfk.models.load_model(path, compile=False), 'tf-keras'),
                          (lambda: k3.saving.load_model(path, compile=False), 'Keras 3')):
        try:
            return loader()
        except Exception as e:
            reasons.append('%s: %s' % (label, (str(e).splitlines() or [''])[0][:150]))
    pytest.skip('no oracle loads %s (%s)' % (name, '; '.join(reasons)))


ORACLE_FILES = [n for n in FILES if not n.endswith('.json') and n not in EXPECTED_ERRORS]


@pytest.mark.oracle
@pytest.mark.parametrize('name', ORACLE_FILES)
def test_corpus_file_matches_oracle(name, tfk, k3):
    oracle = oracle_model(name, tfk, k3)
    model = load_corpus_file(name)
    arrays = sample_inputs(model, batch=model.inputs[0].shape[0] or 3)
    try:
        expected = keras_predict(oracle, arrays)
    except Exception as e:
        if 'NHWC' in str(e):
            pytest.skip('TensorFlow on CPU cannot run channels_first convolutions')
        raise
    actual = kzoo_predict(model, arrays)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        assert_matches(a, e, 1e-5, what='%s output' % name)


# ---- Theano kernels against scipy ----------------------------------------------------------

def _theano_conv(x, kernel, bias, channels_first):
    """Theano's conv2d (a true convolution, 'valid'), per sample and output channel."""
    from scipy import signal
    if not channels_first:  # (rows, cols, in, out) kernels on (b, h, w, c) inputs
        x, kernel = np.transpose(x, (0, 3, 1, 2)), np.transpose(kernel, (3, 2, 0, 1))
    out = np.stack([[sum(signal.convolve(sample[c], kernel[o, c], mode='valid')
                         for c in range(sample.shape[0])) + bias[o]
                     for o in range(kernel.shape[0])] for sample in x.astype('float64')])
    return out if channels_first else np.transpose(out, (0, 2, 3, 1))


@pytest.mark.parametrize('name', THEANO_FILES)
def test_theano_kernels_match_scipy(name):
    """The first convolution of each Theano-era file, against scipy's true convolution
    with the kernel exactly as stored (th files store (out, in, rows, cols))."""
    import h5py
    from kzoo.models import Model
    model = load_corpus_file(name)
    conv = [l for l in model.layers if 'Conv2D' in {c.__name__ for c in type(l).__mro__}][0]
    with h5py.File(corpus_path('keras', name), 'r') as f:
        group = f['model_weights'] if 'model_weights' in f else f
        layer_group = group[conv.name]
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in layer_group.attrs['weight_names']]
        kernel, bias = layer_group[names[0]][()], layer_group[names[1]][()]
    channels_first = conv.data_format == 'channels_first'
    x = sample_inputs(model, seed=3, batch=2)[0]
    expected = _theano_conv(x, kernel, bias, channels_first)
    actual = Model(model.inputs, conv.output).predict(x)
    assert_matches(actual, expected, 1e-5, what='%s %s' % (name, conv.name))


def _keras1_lstm(x, arrays, inner, reverse=False):
    """Keras 1.2's LSTM.step on 12 arrays (W, U, b for gates i, c, f, o)."""
    W_i, U_i, b_i, W_c, U_c, b_c, W_f, U_f, b_f, W_o, U_o, b_o = [
        a.astype('float64') for a in arrays]
    steps = range(x.shape[1])[::-1] if reverse else range(x.shape[1])
    h = np.zeros((x.shape[0], U_i.shape[0]))
    c = np.zeros_like(h)
    outputs = []
    for t in steps:
        xt = x[:, t].astype('float64')
        i = inner(xt @ W_i + b_i + h @ U_i)
        f = inner(xt @ W_f + b_f + h @ U_f)
        c = f * c + i * np.tanh(xt @ W_c + b_c + h @ U_c)
        o = inner(xt @ W_o + b_o + h @ U_o)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs[::-1] if reverse else outputs, 1)


def test_keras1_theano_bidirectional_lstm_against_keras1_equations():
    """The corpus's Keras 1.2.2 Theano Bidirectional(LSTM) file, run with Keras 1's LSTM
    equations on its 24 stored arrays (forward then backward, gates i, c, f, o)."""
    import h5py
    name = 'dl4j__bidirectional_lstm_theano_1.h5'
    model = load_corpus_file(name)
    with h5py.File(corpus_path('keras', name), 'r') as f:
        group = f['model_weights']['bidirectional_1']
        arrays = [group[n][()] for n in group.attrs['weight_names']]
    hard_sigmoid = lambda v: np.clip(0.2 * v + 0.5, 0, 1)  # noqa: E731  (Keras 1)
    x = sample_inputs(model, seed=5, batch=2)[0]
    expected = np.concatenate([_keras1_lstm(x, arrays[:12], hard_sigmoid),
                               _keras1_lstm(x, arrays[12:], hard_sigmoid, reverse=True)], -1)
    assert_matches(model.predict(x), expected, 1e-5)
