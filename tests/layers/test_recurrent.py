"""SimpleRNN, LSTM, GRU, RNN(cell), StackedRNNCells and ConvLSTM2D against Keras 3
(tf_keras for Keras 2's hard_sigmoid and Keras 2 configs), on the same weights and
inputs, on every kzoo backend.

Tolerance: ``assert_matches(..., 1e-5)``: the largest difference scaled by
``max(1, max|expected|)``, float32. Every grid case also goes through
get_config -> JSON -> from_config unchanged.
"""
import copy
import functools
import json
import os

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.engine.training import Model
from kzoo.engine.sequential import Sequential
from kzoo.errors import ConfigError, ShapeError
from rnn_oracle import DATA, UNITS, check, kzoo_layer, kzoo_outputs, library, oracle, spec, \
    symbolic_shapes

pytestmark = pytest.mark.oracle

RNN_KINDS = {
    'SimpleRNN': spec('SimpleRNN', units=UNITS),
    'LSTM': spec('LSTM', units=UNITS),
    'GRU': spec('GRU', units=UNITS),
    'GRU_v1': spec('GRU', units=UNITS, reset_after=False),
}


def with_options(base, **options):
    name, config, inner = base
    return spec(name, inner, **dict(dict(config), **options))


# ---- the grid: return_sequences x return_state x go_backwards x mask -----------------------

SLOW = pytest.mark.slow


@pytest.mark.parametrize('kind', ['LSTM', 'GRU', pytest.param('SimpleRNN', marks=SLOW),
                                  pytest.param('GRU_v1', marks=SLOW)])
@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('return_state', [False, True])
@pytest.mark.parametrize('go_backwards', [False, True])
@pytest.mark.parametrize('mask', [None, 'mask', 'rmask'])
def test_grid(kbackend, kind, return_sequences, return_state, go_backwards, mask):
    s = with_options(RNN_KINDS[kind], return_sequences=return_sequences,
                     return_state=return_state, go_backwards=go_backwards)
    check(s, call=(('mask', mask),) if mask else ())


@pytest.mark.parametrize('kind', sorted(RNN_KINDS))
@pytest.mark.parametrize('go_backwards', [False, True])
@pytest.mark.parametrize('mask', ['mask', 'rmask'])
def test_zero_output_for_mask_and_initial_state(kbackend, kind, go_backwards, mask):
    states = ('h0', 'c0') if kind == 'LSTM' else ('h0',)
    s = with_options(RNN_KINDS[kind], return_sequences=True, return_state=True,
                     go_backwards=go_backwards, zero_output_for_mask=True)
    check(s, call=(('mask', mask), ('initial_state', states)))


@pytest.mark.parametrize('kind', sorted(RNN_KINDS))
@pytest.mark.parametrize('options', [
    dict(activation='relu'),
    dict(activation='sigmoid', use_bias=False),
    dict(unroll=True),
    dict(unroll=True, return_sequences=True, _mask=True),
    dict(return_sequences=True, go_backwards=True, zero_output_for_mask=True, _mask=True),
], ids=['relu', 'sigmoid-nobias', 'unroll', 'unroll-mask', 'zero-output-for-mask'])
def test_options(kbackend, kind, options):
    options = dict(options)
    masked = options.pop('_mask', False)
    check(with_options(RNN_KINDS[kind], **options), call=(('mask', 'mask'),) if masked else ())


@pytest.mark.parametrize('kind', ['LSTM', 'GRU'])
@pytest.mark.parametrize('options', [
    dict(recurrent_activation='tanh'),
    dict(implementation=1),
    dict(unit_forget_bias=False),
], ids=['tanh-gates', 'implementation-1', 'no-unit-forget-bias'])
def test_gated_options(kbackend, kind, options):
    if 'unit_forget_bias' in options and kind == 'GRU':
        pytest.skip('GRU has no forget gate')
    check(with_options(RNN_KINDS[kind], return_sequences=True, **options),
          call=(('mask', 'mask'),))


@pytest.mark.parametrize('kind', sorted(RNN_KINDS))
@pytest.mark.parametrize('masked', [False, True])
def test_keras2_hard_sigmoid(kbackend, kind, masked):
    """Keras 1/2's hard_sigmoid recurrent activation: tf_keras is the oracle (Keras 3's
    hard_sigmoid is another function)."""
    if kind == 'SimpleRNN':
        s = with_options(RNN_KINDS[kind], activation='hard_sigmoid', return_sequences=True)
    else:
        s = with_options(RNN_KINDS[kind], recurrent_activation='hard_sigmoid',
                         return_sequences=True)
    check(s, call=(('mask', 'mask'),) if masked else (), lib='tf_keras')


