"""Small kzoo models, one or a few per layer configuration, for the export tests.

Each builder returns ``(model, inputs)``; ``inputs`` is None for random ones
(:func:`kzoo.converters.onnx_export.check.sample_inputs`). Weights are re-drawn with a
fixed seed so biases and BatchNormalization statistics are not trivial.
"""
import numpy as np

from kzoo import layers as L
from kzoo.models import Model, Sequential

CASES = {}


def case(*names):
    def register(fn):
        for name in names or (fn.__name__,):
            CASES[name] = (fn, name)
        return fn
    return register


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    values = []
    for layer in model.layers:
        for w, name in zip(layer.get_weights(), layer.weight_names()):
            if 'moving_variance' in name:
                values.append(rng.uniform(0.5, 1.5, w.shape).astype('float32'))
            else:
                values.append(rng.uniform(-0.5, 0.5, w.shape).astype('float32'))
    if values:
        model.set_weights(values)
    return model


def functional(inputs, outputs, name):
    return randomize(Model(inputs, outputs, name=name))


def single(layer, shape, name, dtype='float32'):
    x = L.Input(shape=shape, name='x', dtype=dtype)
    return functional(x, layer(x), name)


# ---- core ----------------------------------------------------------------------------------

@case()
def dense_2d():
    return single(L.Dense(4, activation='tanh'), (3,), 'dense_2d'), None


@case()
def dense_3d_no_bias():
    return single(L.Dense(4, use_bias=False), (5, 3), 'dense_3d_no_bias'), None


ACTIVATION_NAMES = ['relu', 'relu6', 'sigmoid', 'hard_sigmoid', 'tanh', 'softmax', 'log_softmax',
                    'softplus', 'softsign', 'elu', 'selu', 'exponential', 'swish', 'gelu',
                    'linear']


def _activation_case(name):
    def build():
        x = L.Input(shape=(4, 6), name='x')
        y = L.Activation(name, name='act')(L.Dense(6, name='fc')(x))
        return functional(x, y, 'activation_' + name), None
    return build


for _name in ACTIVATION_NAMES:
    CASES['activation_' + _name] = (_activation_case(_name), 'activation_' + _name)


@case()
def advanced_activations():
    x = L.Input(shape=(5, 4), name='x')
    y = L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2)(x)
    z = L.ReLU(max_value=6.)(x)
    w = L.ReLU(negative_slope=0.3)(x)
    t = L.ReLU(threshold=0.3)(x)
    u = L.LeakyReLU(0.2)(x)
    e = L.ELU(0.7)(x)
    th = L.ThresholdedReLU(0.4)(x)
    p = L.PReLU()(x)
    ps = L.PReLU(shared_axes=[1])(x)
    s = L.Softmax(axis=1)(x)
    sm = L.Softmax(axis=[1, 2])(x)
    out = L.Concatenate()([y, z, w, t, u, e, th, p, ps, s, sm])
    return functional(x, out, 'advanced_activations'), None


@case()
def prelu_after_conv():
    x = L.Input(shape=(6, 6, 3), name='x')
    y = L.Conv2D(4, 3, padding='same')(x)
    y = L.PReLU(shared_axes=[1, 2])(y)
    y = L.PReLU()(y)
    return functional(x, y, 'prelu_after_conv'), None


@case()
def identities():
    x = L.Input(shape=(4, 5), name='x')
    y = L.Dropout(0.5)(x)
    y = L.GaussianNoise(0.3)(y)
    y = L.GaussianDropout(0.3)(y)
    y = L.SpatialDropout1D(0.3)(y)
    y = L.ActivityRegularization(l1=0.1)(y)
    return functional(x, L.Dense(3)(y), 'identities'), None


@case()
def reshape_permute_repeat():
    x = L.Input(shape=(6,), name='x')
    y = L.Reshape((3, 2))(x)
    y = L.Permute((2, 1))(y)
    y = L.Reshape((-1,))(y)
    y = L.RepeatVector(3)(y)
    y = L.Permute((2, 1))(y)
    return functional(x, L.Dense(2)(y), 'reshape_permute_repeat'), None


