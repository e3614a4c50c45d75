"""to_torch, to_tensorflow and the layout conversions.

Oracles: kzoo's numpy backend (the reference forward) on the same weights and inputs.
Tolerances: torch and tf_keras 1e-5 (same float32 math, different op order); layout
conversions 1e-5; all scaled by ``max(1, max|expected|)`` (helpers.assert_matches).
"""
import os

import numpy as np
import pytest

from export_cases import randomize
from helpers import assert_matches
from kzoo import backend as K
from kzoo import layers as L
from kzoo.converters.layouts import (convert_data_format, convert_kernels, image_outputs,
                                     transpose_array)
from kzoo.converters.onnx_export.check import kzoo_outputs, sample_inputs
from kzoo.errors import ConversionError
from kzoo.models import Model, Sequential


def _cnn():
    x = L.Input(shape=(10, 10, 3), name='image')
    y = L.Conv2D(6, 3, padding='same', activation='relu')(x)
    y = L.BatchNormalization()(y)
    y = L.SeparableConv2D(4, 3, strides=2)(y)
    y = L.MaxPooling2D()(y)
    y = L.Flatten()(y)
    y = L.Dropout(0.3)(y)
    return randomize(Model(x, L.Dense(5, activation='softmax')(y), name='cnn'))


def _rnn():
    x = L.Input(shape=(6,), name='tokens')
    e = L.Embedding(8, 4, mask_zero=True)(x)
    y = L.Bidirectional(L.LSTM(3, return_sequences=True))(e)
    y = L.GRU(2, reset_after=False)(y)
    return randomize(Model(x, L.Dense(2)(y), name='rnn'))


def _merge():
    a = L.Input(shape=(4,), name='a')
    b = L.Input(shape=(4,), name='b')
    h = L.Concatenate()([L.Dense(3, activation='tanh')(a), L.Multiply()([a, b])])
    return randomize(Model([a, b], [L.Dense(2)(h), L.Add()([a, b])], name='merge'))


MODELS = {'cnn': _cnn, 'rnn': _rnn, 'merge': _merge}


# ---- torch -----------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def torch():
    return pytest.importorskip('torch')


@pytest.mark.parametrize('name', sorted(MODELS))
def test_to_torch_computes_the_model(name, torch):
    from kzoo.converters import to_torch
    model = MODELS[name]()
    inputs = sample_inputs(model, 3, seed=4)
    expected = kzoo_outputs(model, inputs)
    module = to_torch(model)
    assert isinstance(module, torch.nn.Module)
    with torch.no_grad():
        out = module(*[torch.as_tensor(a) for a in inputs])
    out = out if isinstance(out, tuple) else (out,)
    for a, e in zip(out, expected):
        assert_matches(a.numpy(), e, 1e-5)


def test_to_torch_parameters_train_in_plain_pytorch(torch):
    from kzoo.converters import to_torch
    model = _cnn()
    module = to_torch(model)
    params = dict(module.named_parameters())
    assert all(isinstance(p, torch.nn.Parameter) for p in params.values())
    trainable = [n for n, p in params.items() if p.requires_grad]
    assert 'dense_1.kernel' in trainable or any(n.endswith('.kernel') for n in trainable)
    assert not any(p.requires_grad for n, p in params.items() if 'moving' in n)
    x = torch.as_tensor(sample_inputs(model, 4, seed=1)[0])
    target = torch.full((4, 5), 0.2)
    optimizer = torch.optim.SGD([p for p in module.parameters() if p.requires_grad], lr=0.5)
    before = {n: p.detach().clone() for n, p in params.items()}
    module.eval()  # dropout off and fixed statistics: a deterministic loss
    loss0 = torch.nn.functional.mse_loss(module(x), target)
    loss0.backward()
    optimizer.step()
    loss1 = torch.nn.functional.mse_loss(module(x), target)
    assert float(loss1.detach()) < float(loss0.detach())
    changed = [n for n in trainable if not torch.equal(before[n], params[n].detach())]
    assert changed
    # the module and the kzoo model it wraps share their parameters
    with K.using('torch'):
        shared = module.kzoo_model.predict_on_batch(x.numpy())
    assert_matches(shared, module(x).detach().numpy(), 1e-6)


def test_to_torch_wraps_a_torch_model_without_copying(torch):
    from kzoo.converters import to_torch
    with K.using('torch'):
        x = L.Input(shape=(3,))
        model = Model(x, L.Dense(2)(x))
    module = to_torch(model)
    assert module.kzoo_model is model
    assert {id(p) for p in module.parameters()} == {id(w) for w in model.weights}


def test_pt_round_trip_weights_only(tmp_path, torch):
    from kzoo.converters import to_torch
    from kzoo.converters.torch_export import save_state_dict
    model = _rnn()
    module = to_torch(model)
    path = tmp_path / 'rnn.pt'
    save_state_dict(module, path)
    state = torch.load(str(path), weights_only=True)
    assert sorted(state) == sorted(module.state_dict())
    for key, value in module.state_dict().items():
        assert torch.equal(state[key], value)
    # and back into a fresh kzoo model through the format registry
    fresh = _rnn()
    fresh.load_weights(str(path))
    inputs = sample_inputs(model, 2, seed=5)
    assert_matches(kzoo_outputs(fresh, inputs)[0], kzoo_outputs(model, inputs)[0], 1e-6)


