"""Activation functions, found by name through :data:`ACTIVATIONS`.

>>> import numpy as np
>>> from kzoo import activations, backend as K
>>> f = activations.get('relu')
>>> K.to_numpy(f(K.constant([-1., 2.]))).tolist()
[0.0, 2.0]
"""
from kzoo import backend as K
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry

ACTIVATIONS = Registry('activation')


def _with_logits(output, logits):
    # As Keras 3: the output remembers its logits, so a crossentropy loss computes from them
    # (exact and cheaper than the log of clipped probabilities). numpy arrays and some
    # tensor types take no attributes; they simply go without.
    try:
        output._keras_logits = logits
    except AttributeError:
        pass
    return output


@ACTIVATIONS.register()
def linear(x):
    return x


@ACTIVATIONS.register()
def relu(x, alpha=0., max_value=None, threshold=0.):
    return K.relu(x, alpha=alpha, max_value=max_value, threshold=threshold)


@ACTIVATIONS.register()
def relu6(x):
    return K.clip(x, 0., 6.)


@ACTIVATIONS.register()
def sigmoid(x):
    return _with_logits(K.sigmoid(x), x)


@ACTIVATIONS.register()
def hard_sigmoid(x):
    """Keras 1/2 definition, ``clip(0.2 x + 0.5, 0, 1)`` (what files of that era mean)."""
    return K.hard_sigmoid(x)


@ACTIVATIONS.register()
def tanh(x):
    return K.tanh(x)


@ACTIVATIONS.register()
def softmax(x, axis=-1):
    output = K.softmax(x, axis=axis)
    # The losses normalize over the last axis: logits over another one would mislead them.
    return _with_logits(output, x) if axis in (-1, K.ndim(x) - 1) else output


@ACTIVATIONS.register()
def log_softmax(x, axis=-1):
    return K.log_softmax(x, axis=axis)


@ACTIVATIONS.register()
def softplus(x):
    return K.softplus(x)


@ACTIVATIONS.register()
def softsign(x):
    return K.softsign(x)


@ACTIVATIONS.register()
def elu(x, alpha=1.0):
    return K.elu(x, alpha)


@ACTIVATIONS.register()
def selu(x):
    return K.selu(x)


@ACTIVATIONS.register()
def exponential(x):
    return K.exponential(x)


@ACTIVATIONS.register('silu')
def swish(x):
    return K.swish(x)


@ACTIVATIONS.register()
def gelu(x, approximate=False):
    return K.gelu(x, approximate)


def get(identifier):
    """An activation from a name, a callable, or ``None`` (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):  # Keras 3 may write {'class_name': ..., 'config': ...}
        identifier = identifier.get('config', {}).get('name', identifier.get('class_name'))
    if isinstance(identifier, str):
        return ACTIVATIONS.get(identifier)
    if callable(identifier):
        return identifier
    raise ConfigError('could not interpret activation %r; expected a name or a function'
                      % (identifier,))


def serialize(activation):
    name = getattr(activation, '__name__', None)
    if name in ACTIVATIONS:
        return name
    if name:
        return name
    raise ConfigError('cannot serialize activation %r' % (activation,))