@case()
def flatten_channels_last_cnn():
    x = L.Input(shape=(8, 8, 3), name='x')
    y = L.Conv2D(4, 3, activation='relu')(x)
    y = L.Flatten()(y)
    return functional(x, L.Dense(5)(y), 'flatten_channels_last_cnn'), None


@case()
def flatten_channels_first():
    x = L.Input(shape=(3, 6, 5), name='x')
    y = L.Conv2D(4, 3, data_format='channels_first')(x)
    y = L.Flatten(data_format='channels_first')(y)
    z = L.Flatten()(x)
    return functional(x, [L.Dense(5)(y), z], 'flatten_channels_first'), None


@case()
def flatten_then_bn_then_output():
    x = L.Input(shape=(6, 6, 2), name='x')
    y = L.Conv2D(3, 3)(x)
    y = L.Flatten()(y)
    y = L.BatchNormalization()(y)
    y = L.Activation('relu')(y)
    a = L.Dense(4)(y)
    return functional(x, [a, y], 'flatten_then_bn_then_output'), None


@case()
def masking_layer():
    x = L.Input(shape=(5, 3), name='x')
    y = L.Masking(0.)(x)
    out = L.LSTM(4, return_sequences=True)(y)
    inputs = np.random.default_rng(1).standard_normal((3, 5, 3)).astype('float32')
    inputs[0, 3:] = 0.
    inputs[1, :2] = 0.
    inputs[2, 2] = 0.
    return functional(x, [out, y], 'masking_layer'), [inputs]


# ---- convolutions ------------------------------------------------------------------------------

@case()
def conv1d_family():
    x = L.Input(shape=(11, 3), name='x')
    outs = [L.Conv1D(4, 3)(x), L.Conv1D(4, 3, padding='same', strides=2)(x),
            L.Conv1D(4, 3, padding='causal', dilation_rate=2)(x),
            L.Conv1D(4, 2, padding='same', dilation_rate=3, activation='relu')(x),
            L.Conv1D(6, 3, groups=3, use_bias=False)(L.Conv1D(6, 1)(x))]
    return functional(x, [L.Flatten()(o) for o in outs], 'conv1d_family'), None


@case()
def conv2d_family():
    x = L.Input(shape=(9, 10, 4), name='x')
    outs = [L.Conv2D(3, (3, 2), strides=(2, 1), padding='same')(x),
            L.Conv2D(3, 4, padding='same')(x),
            L.Conv2D(3, 3, dilation_rate=2, activation='sigmoid')(x),
            L.Conv2D(4, 3, groups=2)(x),
            L.Conv2D(3, 2, strides=3)(x)]
    return functional(x, outs, 'conv2d_family'), None


@case()
def conv2d_channels_first():
    x = L.Input(shape=(4, 9, 8), name='x')
    y = L.Conv2D(3, 3, padding='same', strides=2, data_format='channels_first')(x)
    y = L.MaxPooling2D(data_format='channels_first')(y)
    return functional(x, y, 'conv2d_channels_first'), None


@case()
def keras1_full_padding():
    x = L.Input(shape=(7, 3), name='x')
    y = L.Conv1D(2, 3, padding='full')(x)
    z = L.Conv2D(2, 3, padding='full')(L.Reshape((7, 3, 1))(x))
    return functional(x, [y, z], 'keras1_full_padding'), None


@case()
def conv3d_family():
    x = L.Input(shape=(5, 6, 7, 2), name='x')
    y = L.Conv3D(3, 3, padding='same', strides=(1, 2, 2))(x)
    z = L.Conv3D(2, (2, 3, 2), data_format='channels_last', dilation_rate=(1, 2, 1))(x)
    return functional(x, [y, z], 'conv3d_family'), None


