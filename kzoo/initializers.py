"""Weight initializers (Keras names and semantics), producing numpy arrays.

Initial values are drawn with numpy so that they do not depend on the backend.

>>> from kzoo import initializers
>>> initializers.get('glorot_uniform')((3, 4)).shape
(3, 4)
"""
import math

import numpy as np

from kzoo.backend.common import floatx
from kzoo.backend.random_state import numpy_generator
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry, deserialize_object

INITIALIZERS = Registry('initializer')


def compute_fans(shape, input_axes=None, output_axes=None):
    """Fan-in and fan-out of a weight shape, as Keras computes them (channels_last);
    Keras 3.15 may name the axes that hold the input and the output units."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(np.prod([shape[a] for a in input_axes])),
                int(np.prod([shape[a] for a in output_axes])))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer(object):
    """Base class: ``init(shape, dtype=None)`` returns a numpy array."""
    config_fields = ()

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def get_config(self):
        return {f: getattr(self, f) for f in self.config_fields}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop('dtype', None)
        return cls(**config)

    def _rng(self):
        # Keras draws new values on each call unless seeded; a seeded initializer repeats.
        # Unseeded, the stream comes from np.random's global state (np.random.seed repeats it).
        return numpy_generator(getattr(self, 'seed', None))


@INITIALIZERS.register('zeros', 'zero')
class Zeros(Initializer):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, dtype=dtype or floatx())


@INITIALIZERS.register('ones', 'one')
class Ones(Initializer):
    def __call__(self, shape, dtype=None):
        return np.ones(shape, dtype=dtype or floatx())


@INITIALIZERS.register('constant')
class Constant(Initializer):
    config_fields = ('value',)

    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(shape, self.value, dtype=dtype or floatx())


@INITIALIZERS.register('random_uniform', 'uniform')
class RandomUniform(Initializer):
    config_fields = ('minval', 'maxval', 'seed')

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, shape, dtype=None):
        return self._rng().uniform(self.minval, self.maxval, shape).astype(dtype or floatx())


@INITIALIZERS.register('random_normal', 'normal')
class RandomNormal(Initializer):
    config_fields = ('mean', 'stddev', 'seed')

    def __init__(self, mean=0., stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return self._rng().normal(self.mean, self.stddev, shape).astype(dtype or floatx())


def _truncated(rng, shape, stddev):
    values = rng.normal(0., 1., shape)
    bad = np.abs(values) > 2
    while bad.any():  # resample beyond two standard deviations, as Keras does
        values[bad] = rng.normal(0., 1., int(bad.sum()))
        bad = np.abs(values) > 2
    return values * stddev


@INITIALIZERS.register('truncated_normal')
class TruncatedNormal(Initializer):
    config_fields = ('mean', 'stddev', 'seed')

    def __init__(self, mean=0., stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, shape, dtype=None):
        return (self.mean + _truncated(self._rng(), shape, self.stddev)).astype(dtype or floatx())


@INITIALIZERS.register('variance_scaling')
class VarianceScaling(Initializer):
    config_fields = ('scale', 'mode', 'distribution', 'seed')

    def __init__(self, scale=1.0, mode='fan_in', distribution='truncated_normal', seed=None,
                 input_axes=None, output_axes=None):
        self.input_axes, self.output_axes = input_axes, output_axes  # Keras 3.15 fields
        if distribution == 'normal':  # Keras 2.2 name for the truncated normal
            distribution = 'truncated_normal'
        if mode not in ('fan_in', 'fan_out', 'fan_avg'):
            raise ConfigError('VarianceScaling mode must be fan_in, fan_out or fan_avg, got %r'
                              % (mode,))
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def get_config(self):
        config = Initializer.get_config(self)
        if self.input_axes is not None or self.output_axes is not None:
            config.update(input_axes=self.input_axes, output_axes=self.output_axes)
        return config

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {'fan_in': fan_in, 'fan_out': fan_out, 'fan_avg': (fan_in + fan_out) / 2.}
        scale = self.scale / max(1., fan[self.mode])
        rng = self._rng()
        if self.distribution == 'truncated_normal':
            values = _truncated(rng, shape, math.sqrt(scale) / .87962566103423978)
        elif self.distribution == 'untruncated_normal':
            values = rng.normal(0., math.sqrt(scale), shape)
        else:
            limit = math.sqrt(3. * scale)
            values = rng.uniform(-limit, limit, shape)
        return values.astype(dtype or floatx())


def _variance_scaling(name, scale, mode, distribution):
    class Preset(VarianceScaling):
        config_fields = ('seed',)

        def __init__(self, seed=None, input_axes=None, output_axes=None):
            VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes,
                                     output_axes)
    Preset.__name__ = Preset.__qualname__ = name
    return Preset


GlorotUniform = _variance_scaling('GlorotUniform', 1., 'fan_avg', 'uniform')
GlorotNormal = _variance_scaling('GlorotNormal', 1., 'fan_avg', 'truncated_normal')
HeUniform = _variance_scaling('HeUniform', 2., 'fan_in', 'uniform')
HeNormal = _variance_scaling('HeNormal', 2., 'fan_in', 'truncated_normal')
LecunUniform = _variance_scaling('LecunUniform', 1., 'fan_in', 'uniform')
LecunNormal = _variance_scaling('LecunNormal', 1., 'fan_in', 'truncated_normal')
for _cls, _name in ((GlorotUniform, 'glorot_uniform'), (GlorotNormal, 'glorot_normal'),
                    (HeUniform, 'he_uniform'), (HeNormal, 'he_normal'),
                    (LecunUniform, 'lecun_uniform'), (LecunNormal, 'lecun_normal')):
    INITIALIZERS.register(_name)(_cls)


@INITIALIZERS.register('orthogonal')
class Orthogonal(Initializer):
    config_fields = ('gain', 'seed')

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, shape, dtype=None):
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        flat = self._rng().normal(0., 1., (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols].reshape(shape)).astype(dtype or floatx())


@INITIALIZERS.register('identity')
class Identity(Initializer):
    config_fields = ('gain',)

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ConfigError('the identity initializer needs a 2-D shape, got %s' % (shape,))
        return (self.gain * np.eye(*shape)).astype(dtype or floatx())


def get(identifier):
    """An initializer from a name, a config dict, an instance or a function."""
    if identifier is None:
        return None
    if isinstance(identifier, (dict, str)):
        return deserialize_object(identifier, INITIALIZERS, where='initializer')
    if callable(identifier):
        return identifier
    raise ConfigError('could not interpret initializer %r' % (identifier,))


def serialize(initializer):
    if isinstance(initializer, Initializer):
        return {'class_name': type(initializer).__name__, 'config': initializer.get_config()}
    return getattr(initializer, '__name__', None)
