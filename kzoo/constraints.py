"""Weight constraints applied after each optimizer step.

>>> import numpy as np
>>> from kzoo import constraints, backend as K
>>> c = constraints.get('non_neg')
>>> K.to_numpy(c(K.constant([-1., 2.]))).tolist() == [0., 2.]  # -0.0 for negatives, as Keras
True
"""
from kzoo import backend as K
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry, deserialize_object

CONSTRAINTS = Registry('constraint')


class Constraint(object):
    config_fields = ()

    def __call__(self, w):
        return w

    def get_config(self):
        return {f: getattr(self, f) for f in self.config_fields}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@CONSTRAINTS.register('max_norm', 'maxnorm', 'MaxNorm')
class MaxNorm(Constraint):
    config_fields = ('max_value', 'axis')

    def __init__(self, max_value=2, axis=0, m=None):
        self.max_value = m if m is not None else max_value  # Keras 1 spelled it m
        self.axis = axis

    def __call__(self, w):
        norms = K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True))
        desired = K.clip(norms, 0, self.max_value)
        return w * (desired / (K.epsilon() + norms))


@CONSTRAINTS.register('non_neg', 'nonneg', 'NonNeg')
class NonNeg(Constraint):
    def __call__(self, w):
        return w * K.cast(K.greater_equal(w, 0.), K.dtype(w))


@CONSTRAINTS.register('unit_norm', 'unitnorm', 'UnitNorm')
class UnitNorm(Constraint):
    config_fields = ('axis',)

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        return w / (K.epsilon() + K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True)))


@CONSTRAINTS.register('min_max_norm', 'MinMaxNorm')
class MinMaxNorm(Constraint):
    config_fields = ('min_value', 'max_value', 'rate', 'axis')

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        norms = K.sqrt(K.sum(K.square(w), axis=self.axis, keepdims=True))
        desired = (self.rate * K.clip(norms, self.min_value, self.max_value)
                   + (1 - self.rate) * norms)
        return w * (desired / (K.epsilon() + norms))


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, dict) and 'class_name' not in identifier and 'name' in identifier:
        # Keras 1: {'name': 'MaxNorm', 'm': 2, 'axis': 0}
        config = {k: v for k, v in identifier.items() if k != 'name'}
        return deserialize_object({'class_name': identifier['name'], 'config': config},
                                  CONSTRAINTS, where='constraint')
    if isinstance(identifier, (dict, str)):
        return deserialize_object(identifier, CONSTRAINTS, where='constraint')
    if callable(identifier):
        return identifier
    raise ConfigError('could not interpret constraint %r' % (identifier,))


def serialize(constraint):
    if constraint is None:
        return None
    if hasattr(constraint, 'get_config'):
        return {'class_name': type(constraint).__name__, 'config': constraint.get_config()}
    return getattr(constraint, '__name__', None)