@pytest.mark.parametrize('kind', sorted(RNN_KINDS))
@pytest.mark.parametrize('masked', [False, True])
def test_initial_state(kbackend, kind, masked):
    states = ('h0', 'c0') if kind == 'LSTM' else ('h0',)
    call = (('initial_state', states),) + ((('mask', 'mask'),) if masked else ())
    check(with_options(RNN_KINDS[kind], return_sequences=True, return_state=True), call=call)


def test_unit_forget_bias_initial_value(kbackend):
    layer = kl.LSTM(3, bias_initializer='zeros')
    layer(DATA['x'])
    np.testing.assert_array_equal(layer.get_weights()[2], [0] * 3 + [1] * 3 + [0] * 6)


@pytest.mark.parametrize('kind,shapes', [
    ('SimpleRNN', [(5, 4), (4, 4), (4,)]),
    ('LSTM', [(5, 16), (4, 16), (16,)]),
    ('GRU', [(5, 12), (4, 12), (2, 12)]),
    ('GRU_v1', [(5, 12), (4, 12), (12,)]),
])
def test_weight_shapes_and_order(kind, shapes):
    layer = kzoo_layer(RNN_KINDS[kind])
    layer(DATA['x'])
    assert [w.shape for w in layer.get_weights()] == shapes
    assert [n.split('/')[-1] for n in layer.weight_names()] == [
        'kernel:0', 'recurrent_kernel:0', 'bias:0']


# ---- stateful -------------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['SimpleRNN', 'LSTM', 'GRU'])
def test_stateful(kbackend, kind):
    keras = library('keras')
    config = dict(units=UNITS, stateful=True, return_sequences=True)
    ref = getattr(keras.layers, kind)(**config)
    ref.build(DATA['x'].shape)
    weights = seeded_weights([w.shape for w in ref.get_weights()], 3)
    ref.set_weights(weights)
    layer = getattr(kl, kind)(weights=weights, **config)
    for step in ('x', 'x2', 'reset', 'x2'):
        if step == 'reset':
            ref.reset_states()
            layer.reset_states()
            continue
        assert_matches(layer(DATA[step]), np.asarray(ref(DATA[step])), 1e-5)
    with pytest.raises(ShapeError, match='batch'):
        layer(DATA['x'][:2])


def test_reset_states_to_values(kbackend):
    layer = kl.LSTM(UNITS, stateful=True)
    layer(DATA['x'])
    layer.reset_states([DATA['h0'], DATA['c0']])
    out = layer(DATA['x'])
    plain = kl.LSTM(UNITS, weights=layer.get_weights())
    assert_matches(out, plain(DATA['x'], initial_state=[DATA['h0'], DATA['c0']]), 1e-6)
    with pytest.raises(ConfigError, match='stateful'):
        plain.reset_states()


# ---- RNN(cell) and stacked cells ------------------------------------------------------------

@pytest.mark.parametrize('cells', [
    (spec('SimpleRNNCell', units=UNITS),),
    (spec('LSTMCell', units=UNITS),),
    (spec('GRUCell', units=3, reset_after=False), spec('LSTMCell', units=UNITS)),
], ids=['simple', 'lstm', 'gru+lstm'])
@pytest.mark.parametrize('masked', [False, True])
def test_rnn_with_cells(kbackend, cells, masked):
    inner = cells[0] if len(cells) == 1 else cells
    check(spec('RNN', inner, return_sequences=True, go_backwards=True),
          call=(('mask', 'mask'),) if masked else ())


# ---- dropout in training ----------------------------------------------------------------------

@pytest.mark.parametrize('kind', ['SimpleRNN', 'LSTM', 'GRU'])
@pytest.mark.parametrize('rates,implementation', [((0.5, 0.), 2), ((0., 0.5), 2),
                                                  ((0.3, 0.3), 1)])
