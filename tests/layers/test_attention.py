"""Attention and AdditiveAttention against Keras 3 (tf_keras for tf.keras 2's ``causal``
constructor argument), on the same weights and inputs, on every kzoo backend.

Tolerance: ``assert_matches(..., 1e-5)`` (largest difference scaled by
``max(1, max|expected|)``, float32). Every grid case also goes through
get_config -> JSON -> from_config unchanged.
"""
import functools
import json

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.engine.training import Model
from kzoo.errors import ConfigError, ShapeError
from rnn_oracle import DATA, check, kzoo_layer, library, make, oracle, spec

pytestmark = pytest.mark.oracle

LAYERS = {
    'dot': spec('Attention'),
    'dot-scale': spec('Attention', use_scale=True),
    'concat': spec('Attention', score_mode='concat'),
    'concat-scale': spec('Attention', score_mode='concat', use_scale=True),
    'additive': spec('AdditiveAttention'),
    'additive-noscale': spec('AdditiveAttention', use_scale=False),
}


@pytest.mark.parametrize('name', sorted(LAYERS))
@pytest.mark.parametrize('inputs', [('q', 'v'), ('q', 'v', 'k')], ids=['qv', 'qvk'])
@pytest.mark.parametrize('masked', [False, True])
@pytest.mark.parametrize('causal', [False, True])
def test_grid(kbackend, name, inputs, masked, causal):
    call = (('return_attention_scores', True), ('use_causal_mask', causal))
    if masked:
        call += (('mask', ('qmask', 'vmask5')),)
    check(LAYERS[name], inputs=inputs, call=call)


@pytest.mark.parametrize('name', ['dot', 'additive'])
def test_single_output_and_value_mask_only(kbackend, name):
    masks = (('mask', (None, 'vmask5')),)
    check(LAYERS[name], inputs=('q', 'v'), call=masks)


@pytest.mark.parametrize('name', ['Attention', 'AdditiveAttention'])
def test_tf_keras_causal_constructor_argument(kbackend, name):
    """tf.keras 2 spelled causal masking as a constructor argument (and saved it)."""
    s = spec(name, causal=True)
    weights, expected = oracle(s, inputs=('q', 'v'), call=(('mask', ('qmask', 'vmask5')),),
                               lib='tf_keras')
    layer = kzoo_layer(s, weights)
    assert_matches(layer([DATA['q'], DATA['v']], mask=[DATA['qmask'], DATA['vmask5']]),
                   expected[0], 1e-5)
    assert layer.get_config()['causal'] is True
    clone = deserialize_layer({'class_name': name, 'config': json.loads(json.dumps(
        layer.get_config()))})
    assert clone.causal


@pytest.mark.parametrize('name', ['dot-scale', 'concat', 'additive'])
def test_config_from_keras(kbackend, name):
    s = LAYERS[name]
    call = (('mask', ('qmask', 'vmask5')),)
    for lib in ('keras', 'tf_keras'):
        if lib == 'tf_keras' and name == 'concat':
            continue
        weights, expected = oracle(s, inputs=('q', 'v'), call=call, lib=lib)
        module = library(lib)
        config = getattr(module.layers, s[0])(**dict(s[1])).get_config()
        layer = deserialize_layer({'class_name': s[0], 'config': json.loads(json.dumps(config))})
        layer._initial_weights = weights
        assert_matches(layer([DATA['q'], DATA['v']], mask=[DATA['qmask'], DATA['vmask5']]),
                       expected[0], 1e-5)


@pytest.mark.parametrize('name', sorted(LAYERS))
@pytest.mark.parametrize('scores', [False, True])
def test_symbolic_shapes(name, scores):
    """Output dim is the value's (Keras 3), Tq and Tv may be unknown."""
    call = ()
    layer_spec = LAYERS[name]
    shapes = [(None, 3), (7, 2), (7, 3)]  # query, value (other dim), key
    if name.startswith('concat') or name.startswith('additive'):
        shapes = [(None, 3), (7, 3), (7, 3)]
    kzoo, keras = _symbolic(layer_spec, shapes, scores)
    assert kzoo == keras


def _symbolic(layer_spec, shapes, scores):
    import kzoo.layers
    module = library('keras')
    out = {}
    for key, layers, new_input in (('kzoo', kzoo.layers, kzoo.layers.Input),
                                   ('keras', module.layers, module.Input)):
        tensors = [new_input(shape=s) for s in shapes]
        y = make(layers, layer_spec)(tensors, return_attention_scores=scores)
        y = y if isinstance(y, (list, tuple)) else [y]
        out[key] = [tuple(t.shape) for t in y]
    return out['kzoo'], out['keras']


def _graph(lib, model_cls, name):
    q = lib.Input(shape=(4,))
    v = lib.Input(shape=(5,))
    embed = lib.layers.Embedding(10, 3, mask_zero=True)
    attention = getattr(lib.layers, name)()
    y = attention([embed(q), embed(v)])
    y = lib.layers.LSTM(2)(y)    # the query mask reaches the LSTM
    return model_cls([q, v], y)


TOKENS_Q = np.array([[1, 2, 0, 0], [3, 4, 5, 6]])
TOKENS_V = np.array([[7, 8, 9, 0, 0], [0, 1, 2, 3, 4]])


@functools.lru_cache(maxsize=None)
def _keras_graph(name):
    keras = library('keras')
    model = _graph(keras, keras.Model, name)
    weights = seeded_weights([w.shape for w in model.get_weights()], 12)
    model.set_weights(weights)
    return weights, np.asarray(model([TOKENS_Q, TOKENS_V]))


@pytest.mark.parametrize('name', ['Attention', 'AdditiveAttention'])
def test_masks_in_a_graph(kbackend, name):
    weights, expected = _keras_graph(name)

    class Lib:
        layers = kl
        Input = staticmethod(kl.Input)
    model = _graph(Lib, Model, name)
    model.set_weights(weights)
    assert_matches(model.predict([TOKENS_Q, TOKENS_V]), expected, 1e-5)


def test_scores_output_in_a_graph(kbackend):
    q, v = kl.Input(shape=(4, 3)), kl.Input(shape=(5, 3))
    out, scores = kl.Attention()([q, v], return_attention_scores=True)
    assert tuple(out.shape) == (None, 4, 3) and tuple(scores.shape) == (None, 4, 5)
    model = Model([q, v], [out, scores])
    a, s = model.predict([DATA['q'], DATA['v']])
    np.testing.assert_allclose(s.sum(-1), 1., rtol=1e-5)
    clone = Model.from_config(json.loads(json.dumps(model.get_config())))
    a2, s2 = clone.predict([DATA['q'], DATA['v']])
    assert_matches(a2, a, 1e-6)


def test_dropout_only_in_training(kbackend):
    layer = kl.Attention(dropout=0.5)
    x = [DATA['q'], DATA['v']]
    inference = layer(x)
    assert_matches(layer(x), inference, 1e-7)
    _, scores = layer(x, training=True, return_attention_scores=True)
    assert not np.allclose(scores.sum(-1), 1.)


def test_errors():
    with pytest.raises(ConfigError, match='score_mode'):
        kl.Attention(score_mode='general')
    with pytest.raises(ShapeError, match='query'):
        kl.Attention()(DATA['q'])
    with pytest.raises(ConfigError, match='dropout'):
        kl.AdditiveAttention(dropout=2.)
