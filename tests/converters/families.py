"""One small model per layer family, written once for any Keras-like API.

``FAMILIES[name](a)`` builds the model with ``a = api(kzoo | tf_keras | keras)``
(``corpus_builders.api``), so kzoo's model and the oracle's are the same architecture.
:func:`randomize` gives every weight a seeded value (positive moving variances).
"""
import numpy as np


def _seq(a, layers, name=None):
    model = a.Sequential(name=name)
    for layer in layers:
        model.add(layer)
    return model


def dense(a):
    L = a.layers
    return _seq(a, [L.Dense(8, activation='relu', input_shape=(6,)), L.Dropout(0.5),
                    L.GaussianNoise(0.1), L.Dense(5, activation='tanh', use_bias=False),
                    L.BatchNormalization(), L.Activation('softmax')])


def conv2d(a):
    L = a.layers
    x = a.Input(shape=(10, 10, 3))
    h = L.Conv2D(4, 3, padding='same', activation='relu')(x)
    h = L.ZeroPadding2D(1)(h)
    h = L.Cropping2D(((1, 0), (0, 1)))(h)
    h = L.MaxPooling2D(2)(h)
    h = L.SeparableConv2D(4, 3, padding='same')(h)
    h = L.DepthwiseConv2D(3, padding='same', depth_multiplier=2)(h)
    h = L.Conv2DTranspose(3, 3, strides=2, padding='same')(h)
    h = L.UpSampling2D(2)(h)
    h = L.AveragePooling2D(2)(h)
    h = L.SpatialDropout2D(0.2)(h)
    h = L.BatchNormalization()(h)
    h = L.Conv2D(2, 3, strides=2, dilation_rate=1)(h)
    return a.Model(x, L.Dense(3)(L.Flatten()(h)))


def conv1d_3d(a):
    L = a.layers
    x = a.Input(shape=(12, 4))
    h = L.Conv1D(5, 3, dilation_rate=2, padding='causal')(x)
    h = L.MaxPooling1D(2)(h)
    h = L.UpSampling1D(2)(h)
    h = L.ZeroPadding1D(1)(h)
    h = L.Cropping1D((2, 0))(h)
    h = L.AveragePooling1D(2)(h)
    h = L.GlobalMaxPooling1D()(h)
    v = a.Input(shape=(6, 6, 6, 2))
    g = L.Conv3D(3, 2, activation='tanh')(v)
    g = L.MaxPooling3D(2)(g)
    g = L.GlobalAveragePooling3D()(g)
    return a.Model([x, v], L.Concatenate()([h, g]))


def recurrent(a):
    L = a.layers
    x = a.Input(shape=(7,))
    h = L.Embedding(20, 6)(x)
    h = L.Bidirectional(L.LSTM(5, return_sequences=True))(h)
    h = L.GRU(4, return_sequences=True, reset_after=True)(h)
    h = L.GRU(4, return_sequences=True, reset_after=False)(h)
    h = L.TimeDistributed(L.Dense(3))(h)
    return a.Model(x, L.SimpleRNN(3)(h))


def merge(a):
    L = a.layers
    x, y = a.Input(shape=(5,)), a.Input(shape=(5,))
    parts = [L.Add()([x, y]), L.Subtract()([x, y]), L.Multiply()([x, y]),
             L.Average()([x, y]), L.Maximum()([x, y]), L.Minimum()([x, y]),
             L.Dot(axes=1)([x, y])]
    return a.Model([x, y], L.Dense(2)(L.Concatenate()(parts)))


def activations(a):
    L = a.layers
    x = a.Input(shape=(6,))
    h = L.LeakyReLU(0.3)(L.Dense(6)(x))
    h = L.PReLU()(h)
    h = L.ELU(0.7)(h)
    h = L.ReLU(max_value=2.0)(h)
    return a.Model(x, L.Softmax()(L.Dense(4)(h)))


def shapes(a):
    L = a.layers
    x = a.Input(shape=(4, 6))
    h = L.Reshape((6, 4))(x)
    h = L.Permute((2, 1))(h)
    h = L.Flatten()(h)
    h = L.RepeatVector(3)(h)
    h = L.Masking(0.0)(h)
    return a.Model(x, L.LSTM(2)(h))


def attention(a):
    L = a.layers
    q, v = a.Input(shape=(4, 6)), a.Input(shape=(5, 6))
    h = L.Attention(use_scale=True)([q, v])
    k = L.AdditiveAttention()([q, v])
    h = L.LayerNormalization()(L.Add()([h, k]))
    return a.Model([q, v], L.Dense(2)(L.GlobalAveragePooling1D()(h)))


def conv_lstm(a):
    L = a.layers
    x = a.Input(shape=(3, 6, 6, 2))
    h = L.ConvLSTM2D(3, 3, padding='same')(x)
    return a.Model(x, L.Dense(2)(L.Flatten()(h)))


def nested(a):
    L = a.layers
    inner_in = a.Input(shape=(4,))
    inner = a.Model(inner_in, L.Dense(3, activation='relu')(inner_in), name='inner')
    stack = _seq(a, [L.Dense(3, input_shape=(3,)), L.BatchNormalization()], name='stack')
    x = a.Input(shape=(4,))
    h = inner(x)
    return a.Model(x, [stack(h), L.Dense(2)(h)])


FAMILIES = {f.__name__: f for f in (dense, conv2d, conv1d_3d, recurrent, merge, activations,
                                    shapes, attention, conv_lstm, nested)}


def randomize(model, seed=0):
    """Seeded weights for every layer (moving variances positive); per layer, so the
    order is the same in kzoo and in Keras."""
    rng = np.random.default_rng(seed)
    for layer in _layers(model):
        weights = layer.get_weights()
        if not weights:
            continue
        names = _layer_weight_names(layer)
        new = []
        for w, name in zip(weights, names):
            if 'variance' in name:
                new.append(rng.uniform(0.5, 1.5, w.shape).astype(w.dtype))
            else:
                new.append(rng.uniform(-0.5, 0.5, w.shape).astype(w.dtype))
        layer.set_weights(new)


def _layers(model):
    out = []
    for layer in model.layers:
        if hasattr(layer, 'layers') and not hasattr(layer, 'cell'):
            out.extend(_layers(layer))
        else:
            out.append(layer)
    return out


def _layer_weight_names(layer):
    if hasattr(layer, 'weight_names') and callable(layer.weight_names):
        return layer.weight_names()
    return [getattr(w, 'path', None) or getattr(w, 'name', '') for w in layer.weights]
