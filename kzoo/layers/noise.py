"""Regularization layers that act only in training: ``GaussianNoise``, ``GaussianDropout``,
``SpatialDropout1D/2D/3D``. At inference (the default) each is the identity.

>>> import numpy as np
>>> x = np.ones((2, 3, 4), 'float32')
>>> bool((SpatialDropout1D(0.5)(x) == x).all())
True
>>> y = SpatialDropout1D(0.5, seed=1)(x, training=True)
>>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [0.0], [2.0])
True
"""
import math

import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError
from kzoo.layers.convolutional import data_format_arg
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['GaussianNoise', 'GaussianDropout', 'SpatialDropout1D', 'SpatialDropout2D',
           'SpatialDropout3D']


class _Noise(Layer):
    """Base: a seed stream (a fixed ``seed`` gives a reproducible sequence of draws)."""

    def __init__(self, seed=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.seed = seed
        self._seeds = np.random.default_rng(seed) if seed is not None else None
        self.supports_masking = True

    def _next_seed(self):
        return int(self._seeds.integers(2 ** 31 - 1)) if self._seeds is not None else None


def _rate(value, layer):
    rate = float(value)
    if not 0. <= rate < 1.:
        raise ConfigError('%s: rate must be in [0, 1), got %r' % (layer, value))
    return rate


@register_layer()
class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of ``stddev`` in training (Keras 1: ``sigma``)."""
    config_fields = ('stddev', 'seed')

    @keras1_kwargs()
    def __init__(self, stddev, seed=None, **kwargs):
        _Noise.__init__(self, seed, **kwargs)
        self.stddev = float(stddev)
        if self.stddev < 0:
            raise ConfigError('GaussianNoise: stddev must be >= 0, got %r' % (stddev,))

    def call(self, inputs, training=None):
        if not training or self.stddev == 0:
            return inputs
        return inputs + K.random_normal(K.int_shape(inputs), 0., self.stddev, K.dtype(inputs),
                                        self._next_seed())


@register_layer()
class GaussianDropout(_Noise):
    """Multiplies by Gaussian noise of mean 1 and stddev ``sqrt(rate / (1 - rate))`` in
    training (Keras 1: ``p``)."""
    config_fields = ('rate', 'seed')

    @keras1_kwargs()
    def __init__(self, rate, seed=None, **kwargs):
        _Noise.__init__(self, seed, **kwargs)
        self.rate = _rate(rate, 'GaussianDropout')

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        stddev = math.sqrt(self.rate / (1. - self.rate))
        return inputs * K.random_normal(K.int_shape(inputs), 1., stddev, K.dtype(inputs),
                                        self._next_seed())


class _SpatialDropout(_Noise):
    """Drops whole channels (the same for every step/position) with probability ``rate``,
    scaling the kept ones by ``1 / (1 - rate)``."""
    rank = None
    config_fields = ('rate', 'data_format', 'seed')

    @keras1_kwargs()
    def __init__(self, rate, data_format=None, seed=None, noise_shape=None, **kwargs):
        if noise_shape is not None:
            raise ConfigError('%s: noise_shape is fixed by the layer; got %r'
                              % (type(self).__name__, noise_shape))
        _Noise.__init__(self, seed, **kwargs)
        self.rate = _rate(rate, type(self).__name__)
        self.data_format = 'channels_last' if self.rank == 1 else data_format_arg(
            data_format, type(self).__name__)

    def noise_shape(self, shape):
        if self.data_format == 'channels_last':
            return (shape[0],) + (1,) * self.rank + (shape[-1],)
        return (shape[0], shape[1]) + (1,) * self.rank

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        return K.dropout(inputs, self.rate, self.noise_shape(K.int_shape(inputs)),
                         self._next_seed())

    def get_config(self):
        config = _Noise.get_config(self)
        if self.rank == 1:
            del config['data_format']
        if config.get('trainable') is True:
            del config['trainable']  # Keras 3 refuses the argument here; True is the default
        return config


@register_layer()
class SpatialDropout1D(_SpatialDropout):
    """Drops whole feature maps of ``(batch, steps, channels)`` in training."""
    rank = 1

    @keras1_kwargs()
    def __init__(self, rate, seed=None, **kwargs):
        _SpatialDropout.__init__(self, rate, seed=seed, **kwargs)


@register_layer()
class SpatialDropout2D(_SpatialDropout):
    """Drops whole 2D feature maps in training."""
    rank = 2


@register_layer()
class SpatialDropout3D(_SpatialDropout):
    """Drops whole 3D feature maps in training."""
    rank = 3