def test_dropout_only_in_training(kbackend, kind, rates, implementation):
    extra = {} if kind == 'SimpleRNN' else {'implementation': implementation}
    layer = getattr(kl, kind)(UNITS, dropout=rates[0], recurrent_dropout=rates[1],
                              return_sequences=True, **extra)
    reference = getattr(kl, kind)(UNITS, return_sequences=True, **extra)
    x = DATA['x']
    inference = layer(x)
    reference(x)
    reference.set_weights(layer.get_weights())
    assert_matches(inference, reference(x), 1e-6)   # no dropout outside training
    trained = [layer(x, training=True) for _ in range(2)]
    assert all(np.all(np.isfinite(t)) for t in trained)
    assert not np.allclose(trained[0], inference)
    assert not np.allclose(trained[0], trained[1])  # new masks on each call


def test_input_dropout_mask_is_shared_by_all_timesteps():
    """With only input dropout, a constant sequence sees the same dropped features at each
    step: a linear SimpleRNN without recurrence then gives the same output at each step."""
    with K.using('numpy'):
        layer = kl.SimpleRNN(3, dropout=0.5, activation='linear', use_bias=False,
                             recurrent_initializer='zeros', return_sequences=True)
        x = np.ones((8, 5, 4), 'float32')
        out = layer(x, training=True)
        assert np.allclose(out, out[:, :1])
        # ...while samples draw their own masks (eight equal masks: chance 16**-7).
        assert not all(np.allclose(out[0], row) for row in out[1:])


@pytest.mark.parametrize('kind', ['LSTM', 'GRU', 'SimpleRNN'])
@pytest.mark.parametrize('rates', [(0., 0.), (0.2, 0.2)])
def test_torch_gradients(kind, rates):
    import torch
    with K.using('torch'):
        layer = getattr(kl, kind)(UNITS, dropout=rates[0], recurrent_dropout=rates[1])
        x = torch.tensor(DATA['x'], requires_grad=True)
        out = layer(x, training=True)
        out.sum().backward()
        assert all(w.grad is not None and torch.isfinite(w.grad).all() for w in layer.weights)
        assert x.grad is not None


# ---- shapes -------------------------------------------------------------------------------

@pytest.mark.parametrize('kind', sorted(RNN_KINDS))
@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('return_state', [False, True])
@pytest.mark.parametrize('time', [None, 6])
def test_symbolic_shapes(kind, return_sequences, return_state, time):
    s = with_options(RNN_KINDS[kind], return_sequences=return_sequences,
                     return_state=return_state)
    kzoo, keras = symbolic_shapes(s, [(time, 5)])
    assert kzoo == keras


def test_symbolic_shapes_with_initial_state():
    kzoo, keras = symbolic_shapes(with_options(RNN_KINDS['LSTM'], return_state=True),
                                  [(None, 5)], call_inputs=(('initial_state', [(4,), (4,)]),))
    assert kzoo == keras


def test_unroll_needs_known_timesteps():
    with pytest.raises(ShapeError, match='unroll'):
        kl.LSTM(2, unroll=True)(kl.Input(shape=(None, 3)))


def test_wrong_number_of_initial_states(kbackend):
    with pytest.raises(ShapeError, match='2 states'):
        kl.LSTM(UNITS)(DATA['x'], initial_state=[DATA['h0']])


def test_bad_config_values():
    with pytest.raises(ConfigError, match='units'):
        kl.GRU(0)
    with pytest.raises(ConfigError, match='dropout'):
        kl.LSTM(2, recurrent_dropout=1.5)
    with pytest.raises(ConfigError, match='not understood'):
        kl.SimpleRNN(2, bogus=1)


# ---- graphs: masks from Masking / Embedding, initial states as inputs --------------------------

class KzooLib(object):
    """kzoo spelled like the keras module, so one builder makes both models."""
    layers = kl
    Input = staticmethod(kl.Input)
    Model = Model
    Sequential = Sequential


def _masked_sequence_model(lib, kind):
    x = lib.Input(shape=(6, 5))
    y = lib.layers.Masking(mask_value=0.)(x)
    y = getattr(lib.layers, kind)(UNITS, return_sequences=True)(y)
    y = getattr(lib.layers, kind)(3, go_backwards=True)(y)
    return lib.Model(x, y)


def _embedding_model(lib, kind):
    model = lib.Sequential([
        lib.layers.Embedding(10, 5, mask_zero=True),
        lib.layers.Bidirectional(getattr(lib.layers, kind)(UNITS, return_sequences=True)),
        getattr(lib.layers, kind)(3)])
    model.build((None, 6))
    return model


TOKENS = np.array([[3, 1, 4, 0, 0, 0], [0, 0, 2, 7, 1, 8], [2, 8, 1, 8, 2, 8]])
MASKED_X = np.where(DATA['mask'][..., None], DATA['x'], 0.).astype('float32')
GRAPHS = {'masking': (_masked_sequence_model, MASKED_X),
          'embedding': (_embedding_model, TOKENS)}