@case()
def dynamic_spatial_conv():
    x = L.Input(shape=(None, None, 3), name='x')
    y = L.Conv2D(4, 3, strides=2, padding='same')(x)
    y = L.Conv2D(4, 3, padding='same', activation='relu')(y)
    y = L.AveragePooling2D(3, strides=2, padding='same')(y)
    y = L.Conv2DTranspose(2, 3, strides=2, padding='same')(y)
    y = L.Conv2DTranspose(2, 4, strides=2, padding='valid')(y)
    y = L.GlobalMaxPooling2D()(y)
    inputs = np.random.default_rng(2).standard_normal((2, 11, 13, 3)).astype('float32')
    return functional(x, y, 'dynamic_spatial_conv'), [inputs]


@case()
def conv_transpose_family():
    x = L.Input(shape=(5, 6, 3), name='x')
    outs = [L.Conv2DTranspose(2, 3)(x), L.Conv2DTranspose(2, 3, strides=2, padding='same')(x),
            L.Conv2DTranspose(2, 2, strides=3)(x),
            L.Conv2DTranspose(2, 3, strides=2, padding='same', output_padding=1)(x),
            L.Conv2DTranspose(2, 3, strides=2, output_padding=(1, 0))(x),
            L.Conv2DTranspose(2, 3, dilation_rate=2, padding='same')(x),
            L.Conv2DTranspose(2, 3, strides=2, padding='same', data_format='channels_first')(
                L.Permute((3, 1, 2))(x))]
    return functional(x, [L.Flatten()(o) for o in outs], 'conv_transpose_family'), None


@case()
def conv_transpose_1d_3d():
    x = L.Input(shape=(6, 3), name='x')
    y = L.Conv1DTranspose(2, 3, strides=2, padding='same')(x)
    v = L.Input(shape=(3, 4, 3, 2), name='v')
    z = L.Conv3DTranspose(2, 2, strides=(1, 2, 2), padding='valid')(v)
    return functional([x, v], [y, z], 'conv_transpose_1d_3d'), None


@case()
def depthwise_separable():
    x = L.Input(shape=(9, 8, 3), name='x')
    s = L.Input(shape=(10, 4), name='s')
    outs = [L.DepthwiseConv2D(3, depth_multiplier=2, padding='same')(x),
            L.DepthwiseConv2D(3, strides=2, activation='relu')(x),
            L.SeparableConv2D(5, 3, depth_multiplier=2, padding='same', strides=2)(x),
            L.SeparableConv2D(4, 2, dilation_rate=2, use_bias=False)(x)]
    seq = [L.DepthwiseConv1D(3, depth_multiplier=3)(s),
           L.SeparableConv1D(3, 3, padding='causal')(s)]
    return functional([x, s], [L.Flatten()(o) for o in outs + seq], 'depthwise_separable'), None


# ---- pooling, padding, cropping, upsampling ----------------------------------------------------

@case()
def pooling_family():
    x = L.Input(shape=(9, 7, 3), name='x')
    t = L.Input(shape=(9, 3), name='t')
    v = L.Input(shape=(5, 6, 4, 2), name='v')
    outs = [L.MaxPooling2D()(x), L.MaxPooling2D(3, strides=2, padding='same')(x),
            L.AveragePooling2D(2, padding='same')(x), L.AveragePooling2D((3, 2), strides=(1, 2))(x),
            L.MaxPooling1D(2)(t), L.AveragePooling1D(3, strides=2, padding='same')(t),
            L.MaxPooling3D(2)(v), L.AveragePooling3D(2, padding='same')(v),
            L.MaxPooling2D(data_format='channels_first')(x)]
    return functional([x, t, v], [L.Flatten()(o) for o in outs], 'pooling_family'), None


@case()
def global_pooling_family():
    x = L.Input(shape=(6, 5, 3), name='x')
    t = L.Input(shape=(7, 4), name='t')
    v = L.Input(shape=(3, 4, 5, 2), name='v')
    outs = [L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x),
            L.GlobalAveragePooling2D(data_format='channels_first')(x),
            L.Flatten()(L.GlobalMaxPooling2D(keepdims=True)(x)),
            L.GlobalAveragePooling1D()(t), L.GlobalMaxPooling1D()(t),
            L.GlobalAveragePooling3D()(v), L.GlobalMaxPooling3D()(v)]
    return functional([x, t, v], outs, 'global_pooling_family'), None


