"""Architectures for the corpus files that hold weights only, written once for any
Keras-like API (kzoo, tf-keras, Keras 3): ``build(api)`` where ``api`` has ``layers``
and ``Model``. The same code builds kzoo's model and the oracle's."""
import types


def api(module, models=None):
    """``api.layers``, ``api.Model``, ``api.Input`` for kzoo, tf_keras or keras."""
    if module.__name__ == 'kzoo':
        from kzoo import layers
        from kzoo.models import Model, Sequential
        return types.SimpleNamespace(layers=layers, Model=Model, Input=layers.Input,
                                     Sequential=Sequential)
    return types.SimpleNamespace(layers=module.layers, Model=module.Model, Input=module.Input,
                                 Sequential=module.Sequential)


def acgan_discriminator(a):
    """keras/examples/mnist_acgan.py's discriminator, flat (as the file's layer list is)."""
    L = a.layers
    image = a.Input(shape=(28, 28, 1))
    x = image
    for filters, strides in ((32, 2), (64, 1), (128, 2), (256, 1)):
        x = L.Conv2D(filters, 3, padding='same', strides=strides)(x)
        x = L.LeakyReLU(0.2)(x)
        x = L.Dropout(0.3)(x)
    features = L.Flatten()(x)
    fake = L.Dense(1, activation='sigmoid', name='generation')(features)
    aux = L.Dense(10, activation='softmax', name='auxiliary')(features)
    return a.Model(image, [fake, aux])


def simple_lstm(a):
    """dl4j's simple_lstm example (Keras 2.0.6): LSTM(50) on one feature, then Dense(1)."""
    L = a.layers
    x = a.Input(shape=(1, 1))
    return a.Model(x, L.Dense(1)(L.LSTM(50, recurrent_activation='hard_sigmoid')(x)))


def rnncc_seq2seq(a):
    """RNN-CongestionControl's encoder-decoder: three LSTM(70) encoders, RepeatVector,
    two LSTM(70) decoders and TimeDistributed(Dense(1)) (Keras 3 groups lstm..lstm_4)."""
    L = a.layers
    x = a.Input(shape=(6, 1))
    h = L.LSTM(70, return_sequences=True)(x)
    h = L.LSTM(70, return_sequences=True)(h)
    h = L.LSTM(70)(h)
    h = L.RepeatVector(3)(h)
    h = L.LSTM(70, return_sequences=True)(h)
    h = L.LSTM(70, return_sequences=True)(h)
    return a.Model(x, L.TimeDistributed(L.Dense(1))(h))


BUILDERS = {
    'dl4j__params_discriminator_epoch_001.hdf5': acgan_discriminator,
    'dl4j__simple_lstm_tf_keras_2_weights.h5': simple_lstm,
    'rnncc__lstm_model.weights.h5': rnncc_seq2seq,
}
