"""TimeDistributed and Bidirectional against Keras 3 (tf_keras for Keras 2 configs), on
the same weights and inputs, on every kzoo backend.

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
from kzoo.errors import ConfigError
from rnn_oracle import DATA, UNITS, check, library, oracle, spec, symbolic_shapes

pytestmark = pytest.mark.oracle
SLOW = pytest.mark.slow

MERGE_MODES = ['concat', 'sum', 'mul', 'ave', None]


def bidirectional(kind, merge_mode='concat', **options):
    return spec('Bidirectional', spec(kind, units=UNITS, **options), merge_mode=merge_mode)


# ---- Bidirectional ------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['LSTM', pytest.param('GRU', marks=SLOW),
                                  pytest.param('SimpleRNN', marks=SLOW)])
@pytest.mark.parametrize('merge_mode', MERGE_MODES)
@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('return_state', [False, True])
@pytest.mark.parametrize('masked', [True, pytest.param(False, marks=SLOW)])
def test_bidirectional_grid(kbackend, kind, merge_mode, return_sequences, return_state, masked):
    check(bidirectional(kind, merge_mode, return_sequences=return_sequences,
                        return_state=return_state),
          call=(('mask', 'mask'),) if masked else ())


@pytest.mark.parametrize('kind', ['GRU', 'SimpleRNN'])
@pytest.mark.parametrize('merge_mode', ['concat', None])
def test_bidirectional_other_cells(kbackend, kind, merge_mode):
    check(bidirectional(kind, merge_mode, return_sequences=True, return_state=True),
          call=(('mask', 'mask'),))


@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
@pytest.mark.parametrize('masked', [False, True])
def test_bidirectional_initial_state(kbackend, kind, masked):
    states = ('h0', 'c0', 'h1', 'c1') if kind == 'LSTM' else ('h0', 'h1')
    call = (('initial_state', states),) + ((('mask', 'mask'),) if masked else ())
    check(bidirectional(kind, 'concat', return_sequences=True, return_state=True), call=call)


def test_bidirectional_with_backward_layer(kbackend):
    keras = library('keras')
    forward = keras.layers.LSTM(UNITS, return_sequences=True)
    backward = keras.layers.GRU(UNITS, return_sequences=True, go_backwards=True,
                                activation='relu')
    ref = keras.layers.Bidirectional(forward, backward_layer=backward)
    ref.build(DATA['x'].shape)
    weights = seeded_weights([w.shape for w in ref.get_weights()], 4)
    ref.set_weights(weights)
    expected = np.asarray(ref(DATA['x'], mask=DATA['mask']))
    layer = kl.Bidirectional(kl.LSTM(UNITS, return_sequences=True),
                             backward_layer=kl.GRU(UNITS, return_sequences=True,
                                                   go_backwards=True, activation='relu'),
                             weights=weights)
    assert_matches(layer(DATA['x'], mask=DATA['mask']), expected, 1e-5)
    clone = deserialize_layer(json.loads(json.dumps(
        {'class_name': 'Bidirectional', 'config': layer.get_config()})))
    assert isinstance(clone.backward_layer, kl.GRU) and clone.backward_layer.go_backwards


@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
def test_bidirectional_stateful(kbackend, kind):
    keras = library('keras')
    config = dict(units=UNITS, stateful=True, return_sequences=True)
    ref = keras.layers.Bidirectional(getattr(keras.layers, kind)(**config), merge_mode='sum')
    ref.build(DATA['x'].shape)
    weights = seeded_weights([w.shape for w in ref.get_weights()], 6)
    ref.set_weights(weights)
    layer = kl.Bidirectional(getattr(kl, kind)(**config), merge_mode='sum', weights=weights)
    for step in ('x', 'x2', 'reset', 'x'):
        if step == 'reset':
            ref.reset_states()
            layer.reset_states()
        else:
            assert_matches(layer(DATA[step]), np.asarray(ref(DATA[step])), 1e-5)
    assert len(layer.states) == (4 if kind == 'LSTM' else 2)


def test_bidirectional_weights_forward_then_backward(kbackend):
    layer = kl.Bidirectional(kl.LSTM(UNITS, name='lstm_x'))
    layer(DATA['x'])
    names = layer.weight_names()
    assert len(names) == 6
    assert names[0] == '%s/forward_lstm_x/kernel:0' % layer.name
    assert names[3] == '%s/backward_lstm_x/kernel:0' % layer.name
    forward = layer.forward_layer.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(layer.get_weights()[:3], forward))
    assert layer.count_params() == 2 * sum(w.size for w in forward)
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 6


def test_bidirectional_of_a_built_layer_keeps_its_weights(kbackend):
    inner = kl.GRU(UNITS)
    inner(DATA['x'])
    layer = kl.Bidirectional(inner)
    layer(DATA['x'])
    for a, b in zip(layer.forward_layer.get_weights(), inner.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('merge_mode', MERGE_MODES)
@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('return_state', [False, True])
def test_bidirectional_symbolic_shapes(merge_mode, return_sequences, return_state):
    kzoo, keras = symbolic_shapes(bidirectional('LSTM', merge_mode,
                                                return_sequences=return_sequences,
                                                return_state=return_state), [(None, 5)])
    assert kzoo == keras


@pytest.mark.parametrize('lib', ['tf_keras', 'keras'])
def test_bidirectional_config_from_keras(kbackend, lib):
    """tf.keras's (Keras 2 layout) and Keras 3's own configs build the same layer."""
    s = bidirectional('GRU', 'ave', return_sequences=True, reset_after=False)
    weights, expected = oracle(s, call=(('mask', 'mask'),), lib=lib)
    module = library(lib)
    config = module.layers.Bidirectional(module.layers.GRU(
        UNITS, return_sequences=True, reset_after=False), merge_mode='ave').get_config()
    config = json.loads(json.dumps(config))
    layer = deserialize_layer({'class_name': 'Bidirectional', 'config': config})
    layer._initial_weights = weights
    assert_matches(layer(DATA['x'], mask=DATA['mask']), expected[0], 1e-5)


def test_bidirectional_keras1_config():
    config = {'name': 'bidirectional_1', 'merge_mode': 'concat', 'trainable': True,
              'layer': {'class_name': 'LSTM', 'config': {
                  'name': 'lstm_1', 'output_dim': 3, 'inner_activation': 'hard_sigmoid',
                  'return_sequences': True, 'consume_less': 'gpu', 'go_backwards': False,
                  'input_dim': 5, 'input_length': None, 'dropout_W': 0., 'dropout_U': 0.}}}
    layer = deserialize_layer({'class_name': 'Bidirectional', 'config': config})
    assert layer.forward_layer.units == 3 and layer.backward_layer.go_backwards
    assert layer(DATA['x']).shape == (3, 6, 6)


def test_bidirectional_initial_state_as_graph_inputs(kbackend):
    keras = library('keras')

    def build(lib, model_cls):
        x = lib.Input(shape=(6, 5))
        states = [lib.Input(shape=(UNITS,)) for _ in range(4)]
        y = lib.layers.Bidirectional(lib.layers.LSTM(UNITS, return_sequences=True))(
            x, initial_state=states)
        return model_cls([x] + states, y)

    ref = build(keras, keras.Model)
    weights = seeded_weights([w.shape for w in ref.get_weights()], 8)
    ref.set_weights(weights)
    data = [DATA[k] for k in ('x', 'h0', 'c0', 'h1', 'c1')]

    class Lib:
        layers = kl
        Input = staticmethod(kl.Input)
    model = build(Lib, Model)
    model.set_weights(weights)
    expected = np.asarray(ref(data))
    assert_matches(model.predict(data), expected, 1e-5)
    clone = Model.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(weights)
    assert_matches(clone.predict(data), expected, 1e-5)


def test_bidirectional_errors():
    with pytest.raises(ConfigError, match='merge_mode'):
        kl.Bidirectional(kl.LSTM(2), merge_mode='max')
    with pytest.raises(ConfigError, match='recurrent'):
        kl.Bidirectional(kl.Dense(2))
    with pytest.raises(ConfigError, match='go_backwards'):
        kl.Bidirectional(kl.LSTM(2), backward_layer=kl.LSTM(2))
    with pytest.raises(ConfigError, match='return_sequences'):
        kl.Bidirectional(kl.LSTM(2), backward_layer=kl.LSTM(2, go_backwards=True,
                                                             return_sequences=True))


# ---- TimeDistributed ------------------------------------------------------------------------

@pytest.mark.parametrize('inner', [
    spec('Dense', units=3),
    spec('Dense', units=2, activation='relu', use_bias=False),
    spec('Conv2D', filters=2, kernel_size=3, padding='same'),
    spec('Conv2D', filters=3, kernel_size=(2, 3), strides=2),
], ids=['dense', 'dense-relu', 'conv2d-same', 'conv2d-strided'])
def test_time_distributed(kbackend, inner):
    inputs = ('video',) if inner[0] == 'Conv2D' else ('x',)
    check(spec('TimeDistributed', inner), inputs=inputs)


@pytest.mark.parametrize('inner,shape', [
    (spec('Dense', units=3), (None, 5)),
    (spec('Conv2D', filters=2, kernel_size=3), (None, 6, 5, 3)),
    (spec('LSTM', units=2, return_sequences=True), (None, 7, 5)),
])
def test_time_distributed_symbolic_shapes(inner, shape):
    kzoo, keras = symbolic_shapes(spec('TimeDistributed', inner), [shape])
    assert kzoo == keras


@functools.lru_cache(maxsize=None)
def _keras_masked_time_distributed():
    keras = library('keras')
    model = _masked_td_model(keras, keras.Model)
    weights = seeded_weights([w.shape for w in model.get_weights()], 10)
    model.set_weights(weights)
    return weights, np.asarray(model(_masked_td_input()))


def _masked_td_input():
    return np.where(DATA['mask'][..., None], DATA['x'], 0.).astype('float32')


def _masked_td_model(lib, model_cls):
    x = lib.Input(shape=(6, 5))
    y = lib.layers.Masking(0.)(x)
    y = lib.layers.TimeDistributed(lib.layers.Dense(4))(y)   # passes the mask on
    y = lib.layers.LSTM(3, return_sequences=True)(y)
    y = lib.layers.TimeDistributed(lib.layers.Dense(2))(y)
    y = lib.layers.GRU(2)(y)
    return model_cls(x, y)


def test_time_distributed_passes_masks_in_a_graph(kbackend):
    weights, expected = _keras_masked_time_distributed()

    class Lib:
        layers = kl
        Input = staticmethod(kl.Input)
    model = _masked_td_model(Lib, Model)
    model.set_weights(weights)
    assert_matches(model.predict(_masked_td_input()), expected, 1e-5)


def test_time_distributed_of_a_recurrent_layer(kbackend):
    check(spec('TimeDistributed', spec('GRU', units=UNITS)), inputs=('x4d',))


def test_time_distributed_config_from_tf_keras(kbackend):
    weights, expected = oracle(spec('TimeDistributed', spec('Dense', units=3)), lib='tf_keras')
    tf_keras = library('tf_keras')
    config = tf_keras.layers.TimeDistributed(tf_keras.layers.Dense(3)).get_config()
    layer = deserialize_layer(json.loads(json.dumps(
        {'class_name': 'TimeDistributed', 'config': config})))
    layer._initial_weights = weights
    assert_matches(layer(DATA['x']), expected[0], 1e-5)


def test_time_distributed_weights_are_the_inner_layers(kbackend):
    inner = kl.Dense(3)
    layer = kl.TimeDistributed(inner)
    layer(DATA['x'])
    assert [w.shape for w in layer.get_weights()] == [(5, 3), (3,)]
    assert layer.weights[0] is inner.weights[0]
    with pytest.raises(ConfigError, match='wraps a layer'):
        kl.TimeDistributed('Dense')