@case()
def padding_cropping_upsampling():
    x = L.Input(shape=(6, 7, 3), name='x')
    t = L.Input(shape=(8, 3), name='t')
    v = L.Input(shape=(3, 4, 5, 2), name='v')
    outs = [L.ZeroPadding2D(((1, 2), (0, 3)))(x),
            L.ZeroPadding2D(2, data_format='channels_first')(x),
            L.Cropping2D(((1, 0), (2, 1)))(x), L.Cropping2D(1, data_format='channels_first')(x),
            L.UpSampling2D((2, 3))(x), L.UpSampling2D(2, interpolation='bilinear')(x),
            L.UpSampling2D(2, data_format='channels_first')(x),
            L.ZeroPadding1D((2, 1))(t), L.Cropping1D((1, 2))(t), L.UpSampling1D(3)(t),
            L.ZeroPadding3D(1)(v), L.Cropping3D(((1, 0), (1, 1), (0, 2)))(v), L.UpSampling3D(2)(v)]
    return functional([x, t, v], [L.Flatten()(o) for o in outs],
                      'padding_cropping_upsampling'), None


@case()
def layout_chain_after_conv():
    # padding, cropping, upsampling and pooling keep the NCHW layout of the conv before them
    x = L.Input(shape=(10, 10, 3), name='x')
    y = L.Conv2D(4, 3, padding='same')(x)
    y = L.ZeroPadding2D(1)(y)
    y = L.Cropping2D(((2, 0), (0, 1)))(y)
    y = L.UpSampling2D(2)(y)
    y = L.BatchNormalization()(y)
    y = L.Activation('relu')(y)
    y = L.MaxPooling2D()(y)
    y = L.Conv2D(2, 1)(y)
    return functional(x, y, 'layout_chain_after_conv'), None


# ---- normalization -------------------------------------------------------------------------------

@case()
def batchnorm_family():
    x = L.Input(shape=(5, 4), name='x')
    i = L.Input(shape=(6, 6, 3), name='i')
    outs = [L.BatchNormalization()(x), L.BatchNormalization(axis=1)(x),
            L.BatchNormalization(center=False, scale=False, epsilon=0.1)(x),
            L.BatchNormalization(axis=[1, 2])(x),
            L.Flatten()(L.BatchNormalization(axis=1)(L.Conv2D(3, 3)(i))),
            L.Flatten()(L.BatchNormalization(axis=2)(L.Conv2D(3, 3)(i)))]
    return functional([x, i], outs, 'batchnorm_family'), None


@case()
def layernorm_family():
    x = L.Input(shape=(5, 4), name='x')
    outs = [L.LayerNormalization()(x), L.LayerNormalization(axis=[1, 2])(x),
            L.LayerNormalization(axis=1, center=False)(x),
            L.LayerNormalization(scale=False, epsilon=0.1)(x)]
    return functional(x, outs, 'layernorm_family'), None


# ---- embeddings, merges, attention ---------------------------------------------------------------

@case()
def embedding_family():
    x = L.Input(shape=(6,), name='tokens')
    e = L.Embedding(7, 4)(x)
    m = L.Embedding(7, 3, mask_zero=True)(x)
    pooled = L.GlobalAveragePooling1D()(m)
    return functional(x, [e, pooled], 'embedding_family'), None


@case()
def merge_family():
    a = L.Input(shape=(4, 3), name='a')
    b = L.Input(shape=(4, 3), name='b')
    c = L.Input(shape=(3,), name='c')
    outs = [L.Add()([a, b]), L.Add()([a, b, a]), L.Subtract()([a, b]), L.Multiply()([a, b, b]),
            L.Average()([a, b]), L.Maximum()([a, b]), L.Minimum()([a, b, a]),
            L.Add()([a, c]), L.Concatenate(axis=1)([a, b]), L.Concatenate()([a, b, a]),
            L.Dot(axes=(2, 2))([a, b]), L.Dot(axes=1, normalize=True)([a, b]),
            L.Dot(axes=-1)([c, c])]
    return functional([a, b, c], outs, 'merge_family'), None