@functools.lru_cache(maxsize=None)
def _keras_graph(graph, kind):
    keras = library('keras')
    build, x = GRAPHS[graph]
    model = build(keras, kind)
    weights = seeded_weights([w.shape for w in model.get_weights()], 5)
    model.set_weights(weights)
    return weights, np.asarray(model(x))


@pytest.mark.parametrize('graph', sorted(GRAPHS))
@pytest.mark.parametrize('kind', ['SimpleRNN', 'LSTM', 'GRU'])
def test_masks_from_masking_and_embedding_in_a_graph(kbackend, graph, kind):
    weights, expected = _keras_graph(graph, kind)
    build, x = GRAPHS[graph]
    model = build(KzooLib, kind)
    model.set_weights(weights)
    assert_matches(model.predict(x), expected, 1e-5)


def _initial_state_model(lib, model_cls):
    x = lib.Input(shape=(6, 5))
    h = lib.Input(shape=(UNITS,))
    c = lib.Input(shape=(UNITS,))
    y = lib.layers.LSTM(UNITS, return_sequences=True, name='lstm')(x, initial_state=[h, c])
    return model_cls([x, h, c], y)


@functools.lru_cache(maxsize=None)
def _keras_initial_state_model():
    keras = library('keras')
    ref = _initial_state_model(keras, keras.Model)
    weights = seeded_weights([w.shape for w in ref.get_weights()], 9)
    ref.set_weights(weights)
    expected = np.asarray(ref([DATA['x'], DATA['h0'], DATA['c0']]))
    return ref.get_config(), weights, expected


@pytest.mark.parametrize('source', ['kzoo', 'keras', 'tf_keras'])
def test_initial_state_as_graph_inputs(kbackend, source):
    keras_config, weights, expected = _keras_initial_state_model()
    if source == 'kzoo':
        config = _initial_state_model(KzooLib, Model).get_config()
    elif source == 'keras':
        config = copy.deepcopy(keras_config)
    else:
        tf_keras = library('tf_keras')
        config = _initial_state_model(tf_keras, tf_keras.Model).get_config()
    model = Model.from_config(json.loads(json.dumps(config)))
    model.set_weights(weights)
    assert_matches(model.predict([DATA['x'], DATA['h0'], DATA['c0']]), expected, 1e-5)
    rebuilt = Model.from_config(json.loads(json.dumps(model.get_config())))
    assert rebuilt.get_config() == model.get_config()


# ---- configs: Keras 2 files, Keras 3 nesting, Keras 1 spellings --------------------------------

@pytest.mark.parametrize('kind', sorted(RNN_KINDS))
@pytest.mark.parametrize('lib', ['tf_keras', 'keras'])
def test_keras_config_is_honoured(kbackend, kind, lib):
    """Build kzoo from Keras's own config (tf.keras: Keras 2 layout with explicit values,
    hard_sigmoid gates; Keras 3: its own layout) and match Keras's outputs."""
    options = dict(return_sequences=True, go_backwards=True)
    if kind != 'SimpleRNN' and lib == 'tf_keras':
        options['recurrent_activation'] = 'hard_sigmoid'
    s = with_options(RNN_KINDS[kind], **options)
    weights, expected = oracle(s, call=(('mask', 'mask'),), lib=lib)
    name = s[0]
    config = getattr(library(lib).layers, name)(**dict(s[1])).get_config()
    layer = deserialize_layer(json.loads(json.dumps({'class_name': name, 'config': config})))
    layer._initial_weights = weights
    assert_matches(layer(DATA['x'], mask=DATA['mask']), expected[0], 1e-5)


def test_gru_config_without_reset_after_is_keras2():
    layer = deserialize_layer({'class_name': 'GRU', 'config': {'units': 3}})
    assert layer.reset_after is False
    assert kl.GRU(3).reset_after is True
    assert kl.LSTM(3).recurrent_activation.__name__ == 'sigmoid'


def test_keras3_rnn_config_with_nested_cell(kbackend):
    keras = library('keras')
    s = spec('RNN', spec('GRUCell', units=UNITS), return_sequences=True)
    weights, expected = oracle(s)
    config = keras.layers.RNN(keras.layers.GRUCell(UNITS), return_sequences=True).get_config()
    layer = deserialize_layer({'class_name': 'RNN', 'config': json.loads(json.dumps(config))})
    layer._initial_weights = weights
    assert_matches(layer(DATA['x']), expected[0], 1e-5)


