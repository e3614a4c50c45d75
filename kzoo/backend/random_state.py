"""Where unseeded randomness comes from, and how one call makes it repeatable.

Keras 1 drew weights and dropout masks from numpy's global state, so scripts began with
``np.random.seed(1337)`` to get the same model twice. kzoo keeps that contract: an
unseeded initializer or numpy-backend draw takes its stream from ``np.random``'s global
state, the torch backend from torch's global generator, the TensorFlow backend from
TensorFlow's. ``set_random_seed`` seeds all of them at once, as
``keras.utils.set_random_seed`` does.

>>> import numpy as np
>>> set_random_seed(7); a = numpy_generator().normal()
>>> set_random_seed(7); b = numpy_generator().normal()
>>> a == b
True
"""
import random
import sys

import numpy as np

_SEED_SPAN = 2 ** 63 - 1


def numpy_generator(seed=None):
    """A Generator: fixed by ``seed`` when given, else drawn from ``np.random``'s global
    state (so ``np.random.seed`` repeats it, and two calls give different streams)."""
    if seed is not None:
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.randint(_SEED_SPAN, dtype=np.int64))


def set_random_seed(seed):
    """Seed Python's ``random``, numpy's global state, and torch's and TensorFlow's
    global generators when those are loaded (neither is imported just to seed it)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    if 'torch' in sys.modules:
        sys.modules['torch'].manual_seed(seed)
    if 'tensorflow' in sys.modules:
        tf = sys.modules['tensorflow']
        if hasattr(tf, 'random'):
            tf.random.set_seed(seed)