@case()
def merge_in_nchw():
    x = L.Input(shape=(6, 6, 3), name='x')
    y = L.Conv2D(4, 3, padding='same')(x)
    z = L.Conv2D(4, 1)(x)
    s = L.Add()([y, z])
    c = L.Concatenate()([y, z, s])
    c1 = L.Concatenate(axis=1)([y, z])
    m = L.Maximum()([y, L.Activation('relu')(z)])
    return functional(x, [c, c1, m], 'merge_in_nchw'), None


@case()
def keras1_merge_modes():
    a = L.Input(shape=(4,), name='a')
    b = L.Input(shape=(4,), name='b')
    outs = [L.merge([a, b], mode=m) for m in ('sum', 'mul', 'ave', 'max', 'concat', 'cos')]
    outs.append(L.merge([a, b], mode='dot', dot_axes=1))
    return functional([a, b], outs, 'keras1_merge_modes'), None


@case()
def merge_masks():
    x = L.Input(shape=(5,), name='tokens')
    e1 = L.Embedding(6, 3, mask_zero=True)(x)
    e2 = L.Embedding(6, 3)(x)
    added = L.Add()([e1, e2])
    joined = L.Concatenate()([e1, e2])
    joined_time = L.Concatenate(axis=1)([e1, e2])
    outs = [L.LSTM(2, return_sequences=True)(added), L.GRU(2)(joined),
            L.SimpleRNN(2)(joined_time)]
    return functional(x, outs, 'merge_masks'), None


@case()
def attention_family():
    q = L.Input(shape=(3, 4), name='q')
    v = L.Input(shape=(5, 4), name='v')
    k = L.Input(shape=(5, 4), name='k')
    att = L.Attention()
    outs = [att([q, v]), L.Attention(use_scale=True)([q, v, k]),
            L.Attention(score_mode='concat', use_scale=True)([q, v]),
            L.AdditiveAttention()([q, v, k]), L.AdditiveAttention(use_scale=False)([q, v])]
    scored = L.Attention(name='scored')
    outs += scored([q, v], return_attention_scores=True)
    outs.append(L.Attention(name='causal')([v, v], use_causal_mask=True))
    return functional([q, v, k], outs, 'attention_family'), None


@case()
def attention_masks():
    qt = L.Input(shape=(4,), name='query_tokens')
    vt = L.Input(shape=(6,), name='value_tokens')
    q = L.Embedding(5, 3, mask_zero=True)(qt)
    v = L.Embedding(5, 3, mask_zero=True)(vt)
    outs = [L.Attention()([q, v]), L.AdditiveAttention()([q, v])]
    return functional([qt, vt], outs, 'attention_masks'), None


# ---- recurrent -----------------------------------------------------------------------------------

def _rnn(layer_class, name, **kwargs):
    def build():
        x = L.Input(shape=(6, 3), name='x')
        out = layer_class(4, **kwargs)(x)
        return functional(x, out, name), None
    return build


RNN_VARIANTS = {
    'return_sequences': dict(return_sequences=True),
    'last': dict(),
    'backwards_sequences': dict(return_sequences=True, go_backwards=True),
    'backwards_last': dict(go_backwards=True),
    'state': dict(return_state=True, return_sequences=True),
}
for _cls in (L.SimpleRNN, L.LSTM, L.GRU):
    for _variant, _kwargs in RNN_VARIANTS.items():
        _name = '%s_%s' % (_cls.__name__.lower(), _variant)
        CASES[_name] = (_rnn(_cls, _name, **_kwargs), _name)
CASES['gru_reset_before'] = (_rnn(L.GRU, 'gru_reset_before', reset_after=False,
                                  return_sequences=True), 'gru_reset_before')
CASES['gru_reset_before_backwards'] = (_rnn(L.GRU, 'gru_reset_before_backwards', reset_after=False,
                                            go_backwards=True), 'gru_reset_before_backwards')
CASES['lstm_keras2_activations'] = (_rnn(L.LSTM, 'lstm_keras2_activations',
                                         recurrent_activation='hard_sigmoid', activation='relu',
                                         return_sequences=True), 'lstm_keras2_activations')