def test_flat_layer_config_with_nested_cell_is_accepted():
    config = {'name': 'l', 'return_sequences': True,
              'cell': {'class_name': 'LSTMCell', 'config': {'units': 3, 'name': 'c',
                                                             'recurrent_activation': 'tanh'}}}
    layer = deserialize_layer({'class_name': 'LSTM', 'config': config})
    assert layer.units == 3 and layer.recurrent_activation.__name__ == 'tanh'
    assert 'cell' not in layer.get_config()


def test_keras1_spellings():
    layer = kl.LSTM(output_dim=4, inner_activation='hard_sigmoid', init='glorot_uniform',
                    inner_init='orthogonal', forget_bias_init='one', consume_less='gpu',
                    dropout_W=0.1, dropout_U=0.2, W_regularizer=None, U_regularizer=None,
                    b_regularizer=None, truncate_gradient=-1, input_dim=5, input_length=6)
    config = layer.get_config()
    assert config['units'] == 4 and config['recurrent_activation'] == 'hard_sigmoid'
    assert config['implementation'] == 2 and config['unit_forget_bias'] is True
    assert (config['dropout'], config['recurrent_dropout']) == (0.1, 0.2)
    assert tuple(config['batch_input_shape']) == (None, 6, 5)
    gru = kl.GRU(output_dim=2, inner_activation='sigmoid', consume_less='mem')
    assert gru.implementation == 1
    rnn = kl.SimpleRNN(output_dim=2, consume_less='cpu', input_dim=3)
    assert rnn.get_config()['batch_input_shape'] == (None, None, 3)


# ---- ConvLSTM2D ----------------------------------------------------------------------------

CONV_OPTIONS = {
    'same': dict(padding='same'),
    'valid-strides': dict(padding='valid', strides=2),
    'valid-dilation': dict(padding='valid', dilation_rate=2),
    'rect-kernel': dict(padding='same', kernel_size=(3, 1), use_bias=False),
}


@pytest.mark.parametrize('return_sequences', [False, True])
@pytest.mark.parametrize('go_backwards', [False, True])
@pytest.mark.parametrize('masked', [False, True])
def test_conv_lstm2d_grid(kbackend, return_sequences, go_backwards, masked):
    check(spec('ConvLSTM2D', filters=2, kernel_size=3, padding='same',
               return_sequences=return_sequences, return_state=True,
               go_backwards=go_backwards),
          inputs=('video',), call=(('mask', 'vmask'),) if masked else ())


@pytest.mark.parametrize('options', sorted(CONV_OPTIONS))
@pytest.mark.parametrize('return_sequences,go_backwards,masked', [
    (True, True, True),
    pytest.param(False, False, False, marks=SLOW),
    pytest.param(True, False, True, marks=SLOW),
    pytest.param(False, True, True, marks=SLOW),
])
def test_conv_lstm2d(kbackend, options, return_sequences, go_backwards, masked):
    config = dict(filters=2, kernel_size=3, return_sequences=return_sequences,
                  return_state=True, go_backwards=go_backwards)
    config.update(CONV_OPTIONS[options])
    check(spec('ConvLSTM2D', **config), inputs=('video',),
          call=(('mask', 'vmask'),) if masked else ())


def test_conv_lstm2d_channels_first(kbackend):
    """TensorFlow's CPU convolutions are channels_last only: compare the channels_first
    layer with Keras's channels_last one on transposed data (kernels are the same)."""
    config = dict(filters=2, kernel_size=3, padding='same', return_sequences=True)
    weights, expected = oracle(spec('ConvLSTM2D', **config), inputs=('video',))
    layer = kl.ConvLSTM2D(data_format='channels_first', weights=weights, **config)
    out = layer(np.moveaxis(DATA['video'], -1, 2).copy())
    assert_matches(np.moveaxis(out, 2, -1), expected[0], 1e-5)
    assert layer.compute_output_shape((None, 4, 3, 6, 5)) == (None, 4, 2, 6, 5)


