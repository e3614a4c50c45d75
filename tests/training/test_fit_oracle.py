"""``fit`` end to end against Keras 3: epoch histories and final weights.

Same initial weights and data, ``shuffle=False``, Keras 3 on TensorFlow as the oracle,
tolerance 1e-4 (scaled max abs error). The models exercise what acts only in
training: weight regularizers (of trainable weights), activity regularizers (divided
by the batch size, as Keras 3), constraints applied after each step,
BatchNormalization's moving statistics, ``validation_split``, sample and class
weights, per-output metrics and ``'accuracy'`` resolved from shapes, and masked
sequences (an Embedding's mask reaching the loss and the metric), a small CNN, and
recurrent layers whose last output (their final state) feeds the head.
"""
import numpy as np
import pytest

from helpers import assert_matches
from kzoo import layers as kl, optimizers
from kzoo.models import Model

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

TOL = 1e-4


def _regularized_two_output(L, model_cls, reg, con):
    x = L.Input(shape=(3,), name='inp')
    h = L.Dense(4, activation='tanh', name='h', kernel_regularizer=reg.l2(0.05),
                activity_regularizer=reg.l1(0.02), kernel_constraint=con.MaxNorm(0.6))(x)
    h = L.BatchNormalization(name='bn')(h)
    a = L.Dense(2, name='a', bias_regularizer=reg.l1_l2(0.01, 0.02))(h)
    b = L.Dense(1, activation='sigmoid', name='b')(h)
    return model_cls(x, [a, b])


def _classifier(L, model_cls, reg, con):
    x = L.Input(shape=(5,), name='inp')
    h = L.Dense(8, activation='relu', name='h')(x)
    return model_cls(x, L.Dense(3, activation='softmax', name='out')(h))


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, 3)).astype('float32')
    ya = rng.normal(size=(20, 2)).astype('float32')
    yb = (rng.random((20, 1)) > 0.5).astype('float32')
    sw = rng.uniform(0.5, 2., 20).astype('float32')
    xc = rng.normal(size=(22, 5)).astype('float32')
    yc = rng.integers(0, 3, (22, 1))
    return x, ya, yb, sw, xc, yc


def _run_two_output(L, model_cls, reg, con, opt, **compile_kwargs):
    x, ya, yb, sw, _, _ = _data()
    model = _regularized_two_output(L, model_cls, reg, con)
    rng = np.random.default_rng(3)
    model.set_weights([rng.uniform(0.2, 0.9, w.shape).astype('float32')
                       if 'variance' in n else rng.uniform(-.5, .5, w.shape).astype('float32')
                       for w, n in zip(model.get_weights(), _names(model))])
    model.compile(opt, loss={'a': 'mse', 'b': 'binary_crossentropy'},
                  loss_weights={'a': 0.5, 'b': 2.}, metrics={'a': ['mae'], 'b': ['accuracy']},
                  **compile_kwargs)
    history = model.fit(x, [ya, yb], batch_size=4, epochs=3, shuffle=False,
                        verbose=0, validation_split=0.2, sample_weight=[sw, sw])
    return history.history, model.get_weights()


def _run_classifier(L, model_cls, reg, con, opt, **compile_kwargs):
    _, _, _, _, xc, yc = _data()
    model = _classifier(L, model_cls, reg, con)
    rng = np.random.default_rng(4)
    model.set_weights([rng.uniform(-.6, .6, w.shape).astype('float32')
                       for w in model.get_weights()])
    model.compile(opt, loss='sparse_categorical_crossentropy', metrics=['accuracy'],
                  **compile_kwargs)
    history = model.fit(xc, yc, batch_size=5, epochs=3, shuffle=False, verbose=0,
                        class_weight={0: 1., 1: 3., 2: 0.5}, validation_data=(xc[:7], yc[:7]))
    return history.history, model.get_weights()


def _masked_sequences(L, model_cls, reg, con):
    x = L.Input(shape=(6,), name='tokens')
    h = L.Embedding(12, 4, mask_zero=True, name='emb')(x)
    h = L.LSTM(5, return_sequences=True, name='lstm')(h)
    return model_cls(x, L.Dense(3, activation='softmax', name='out')(h))