CASES['gru_hard_sigmoid'] = (_rnn(L.GRU, 'gru_hard_sigmoid', recurrent_activation='hard_sigmoid',
                                  activation='linear'), 'gru_hard_sigmoid')
CASES['simple_rnn_relu'] = (_rnn(L.SimpleRNN, 'simple_rnn_relu', activation='relu',
                                 return_sequences=True), 'simple_rnn_relu')
CASES['lstm_no_bias'] = (_rnn(L.LSTM, 'lstm_no_bias', use_bias=False), 'lstm_no_bias')


def _masked_tokens(seed, n=4, steps=7, vocab=5):
    """Token sequences with post-padding, pre-padding, holes and an empty row."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, vocab, size=(n, steps))
    tokens[0, 4:] = 0
    tokens[1, :3] = 0
    tokens[2, [1, 4, 5]] = 0
    return tokens.astype('float32')


def _masked_rnn(layer_class, name, **kwargs):
    def build():
        x = L.Input(shape=(7,), name='tokens')
        e = L.Embedding(5, 3, mask_zero=True)(x)
        out = layer_class(4, **kwargs)(e)
        return functional(x, out, name), [_masked_tokens(3)]
    return build


for _cls in (L.SimpleRNN, L.LSTM, L.GRU):
    for _variant, _kwargs in RNN_VARIANTS.items():
        _name = 'masked_%s_%s' % (_cls.__name__.lower(), _variant)
        CASES[_name] = (_masked_rnn(_cls, _name, **_kwargs), _name)
CASES['masked_lstm_zero_output'] = (_masked_rnn(L.LSTM, 'masked_lstm_zero_output',
                                                return_sequences=True, zero_output_for_mask=True),
                                    'masked_lstm_zero_output')
CASES['masked_gru_zero_output_last'] = (_masked_rnn(L.GRU, 'masked_gru_zero_output_last',
                                                    zero_output_for_mask=True),
                                        'masked_gru_zero_output_last')


@case()
def rnn_cells_and_stacks():
    x = L.Input(shape=(5, 3), name='x')
    outs = [L.RNN(L.LSTMCell(3), return_sequences=True)(x),
            L.RNN([L.SimpleRNNCell(3), L.GRUCell(2), L.LSTMCell(4)], return_state=True)(x)]
    flat = [outs[0]] + outs[1]
    return functional(x, flat, 'rnn_cells_and_stacks'), None


@case()
def masked_stacked_cells():
    x = L.Input(shape=(7,), name='tokens')
    e = L.Embedding(5, 3, mask_zero=True)(x)
    y = L.RNN([L.GRUCell(3), L.LSTMCell(2)], return_sequences=True, go_backwards=True)(e)
    return functional(x, y, 'masked_stacked_cells'), [_masked_tokens(5)]


@case()
def rnn_initial_states():
    x = L.Input(shape=(5, 3), name='x')
    h = L.Input(shape=(4,), name='h')
    c = L.Input(shape=(4,), name='c')
    lstm = L.LSTM(4, return_sequences=True)(x, initial_state=[h, c])
    gru = L.GRU(4)(x, initial_state=[h])
    return functional([x, h, c], [lstm, gru], 'rnn_initial_states'), None


def _bidirectional(name, masked, merge_mode='concat', **kwargs):
    def build():
        if masked:
            x = L.Input(shape=(7,), name='tokens')
            seq = L.Embedding(5, 3, mask_zero=True)(x)
            inputs = [_masked_tokens(4)]
        else:
            x = L.Input(shape=(6, 3), name='x')
            seq = x
            inputs = None
        out = L.Bidirectional(L.LSTM(3, **kwargs), merge_mode=merge_mode)(seq)
        gru = L.Bidirectional(L.GRU(2, **kwargs), merge_mode=merge_mode)(seq)
        outs = (out if isinstance(out, list) else [out]) + (gru if isinstance(gru, list) else [gru])
        return functional(x, outs, name), inputs
    return build


for _masked in (False, True):
    for _mode in ('concat', 'sum', 'ave', 'mul', None):
        for _seq in (True, False):
            _name = 'bidirectional_%s_%s_%s' % ('masked' if _masked else 'plain', _mode,
                                               'seq' if _seq else 'last')
            CASES[_name] = (_bidirectional(_name, _masked, _mode, return_sequences=_seq), _name)
CASES['bidirectional_state'] = (_bidirectional('bidirectional_state', False,
                                               return_state=True, return_sequences=True),
                                'bidirectional_state')
CASES['bidirectional_masked_state'] = (_bidirectional('bidirectional_masked_state', True,
                                                      return_state=True),
                                       'bidirectional_masked_state')


@case()
def conv_lstm_family():
    x = L.Input(shape=(3, 6, 5, 2), name='x')
    s = L.Input(shape=(4, 7, 3), name='s')
    v = L.Input(shape=(2, 4, 4, 3, 2), name='v')
    outs = [L.ConvLSTM2D(3, 3, padding='same', return_sequences=True)(x),
            L.ConvLSTM2D(2, (2, 3), strides=(2, 1), go_backwards=True)(x),
            L.ConvLSTM1D(2, 3, return_sequences=True, recurrent_activation='hard_sigmoid')(s),
            L.ConvLSTM3D(2, 2, padding='same')(v)]
    outs += L.ConvLSTM2D(2, 3, return_state=True, data_format='channels_first')(
        L.Permute((1, 4, 2, 3))(x))
    return functional([x, s, v], [L.Flatten()(o) for o in outs], 'conv_lstm_family'), None


# ---- wrappers and nesting ------------------------------------------------------------------------

@case()
def time_distributed_family():
    x = L.Input(shape=(4, 5), name='x')
    i = L.Input(shape=(3, 6, 6, 2), name='i')
    inner = Sequential([L.Dense(3, input_shape=(5,), activation='relu'), L.Dense(2)],
                       name='inner')
    outs = [L.TimeDistributed(L.Dense(3))(x), L.TimeDistributed(inner)(x),
            L.TimeDistributed(L.Conv2D(2, 3, padding='same'))(i),
            L.TimeDistributed(L.Flatten())(L.TimeDistributed(L.MaxPooling2D())(i))]
    return functional([x, i], outs, 'time_distributed_family'), None


@case()
def time_distributed_masked():
    x = L.Input(shape=(7,), name='tokens')
    e = L.Embedding(5, 3, mask_zero=True)(x)
    y = L.TimeDistributed(L.Dense(4))(e)
    return functional(x, L.LSTM(3, return_sequences=True)(y), 'time_distributed_masked'), \
        [_masked_tokens(6)]


@case()
def nested_and_shared():
    inner_in = L.Input(shape=(4,), name='inner_in')
    inner = Model(inner_in, L.Dense(3, activation='relu', name='inner_dense')(inner_in),
                  name='inner_model')
    a = L.Input(shape=(4,), name='a')
    b = L.Input(shape=(4,), name='b')
    shared = L.Dense(4, name='shared')
    y = L.Add()([inner(shared(a)), inner(shared(b))])
    seq = Sequential([L.Dense(2, input_shape=(3,), name='seq_dense')], name='seq')
    return functional([a, b], seq(y), 'nested_and_shared'), None


@case()
def sequential_mlp():
    model = Sequential([L.Dense(8, input_shape=(5,), activation='relu'), L.Dropout(0.2),
                        L.Dense(3, activation='softmax')], name='sequential_mlp')
    return randomize(model), None


def damage_layer_loading(monkeypatch, at):
    """Make the streaming loader fail with FileFormatError('damaged') on the ``at``-th
    layer it loads, as a file damaged part way through would."""
    from kzoo.converters import streaming
    from kzoo.errors import FileFormatError
    real = streaming.LayerLoader._load
    calls = []

    def broken(self, layer, entry):
        calls.append(layer.name)
        if len(calls) == at:
            raise FileFormatError('damaged')
        return real(self, layer, entry)
    monkeypatch.setattr(streaming.LayerLoader, '_load', broken)