# ---- tensorflow ----------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def tf_keras():
    return pytest.importorskip('tf_keras')


@pytest.mark.oracle
def test_to_tensorflow_and_savedmodel(tmp_path, tf_keras):
    from kzoo.converters import to_tensorflow
    from kzoo.converters.tf_export import from_tensorflow, load_savedmodel, save_savedmodel
    for name in sorted(MODELS):
        model = MODELS[name]()
        inputs = sample_inputs(model, 3, seed=6)
        expected = kzoo_outputs(model, inputs)
        tf_model = to_tensorflow(model)
        assert isinstance(tf_model, tf_keras.Model)
        out = tf_model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        for a, e in zip(out if isinstance(out, list) else [out], expected):
            assert_matches(a, e, 1e-5, what='%s via tf_keras' % name)
        if name == 'cnn':
            folder = tmp_path / 'cnn_savedmodel'
            save_savedmodel(tf_model, folder)
            assert (folder / 'saved_model.pb').is_file()
            reloaded = load_savedmodel(folder)
            assert_matches(reloaded.predict(inputs[0], verbose=0), expected[0], 1e-5)
            back = from_tensorflow(folder)
            assert_matches(kzoo_outputs(back, inputs)[0], expected[0], 1e-5)


# ---- layouts -------------------------------------------------------------------------------------

def _channels_first_model():
    x = L.Input(shape=(3, 9, 9), name='image')
    cf = 'channels_first'
    y = L.ZeroPadding2D(1, data_format=cf)(x)
    y = L.Conv2D(4, 3, data_format=cf)(y)
    y = L.BatchNormalization(axis=1)(y)
    z = L.Conv2D(4, 1, data_format=cf)(x)
    y = L.Concatenate(axis=1)([y, z])
    y = L.PReLU(shared_axes=[2, 3])(y)
    y = L.Add()([y, L.Activation('relu')(y)])
    pooled = L.MaxPooling2D(data_format=cf)(y)
    g = L.GlobalAveragePooling2D(data_format=cf)(pooled)
    f = L.Flatten()(pooled)               # Keras 1 Theano style: raw channels-first order
    f = L.Dropout(0.2)(f)
    f = L.BatchNormalization()(f)
    out = L.Dense(5)(f)
    keras2 = L.Dense(3)(L.Flatten(data_format=cf)(pooled))
    return randomize(Model(x, [out, keras2, g, pooled], name='cf_model'))


def _compare_layouts(original, converted, source, inputs):
    expected = kzoo_outputs(original, inputs)
    moved = [transpose_array(a, source) if a.ndim >= 3 else a for a in inputs]
    actual = kzoo_outputs(converted, moved)
    flags = image_outputs(converted)
    target = 'channels_last' if source == 'channels_first' else 'channels_first'
    for a, e, flag in zip(actual, expected, flags):
        assert_matches(transpose_array(a, target) if flag else a, e, 1e-5)


def test_channels_first_to_last_and_back():
    model = _channels_first_model()
    inputs = sample_inputs(model, 2, seed=8)
    to_last = convert_data_format(model, 'channels_last')
    assert to_last.input_shape == (None, 9, 9, 3)
    assert image_outputs(to_last) == [False, False, False, True]
    _compare_layouts(model, to_last, 'channels_first', inputs)
    back = convert_data_format(to_last, 'channels_first')
    assert back.input_shape == (None, 3, 9, 9)
    for a, e in zip(kzoo_outputs(back, inputs), kzoo_outputs(model, inputs)):
        assert_matches(a, e, 1e-5)


def test_sequential_channels_last_to_first():
    model = randomize(Sequential([L.Conv2D(3, 3, input_shape=(8, 8, 2), padding='same'),
                                  L.BatchNormalization(), L.AveragePooling2D(),
                                  L.Flatten(), L.Dense(4)], name='seq'))
    inputs = sample_inputs(model, 2, seed=9)
    converted = convert_data_format(model, 'channels_first')
    assert converted.input_shape == (None, 2, 8, 8)
    _compare_layouts(model, converted, 'channels_last', inputs)


def test_layout_conversion_refuses_layout_dependent_layers():
    x = L.Input(shape=(3, 6, 6))
    y = L.Conv2D(2, 3, data_format='channels_first')(x)
    y = L.Reshape((2, 16), name='fold')(y)
    model = Model(x, y)
    with pytest.raises(ConversionError, match="'fold' \\(Reshape\\)"):
        convert_data_format(model, 'channels_last')


def test_same_format_is_unchanged():
    model = _cnn()
    assert convert_data_format(model, 'channels_last') is model


def test_convert_kernels_is_an_involution():
    model = _cnn()
    inputs = sample_inputs(model, 2, seed=10)
    before = kzoo_outputs(model, inputs)[0]
    kernel = model.layers[1].get_weights()[0].copy()
    convert_kernels(model)
    assert np.array_equal(model.layers[1].get_weights()[0], kernel[::-1, ::-1])
    convert_kernels(model)
    assert_matches(kzoo_outputs(model, inputs)[0], before, 0)
    assert os.path.basename(__file__)
