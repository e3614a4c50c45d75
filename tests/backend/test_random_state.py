"""Seeding: Keras 1 scripts call ``np.random.seed`` before building a model and expect
the same weights each run; ``kzoo.utils.set_random_seed`` is ``keras.utils``'s
one-call version, covering dropout masks on every backend too."""
import numpy as np
import pytest

from kzoo import backend as K
from kzoo import layers as kl
from kzoo.models import Sequential
from kzoo.utils import set_random_seed


def _weights():
    model = Sequential([kl.Dense(5, input_shape=(4,), kernel_initializer='glorot_normal'),
                        kl.Dense(3, kernel_initializer='he_uniform', bias_initializer='random_normal')])
    return model.get_weights()


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_numpy_seed_repeats_initial_weights(kbackend):
    np.random.seed(1337)
    first = _weights()
    np.random.seed(1337)
    _assert_same(first, _weights())
    np.random.seed(1338)
    assert not np.array_equal(first[0], _weights()[0])


def test_unseeded_draws_differ_within_a_run(kbackend):
    a, b = _weights(), _weights()
    assert not np.array_equal(a[0], b[0])


def _dropout_output():
    layer = kl.Dropout(0.5)
    return K.to_numpy(layer(K.constant(np.ones((6, 40), 'float32')), training=True))


def test_set_random_seed_repeats_dropout_masks(kbackend):
    set_random_seed(5)
    first = _dropout_output()
    assert (first == 0).any() and (first != 0).any()
    set_random_seed(5)
    np.testing.assert_array_equal(first, _dropout_output())
    set_random_seed(6)
    assert not np.array_equal(first, _dropout_output())


def test_seeded_initializer_ignores_the_global_state():
    from kzoo.initializers import RandomNormal
    np.random.seed(1)
    a = RandomNormal(seed=3)((4, 4))
    np.random.seed(2)
    np.testing.assert_array_equal(a, RandomNormal(seed=3)((4, 4)))


def test_set_random_seed_does_not_import_frameworks():
    import subprocess
    import sys
    code = ('import sys; from kzoo.utils import set_random_seed; set_random_seed(1); '
            'print("tensorflow" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == 'False'


@pytest.mark.parametrize('seed', [0, 2 ** 40])
def test_set_random_seed_accepts_large_seeds(seed):
    set_random_seed(seed)
    first = np.random.rand(3)
    set_random_seed(seed)
    np.testing.assert_array_equal(first, np.random.rand(3))
