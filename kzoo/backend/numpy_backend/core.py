"""Core numpy ops: tensors and variables, shapes, math, reductions, activations."""
import math

import numpy as np

from kzoo.backend.common import floatx
from kzoo.backend.random_state import numpy_generator

__all__ = [
    'is_tensor', 'is_variable', 'variable', 'constant', 'convert_to_tensor', 'to_numpy',
    'eval', 'get_value', 'set_value', 'batch_get_value', 'batch_set_value', 'shape',
    'int_shape', 'ndim', 'dtype', 'cast', 'zeros', 'ones', 'eye', 'zeros_like',
    'ones_like', 'dot', 'einsum', 'transpose', 'permute_dimensions', 'reshape',
    'expand_dims', 'squeeze', 'flatten', 'tile', 'repeat_elements', 'concatenate',
    'stack', 'gather', 'one_hot', 'sum', 'mean', 'max', 'min', 'prod', 'std', 'var',
    'any', 'all', 'argmax', 'argmin', 'cumsum', 'logsumexp', 'abs', 'square', 'sqrt',
    'exp', 'log', 'pow', 'sign', 'round', 'clip', 'maximum', 'minimum', 'equal',
    'not_equal', 'greater', 'greater_equal', 'less', 'less_equal', 'sin', 'cos', 'erf',
    'switch', 'where', 'relu_plain', 'leaky_relu', 'elu', 'sigmoid', 'tanh', 'softmax',
    'log_softmax', 'softplus', 'exponential', 'random_uniform', 'random_normal',
    'truncated_normal', 'random_binomial', 'dropout', 'stop_gradient', 'no_grad',
]


# ---- tensors and variables -------------------------------------------------------

def is_tensor(x):
    return isinstance(x, np.ndarray)


def is_variable(x):
    return isinstance(x, np.ndarray)


def variable(value, dtype=None, name=None, trainable=True):
    """A weight: a numpy array owned by the layer, updated in place by ``set_value``."""
    value = np.asarray(value, dtype=dtype or floatx())
    if value.ndim and not any(value.strides) and not value.flat[0]:
        # zeros broadcast from one scalar (weights a loader sets next): np.zeros, whose
        # memory the OS maps only as it is written
        return np.zeros(value.shape, value.dtype)
    return np.array(value)


def constant(value, dtype=None, shape=None, name=None):
    value = np.asarray(value, dtype=dtype or floatx())
    if shape is not None:
        value = np.broadcast_to(value, shape).copy()
    return value


def convert_to_tensor(x, dtype=None):
    return np.asarray(x, dtype=dtype)


def to_numpy(x):
    return np.asarray(x)


eval = to_numpy


def get_value(x):
    return np.array(x, copy=True)


def set_value(x, value):
    value = np.asarray(value)
    if value.shape != x.shape:
        raise ValueError('cannot set a variable of shape %s to a value of shape %s'
                         % (x.shape, value.shape))
    x[...] = value


def batch_get_value(xs):
    return [get_value(x) for x in xs]


def batch_set_value(pairs):
    for x, value in pairs:
        set_value(x, value)


def shape(x):
    return x.shape


def int_shape(x):
    return tuple(x.shape)


def ndim(x):
    return np.ndim(x)


def dtype(x):
    return str(np.asarray(x).dtype)


def cast(x, dtype):
    return np.asarray(x).astype(dtype, copy=False)


def zeros(shape, dtype=None, name=None):
    return np.zeros(shape, dtype=dtype or floatx())


def ones(shape, dtype=None, name=None):
    return np.ones(shape, dtype=dtype or floatx())


def eye(size, dtype=None, name=None):
    return np.eye(size, dtype=dtype or floatx())


def zeros_like(x, dtype=None):
    return np.zeros_like(x, dtype=dtype)


def ones_like(x, dtype=None):
    return np.ones_like(x, dtype=dtype)


# ---- linear algebra and shape manipulation ----------------------------------------

def dot(x, y):
    """Keras's dot: contracts the last axis of ``x`` with the second-to-last of ``y``."""
    return np.dot(x, y)


def einsum(equation, *operands):
    return np.einsum(equation, *operands)


def transpose(x):
    return np.transpose(x)


def permute_dimensions(x, pattern):
    return np.transpose(x, tuple(pattern))


def reshape(x, shape):
    return np.reshape(x, tuple(shape))


def expand_dims(x, axis=-1):
    return np.expand_dims(x, axis)


def squeeze(x, axis):
    return np.squeeze(x, axis)


def flatten(x):
    return np.reshape(x, (-1,))


