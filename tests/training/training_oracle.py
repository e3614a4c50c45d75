"""Shared pieces of the training oracle tests: data, initial weights, the model graph."""
import numpy as np


def data(seed=0, n=16):
    """Inputs, a regression target and a binary target for the two-output model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype('float32')
    ya = rng.normal(size=(n, 2)).astype('float32')
    yb = (rng.random((n, 1)) > 0.5).astype('float32')
    return x, ya, yb


def initial_weights(seed=1):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (4, 2), (2,), (4, 1), (1,)]
    return [rng.uniform(-0.5, 0.5, s).astype('float32') for s in shapes]


def two_output_model(layers, model_cls, input_fn, **hidden_kwargs):
    """inp -> h (tanh) -> a (linear, 2 units) and b (sigmoid, 1 unit): the same graph
    for kzoo and Keras 3 (``layers`` is kzoo.layers or keras.layers)."""
    x = input_fn(shape=(3,), name='inp')
    h = layers.Dense(4, activation='tanh', name='h', **hidden_kwargs)(x)
    a = layers.Dense(2, name='a')(h)
    b = layers.Dense(1, activation='sigmoid', name='b')(h)
    return model_cls(x, [a, b])