def _run_masked(L, model_cls, reg, con, opt, **compile_kwargs):
    """Right-padded token sequences: the loss and the metric count valid steps only.

    Trained with SGD with momentum (``opt`` is ignored): Keras 3 on TensorFlow hands
    an Embedding's gradient to the optimizer as IndexedSlices with one row per
    occurrence of a token, which Adam's squared gradients treat per occurrence (the
    dense gradient sums them first); an update linear in the gradient is the same both
    ways."""
    opt = _sgd_like(opt)
    rng = np.random.default_rng(5)
    lengths = rng.integers(2, 7, 16)
    x = np.zeros((16, 6), 'int32')
    for i, n in enumerate(lengths):
        x[i, :n] = rng.integers(1, 12, n)
    y = rng.integers(0, 3, (16, 6))
    model = _masked_sequences(L, model_cls, reg, con)
    model.set_weights([rng.uniform(-.6, .6, w.shape).astype('float32')
                       for w in model.get_weights()])
    model.compile(opt, loss='sparse_categorical_crossentropy', metrics=['accuracy'],
                  **compile_kwargs)
    history = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0,
                        validation_data=(x[:6], y[:6]))
    return history.history, model.get_weights()


def _cnn(L, model_cls, reg, con):
    x = L.Input(shape=(8, 8, 2), name='image')
    h = L.Conv2D(4, 3, activation='relu', padding='same', name='conv1',
                 kernel_regularizer=reg.l2(0.01))(x)
    h = L.MaxPooling2D(name='pool')(h)
    h = L.Conv2D(3, 2, strides=2, name='conv2')(h)
    h = L.Flatten(name='flat')(h)
    return model_cls(x, L.Dense(3, activation='softmax', name='out')(h))


def _run_cnn(L, model_cls, reg, con, opt, **compile_kwargs):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(18, 8, 8, 2)).astype('float32')
    y = np.eye(3, dtype='float32')[rng.integers(0, 3, 18)]
    model = _cnn(L, model_cls, reg, con)
    model.set_weights([rng.uniform(-.5, .5, w.shape).astype('float32')
                       for w in model.get_weights()])
    model.compile(opt, loss='categorical_crossentropy', metrics=['accuracy'], **compile_kwargs)
    history = model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0,
                        validation_split=1. / 3)
    return history.history, model.get_weights()


def _recurrent(L, model_cls, reg, con):
    x = L.Input(shape=(7, 3), name='seq')
    a = L.LSTM(5, name='lstm')(x)  # last outputs only: the layers' final states
    b = L.GRU(4, go_backwards=True, name='gru')(x)
    c = L.SimpleRNN(3, name='rnn')(x)
    h = L.Concatenate(name='cat')([a, b, c])
    return model_cls(x, L.Dense(3, activation='softmax', name='out')(h))


def _run_recurrent(L, model_cls, reg, con, opt, **compile_kwargs):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(15, 7, 3)).astype('float32')
    y = np.eye(3, dtype='float32')[rng.integers(0, 3, 15)]
    model = _recurrent(L, model_cls, reg, con)
    model.set_weights([rng.uniform(-.5, .5, w.shape).astype('float32')
                       for w in model.get_weights()])
    model.compile(opt, loss='categorical_crossentropy', **compile_kwargs)
    history = model.fit(x, y, batch_size=5, epochs=2, shuffle=False, verbose=0)
    return history.history, model.get_weights()


def _sgd_like(opt):
    module = type(opt).__module__.split('.')[0]
    if module == 'keras':
        import keras
        return keras.optimizers.SGD(0.2, momentum=0.5)
    return optimizers.SGD(0.2, momentum=0.5)


def _names(model):
    return [n for layer in model.layers for n in layer.weight_names()] \
        if hasattr(model.layers[0], 'weight_names') else \
        [w.path for w in model.weights]


@pytest.fixture(scope='module')
def keras3_runs(keras3):
    k = keras3
    runs = {}
    for name, fn in RUNS.items():
        runs[name] = fn(_KerasLayers(k), k.Model, k.regularizers, k.constraints,
                        k.optimizers.Adam(0.05), run_eagerly=True)
    return runs


class _KerasLayers(object):
    """keras.layers with ``Input`` next to the layer classes, as kzoo.layers has it."""

    def __init__(self, keras):
        self._keras = keras

    def __getattr__(self, name):
        return self._keras.Input if name == 'Input' else getattr(self._keras.layers, name)


RUNS = {'two_output': _run_two_output, 'classifier': _run_classifier,
        'masked_sequences': _run_masked, 'cnn': _run_cnn, 'recurrent': _run_recurrent}


@pytest.mark.parametrize('case', sorted(RUNS))
def test_fit_matches_keras3(train_backend, keras3_runs, case):
    from kzoo import constraints, regularizers
    fn = RUNS[case]
    history, weights = fn(kl, Model, regularizers, constraints, optimizers.Adam(0.05))
    expected_history, expected_weights = keras3_runs[case]
    assert sorted(history) == sorted(expected_history)
    for key in expected_history:
        assert_matches(history[key], expected_history[key], TOL, key)
    for i, (w, e) in enumerate(zip(weights, expected_weights)):
        assert_matches(w, e, TOL, 'weight %d' % i)