def tile(x, n):
    return np.tile(x, n)


def repeat_elements(x, rep, axis):
    return np.repeat(x, rep, axis=axis)


def concatenate(tensors, axis=-1):
    return np.concatenate(tensors, axis=axis)


def stack(tensors, axis=0):
    return np.stack(tensors, axis=axis)


def gather(reference, indices):
    return np.take(reference, np.asarray(indices).astype('int64'), axis=0)


def one_hot(indices, num_classes):
    return np.eye(num_classes, dtype=floatx())[np.asarray(indices).astype('int64')]


# ---- reductions -------------------------------------------------------------------

def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, keepdims=False):
    return np.sum(x, axis=_axis(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return np.mean(x, axis=_axis(axis), keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    return np.max(x, axis=_axis(axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return np.min(x, axis=_axis(axis), keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    return np.prod(x, axis=_axis(axis), keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return np.std(x, axis=_axis(axis), keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    return np.var(x, axis=_axis(axis), keepdims=keepdims)


def any(x, axis=None, keepdims=False):
    return np.any(x, axis=_axis(axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):
    return np.all(x, axis=_axis(axis), keepdims=keepdims)


def argmax(x, axis=-1):
    return np.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return np.argmin(x, axis=axis)


def cumsum(x, axis=0):
    return np.cumsum(x, axis=axis)


def logsumexp(x, axis=None, keepdims=False):
    m = np.max(x, axis=_axis(axis), keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=_axis(axis), keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=_axis(axis))


# ---- element-wise -----------------------------------------------------------------

abs = np.abs
square = np.square
sqrt = np.sqrt
exp = np.exp
log = np.log
sign = np.sign
round = np.round
maximum = np.maximum
minimum = np.minimum
equal = np.equal
not_equal = np.not_equal
greater = np.greater
greater_equal = np.greater_equal
less = np.less
less_equal = np.less_equal
sin = np.sin
cos = np.cos
_erf = np.vectorize(math.erf, otypes=[np.float64])


def erf(x):
    x = np.asarray(x)
    return _erf(x).astype(x.dtype)


def pow(x, a):
    return np.power(x, a)


def clip(x, min_value, max_value):
    return np.clip(x, min_value, max_value)


def switch(condition, then_expression, else_expression):
    return np.where(condition, then_expression, else_expression)


where = switch


# ---- activations ------------------------------------------------------------------

def relu_plain(x):
    return np.maximum(x, 0).astype(np.asarray(x).dtype, copy=False)


def leaky_relu(x, alpha=0.2):
    return np.where(x >= 0, x, x * np.asarray(alpha, dtype=np.asarray(x).dtype))


def elu(x, alpha=1.0):
    x = np.asarray(x)
    return np.where(x > 0, x, (alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype))


def sigmoid(x):
    x = np.asarray(x)
    return np.exp(-np.logaddexp(np.zeros((), x.dtype), -x))


def tanh(x):
    return np.tanh(x)


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softplus(x):
    x = np.asarray(x)
    return np.logaddexp(np.zeros((), x.dtype), x)


def exponential(x):
    return np.exp(x)


# ---- random -------------------------------------------------------------------------

def _rng(seed):
    return numpy_generator(seed)


def random_uniform(shape, minval=0., maxval=1., dtype=None, seed=None):
    return _rng(seed).uniform(minval, maxval, size=shape).astype(dtype or floatx())


def random_normal(shape, mean=0., stddev=1., dtype=None, seed=None):
    return _rng(seed).normal(mean, stddev, size=shape).astype(dtype or floatx())


def truncated_normal(shape, mean=0., stddev=1., dtype=None, seed=None):
    rng = _rng(seed)
    values = rng.normal(0., 1., size=shape)
    bad = np.abs(values) > 2
    while bad.any():  # resample outside two standard deviations, as TensorFlow does
        values[bad] = rng.normal(0., 1., size=int(bad.sum()))
        bad = np.abs(values) > 2
    return (mean + stddev * values).astype(dtype or floatx())


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    return (_rng(seed).uniform(size=shape) < p).astype(dtype or floatx())


def dropout(x, level, noise_shape=None, seed=None):
    keep = 1. - level
    mask = random_binomial(noise_shape if noise_shape is not None else np.shape(x), keep,
                           dtype=np.asarray(x).dtype, seed=seed)
    return x * mask / keep


def stop_gradient(x):
    return x


class no_grad(object):
    """Context manager for inference; numpy keeps no gradients, so it does nothing."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