def test_conv_lstm2d_tf_keras_config(kbackend):
    """tf.keras's ConvLSTM2D defaults to hard_sigmoid gates and says so in its config."""
    s = spec('ConvLSTM2D', filters=2, kernel_size=3, padding='same', return_sequences=True)
    weights, expected = oracle(s, inputs=('video',), call=(('mask', 'vmask'),), lib='tf_keras')
    config = library('tf_keras').layers.ConvLSTM2D(**dict(s[1])).get_config()
    assert config['recurrent_activation'] == 'hard_sigmoid'
    layer = deserialize_layer(json.loads(json.dumps({'class_name': 'ConvLSTM2D',
                                                     'config': config})))
    layer._initial_weights = weights
    assert_matches(layer(DATA['video'], mask=DATA['vmask']), expected[0], 1e-5)


def test_conv_lstm2d_symbolic_shapes():
    for options in CONV_OPTIONS.values():
        s = spec('ConvLSTM2D', filters=2, kernel_size=options.get('kernel_size', 3),
                 return_state=True, return_sequences=True,
                 **{k: v for k, v in options.items() if k != 'kernel_size'})
        kzoo, keras = symbolic_shapes(s, [(None, 6, 5, 3)])
        assert kzoo == keras


def test_conv_lstm2d_dropout_in_training(kbackend):
    layer = kl.ConvLSTM2D(2, 3, padding='same', dropout=0.3, recurrent_dropout=0.3)
    x = DATA['video']
    assert not np.allclose(layer(x, training=True), layer(x))


def test_conv_lstm2d_keras1_spelling():
    layer = kl.ConvLSTM2D(nb_filter=2, nb_row=3, nb_col=1, border_mode='same',
                          dim_ordering='tf', subsample=(1, 1))
    config = layer.get_config()
    assert config['filters'] == 2 and tuple(config['kernel_size']) == (3, 1)
    assert config['padding'] == 'same' and config['data_format'] == 'channels_last'


# ---- real files: Keras's own stored activations ------------------------------------------------

PAIRS = '/work/shared/corpus/keras-io-pairs'


def _load_pair(name):
    h5py = pytest.importorskip('h5py')
    folder = os.path.join(PAIRS, name)
    if not os.path.isdir(folder):
        pytest.skip('corpus folder %s not present' % folder)
    with open(os.path.join(folder, name + '_config.json')) as f:
        config = json.load(f)
    weights = {}
    with h5py.File(os.path.join(folder, name + '_weights.h5'), 'r') as f:
        for layer_name in [n.decode() if isinstance(n, bytes) else n
                           for n in f.attrs['layer_names']]:
            group = f[layer_name]
            names = [n.decode() if isinstance(n, bytes) else n
                     for n in group.attrs['weight_names']]
            weights[layer_name] = {n.split('/')[-1].split(':')[0]: np.asarray(group[n])
                                   for n in names}
    with h5py.File(os.path.join(folder, name + '_inputs_and_outputs.h5'), 'r') as f:
        io = {k: {n: np.asarray(v) for n, v in f[k].items()} for k in f.keys()}
    return config, weights, io


def _keras1_lstm_weights(w, name):
    # Keras 1 keeps one array per gate, i c f o; Keras 2 concatenates them in order i f c o.
    gates = 'ifco'
    return [np.concatenate([w['%s_%s_%s' % (name, p, g)] for g in gates], axis=-1)
            for p in ('W', 'U', 'b')]


@pytest.mark.parametrize('name', ['simple_flatten_lstm_tf_keras_2',
                                  'simple_rnn_tf_keras_2', 'simple_lstm_tf_keras_1',
                                  'simple_lstm_th_keras_1'])
def test_keras_io_pairs(kbackend, name):
    config, weights, io = _load_pair(name)
    model = Sequential.from_config(config['config'])
    for layer in model.layers:
        w = weights[layer.name]
        if 'W' in ''.join(w) and layer.name.startswith('lstm') and 'kernel' not in w:
            layer.set_weights(_keras1_lstm_weights(w, layer.name))
        elif 'kernel' in w:
            order = ['kernel', 'recurrent_kernel', 'bias'] if 'recurrent_kernel' in w \
                else ['kernel', 'bias']
            layer.set_weights([w[k] for k in order])
        else:  # Keras 1 Dense
            layer.set_weights([w['%s_W' % layer.name], w['%s_b' % layer.name]])
    (x,) = io['inputs'].values()
    expected = io.get('predictions', io['outputs'])
    (expected,) = expected.values()
    assert_matches(model.predict(x), expected, 1e-5)
    for layer_name, activation in io.get('activations', {}).items():
        if layer_name == model.layers[0].name:
            assert_matches(model.layers[0](x), activation, 1e-5, what=layer_name)
