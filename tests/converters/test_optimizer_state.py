"""Optimizer state in whole-model ``.h5`` files (Keras 2's ``optimizer_weights`` group).

Oracle: tf-keras reads the state kzoo writes (same number of arrays, same values in its
own order), and kzoo restores its own state exactly, so training resumes where it
stopped (the next step equals an uninterrupted run's to 1e-6).
"""
import h5py
import numpy as np
import pytest

from kzoo.layers import Dense, Input
from kzoo.models import Model, load_model


def _model():
    x = Input(shape=(4,))
    return Model(x, Dense(1, name='out')(Dense(3, activation='tanh', name='hidden')(x)))


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype('float32'), rng.normal(size=(16, 1)).astype('float32')


@pytest.mark.parametrize('optimizer', ['adam', 'rmsprop', 'sgd'])
def test_state_round_trips_and_training_resumes(tmp_path, optimizer):
    x, y = _data()
    model = _model()
    model.compile(optimizer, 'mse')
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    path = str(tmp_path / 'm.h5')
    model.save(path)
    with h5py.File(path, 'r') as f:
        assert 'optimizer_weights' in f
    restored = load_model(path)
    for a, b in zip(model.optimizer.get_weights(), restored.optimizer.get_weights()):
        np.testing.assert_array_equal(a, b)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    restored.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_no_state_before_training(tmp_path):
    model = _model()
    model.compile('adam', 'mse')
    path = str(tmp_path / 'm.h5')
    model.save(path)
    with h5py.File(path, 'r') as f:
        assert 'optimizer_weights' not in f
    assert load_model(path).optimizer is not None


@pytest.mark.oracle
def test_tf_keras_reads_kzoo_optimizer_state(tmp_path):
    tf_keras = pytest.importorskip('tf_keras')
    x, y = _data()
    model = _model()
    model.compile('adam', 'mse')
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / 'm.h5')
    model.save(path)
    theirs = tf_keras.models.load_model(path)
    their_state = sorted(theirs.optimizer.get_weights(), key=lambda a: (a.size, a.sum()))
    our_state = sorted(model.optimizer.get_weights(), key=lambda a: (a.size, a.sum()))
    assert len(their_state) == len(our_state)
    for a, b in zip(their_state, our_state):
        np.testing.assert_allclose(a, b, rtol=1e-6)
