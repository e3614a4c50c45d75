"""Weight regularizers: ``l1``, ``l2``, ``l1_l2`` (penalties added to the loss).

>>> from kzoo import regularizers
>>> regularizers.get({'class_name': 'L1L2', 'config': {'l1': 0.0, 'l2': 0.01}}).l2
0.01
"""
from kzoo import backend as K
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry, deserialize_object

REGULARIZERS = Registry('regularizer')


@REGULARIZERS.register('l1_l2', 'L1_L2')
class L1L2(object):
    """Penalty ``l1 * sum(|x|) + l2 * sum(x ** 2)``."""

    def __init__(self, l1=0., l2=0.):
        self.l1, self.l2 = float(l1), float(l2)

    def __call__(self, x):
        penalty = 0.
        if self.l1:
            penalty = penalty + self.l1 * K.sum(K.abs(x))
        if self.l2:
            penalty = penalty + self.l2 * K.sum(K.square(x))
        return penalty

    def get_config(self):
        return {'l1': self.l1, 'l2': self.l2}

    @classmethod
    def from_config(cls, config):
        return cls(**{k: v for k, v in config.items() if k in ('l1', 'l2')})


@REGULARIZERS.register('l1')
class L1(L1L2):
    def __init__(self, l1=0.01):
        L1L2.__init__(self, l1=l1)

    def get_config(self):
        return {'l1': self.l1}


@REGULARIZERS.register('l2')
class L2(L1L2):
    def __init__(self, l2=0.01):
        L1L2.__init__(self, l2=l2)

    def get_config(self):
        return {'l2': self.l2}


def l1(l=0.01):
    return L1(l)


def l2(l=0.01):
    return L2(l)


def l1_l2(l1=0.01, l2=0.01):
    return L1L2(l1, l2)


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, dict) and 'class_name' not in identifier and 'name' in identifier:
        # Keras 1: {'name': 'WeightRegularizer', 'l1': ..., 'l2': ...}
        return L1L2(identifier.get('l1', 0.), identifier.get('l2', 0.))
    if isinstance(identifier, (dict, str)):
        return deserialize_object(identifier, REGULARIZERS, where='regularizer')
    if callable(identifier):
        return identifier
    raise ConfigError('could not interpret regularizer %r' % (identifier,))


def serialize(regularizer):
    if regularizer is None:
        return None
    if hasattr(regularizer, 'get_config'):
        return {'class_name': type(regularizer).__name__, 'config': regularizer.get_config()}
    return getattr(regularizer, '__name__', None)
