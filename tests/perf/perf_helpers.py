"""Shared pieces of the inference tests: randomized statistics, the plain path."""
import numpy as np


def randomize(model, seed=0):
    """Non-trivial BatchNormalization statistics and biases, so that folding them into
    convolutions is really exercised (fresh layers have mean 0, variance 1, bias 0)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        name = type(layer).__name__
        if name == 'BatchNormalization':
            new = []
            for w, spec in zip(weights, layer.weight_names()):
                if 'moving_variance' in spec:
                    new.append(rng.uniform(0.5, 2.0, w.shape).astype('float32'))
                elif 'gamma' in spec:
                    new.append(rng.uniform(0.5, 1.5, w.shape).astype('float32'))
                else:  # beta, moving_mean
                    new.append(rng.normal(0, 0.2, w.shape).astype('float32'))
            layer.set_weights(new)
        elif name in ('Conv2D', 'Dense') and len(weights) == 2:
            layer.set_weights([weights[0], rng.normal(0, 0.1, weights[1].shape)
                               .astype('float32')])
    return model


def plain(model, x):
    """The unoptimized layer-by-layer path, the reference of every test here."""
    return model.predict(x, provider='plain')


def images(shape, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype('float32')


def assert_same_weights(a, b):
    """``a`` and ``b`` hold the same weights: count, dtype, shape and every bit."""
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y)
