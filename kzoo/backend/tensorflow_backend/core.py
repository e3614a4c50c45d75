"""Core tensorflow ops: tensors and variables, shapes, math, reductions, activations.

Tensors are eager ``tf.Tensor`` objects in the layout Keras uses (channels_last by
default); weights are ``tf.Variable`` objects, assigned in place by ``set_value``. Each
op calls the TensorFlow kernel Keras 3 calls (``tf.matmul``, ``tf.nn.softmax``, ...),
so results agree with Keras at float32 rounding.

>>> x = constant([[1., -2.]])
>>> to_numpy(relu_plain(x)).tolist()
[[1.0, 0.0]]
"""
import builtins as _builtins

import numpy as np
import tensorflow as tf

from kzoo.backend.common import floatx

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
    'log_softmax', 'softplus', 'exponential', 'selu', 'gelu', 'random_uniform',
    'random_normal', 'truncated_normal', 'random_binomial', 'dropout', 'stop_gradient',
    'no_grad', 'tf_dtype',
]


def tf_dtype(name):
    """TensorFlow dtype for a Keras dtype name (``'float32'`` -> ``tf.float32``)."""
    return tf.as_dtype(name)


# ---- tensors and variables -------------------------------------------------------

def is_tensor(x):
    return isinstance(x, (tf.Tensor, tf.Variable))


def is_variable(x):
    return isinstance(x, tf.Variable)


def _from_value(value, dtype):
    """Tensor of ``dtype`` from any array-like (numpy has no bfloat16: cast in TF)."""
    dtype = tf_dtype(dtype)
    if is_tensor(value):
        return tf.cast(value, dtype)
    array = np.asarray(value)
    if dtype == tf.bfloat16:
        return tf.cast(tf.convert_to_tensor(array.astype('float32')), dtype)
    return tf.convert_to_tensor(array.astype(dtype.as_numpy_dtype, copy=False))


def variable(value, dtype=None, name=None, trainable=True):
    """A weight: a ``tf.Variable`` (watched by gradient tapes only when trainable)."""
    return tf.Variable(_from_value(value, dtype or floatx()), trainable=bool(trainable),
                       name=name)


def constant(value, dtype=None, shape=None, name=None):
    tensor = _from_value(value, dtype or floatx())
    if shape is not None:
        tensor = tf.broadcast_to(tensor, tuple(shape))
    return tensor


def convert_to_tensor(x, dtype=None):
    if is_tensor(x):
        return x if dtype is None or x.dtype == tf_dtype(dtype) else tf.cast(x, dtype)
    array = np.asarray(x)
    if dtype is not None:
        return _from_value(array, dtype)
    if array.dtype == object:
        return tf.constant(array.tolist())
    return tf.convert_to_tensor(array)


def to_numpy(x):
    if is_tensor(x):
        if x.dtype == tf.bfloat16:
            x = tf.cast(x, tf.float32)
        return x.numpy()
    return np.asarray(x)


eval = to_numpy


def get_value(x):
    return np.array(to_numpy(x), copy=True)


def set_value(x, value):
    """Assign ``value`` to the variable ``x`` in place (shapes must agree)."""
    if not is_tensor(x) and hasattr(x, 'set_value'):
        return x.set_value(value)  # host-side scalars (an optimizer's lr) set themselves
    if not is_variable(x):
        raise TypeError('set_value needs a tf.Variable (a weight), got %s' % type(x).__name__)
    value = _from_value(value, x.dtype)
    if tuple(value.shape) != tuple(x.shape):
        raise ValueError('cannot set a variable of shape %s to a value of shape %s'
                         % (tuple(x.shape), tuple(value.shape)))
    x.assign(value)


def batch_get_value(xs):
    return [get_value(x) for x in xs]


def batch_set_value(pairs):
    for x, value in pairs:
        set_value(x, value)


def shape(x):
    return tuple(x.shape)


def int_shape(x):
    return tuple(x.shape)


def ndim(x):
    return len(x.shape)


def dtype(x):
    return tf.as_dtype(x.dtype).name if is_tensor(x) else str(np.asarray(x).dtype)


def cast(x, dtype):
    return tf.cast(convert_to_tensor(x), tf_dtype(dtype))


def zeros(shape, dtype=None, name=None):
    return tf.zeros(tuple(shape), dtype=tf_dtype(dtype or floatx()))


def ones(shape, dtype=None, name=None):
    return tf.ones(tuple(shape), dtype=tf_dtype(dtype or floatx()))


def eye(size, dtype=None, name=None):
    return tf.eye(size, dtype=tf_dtype(dtype or floatx()))


def zeros_like(x, dtype=None):
    return tf.zeros_like(x, dtype=tf_dtype(dtype) if dtype else None)


def ones_like(x, dtype=None):
    return tf.ones_like(x, dtype=tf_dtype(dtype) if dtype else None)


# ---- operand conversion -----------------------------------------------------------

def _t(x):
    return x if is_tensor(x) else tf.convert_to_tensor(np.asarray(x))


def _like(value, ref):
    """``value`` (a Python or numpy number/array) as a tensor of ``ref``'s dtype.

    TensorFlow does not promote dtypes, so a constant adopts the tensor's dtype; a
    float constant against an integer or bool tensor gives floats, as numpy would.
    """
    array = np.asarray(value)
    if ref.dtype.is_floating or ref.dtype.is_complex or array.dtype.kind in 'biu':
        return _from_value(array, ref.dtype)
    return tf.convert_to_tensor(array.astype(floatx()))


def _pair(x, y):
    """Both operands as tensors of one dtype (numpy-like promotion for mixed tensors)."""
    if is_tensor(x) and is_tensor(y):
        if x.dtype != y.dtype:
            common = tf.as_dtype(np.result_type(x.dtype.as_numpy_dtype, y.dtype.as_numpy_dtype))
            x, y = tf.cast(x, common), tf.cast(y, common)
        return x, y
    if is_tensor(x):
        y = _like(y, x)
        return (x if x.dtype == y.dtype else tf.cast(x, y.dtype)), y
    if is_tensor(y):
        x = _like(x, y)
        return x, (y if y.dtype == x.dtype else tf.cast(y, x.dtype))
    return _pair(_t(x), y)


# ---- linear algebra and shape manipulation ----------------------------------------

def dot(x, y):
    """Keras's dot: contracts the last axis of ``x`` with the second-to-last of ``y``."""
    x, y = _pair(x, y)
    if len(x.shape) >= 2 and len(y.shape) == 2:
        return tf.matmul(x, y)  # batched matmul broadcasts the matrix, as Keras 3 does
    return tf.tensordot(x, y, [[len(x.shape) - 1], [_builtins.max(len(y.shape) - 2, 0)]])


def einsum(equation, *operands):
    tensors = [o for o in operands if is_tensor(o)]
    ref = tensors[0] if tensors else _t(operands[0])
    return tf.einsum(equation, *[o if is_tensor(o) else _like(o, ref) for o in operands])


def transpose(x):
    return tf.transpose(x)


def permute_dimensions(x, pattern):
    return tf.transpose(x, perm=[int(p) for p in pattern])


def reshape(x, shape):
    return tf.reshape(x, [int(s) for s in shape])


def expand_dims(x, axis=-1):
    return tf.expand_dims(x, axis)


def squeeze(x, axis):
    return tf.squeeze(x, axis=list(axis) if isinstance(axis, (tuple, list)) else axis)


def flatten(x):
    return tf.reshape(x, [-1])


def tile(x, n):
    """numpy's tile: ``n`` an int or a sequence, padded with leading ones as needed."""
    x = _t(x)
    reps = [int(r) for r in n] if isinstance(n, (tuple, list)) else [int(n)]
    rank = len(x.shape)
    if len(reps) < rank:
        reps = [1] * (rank - len(reps)) + reps
    elif len(reps) > rank:
        x = tf.reshape(x, [1] * (len(reps) - rank) + list(x.shape))
    return tf.tile(x, reps)


def repeat_elements(x, rep, axis):
    return tf.repeat(x, rep, axis=axis)


def concatenate(tensors, axis=-1):
    return tf.concat([_t(t) for t in tensors], axis=axis)


def stack(tensors, axis=0):
    return tf.stack([_t(t) for t in tensors], axis=axis)


def gather(reference, indices):
    return tf.gather(reference, tf.cast(_t(indices), tf.int64))


def one_hot(indices, num_classes):
    return tf.one_hot(tf.cast(_t(indices), tf.int64), num_classes, dtype=tf_dtype(floatx()))


# ---- reductions -------------------------------------------------------------------

def _axis(axis):
    return list(axis) if isinstance(axis, (list, tuple)) else axis


def _float(x):
    # tf.reduce_mean of integers divides as integers; numpy (and Keras) give floats.
    x = _t(x)
    return x if x.dtype.is_floating else tf.cast(x, floatx())


def sum(x, axis=None, keepdims=False):
    return tf.reduce_sum(x, axis=_axis(axis), keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    return tf.reduce_mean(_float(x), axis=_axis(axis), keepdims=keepdims)


def max(x, axis=None, keepdims=False):
    return tf.reduce_max(x, axis=_axis(axis), keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return tf.reduce_min(x, axis=_axis(axis), keepdims=keepdims)


def prod(x, axis=None, keepdims=False):
    return tf.reduce_prod(x, axis=_axis(axis), keepdims=keepdims)


def std(x, axis=None, keepdims=False):
    return tf.math.reduce_std(_float(x), axis=_axis(axis), keepdims=keepdims)


def var(x, axis=None, keepdims=False):
    return tf.math.reduce_variance(_float(x), axis=_axis(axis), keepdims=keepdims)


def any(x, axis=None, keepdims=False):
    return tf.reduce_any(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def all(x, axis=None, keepdims=False):
    return tf.reduce_all(tf.cast(x, tf.bool), axis=_axis(axis), keepdims=keepdims)


def argmax(x, axis=-1):
    return tf.argmax(x, axis=axis)


def argmin(x, axis=-1):
    return tf.argmin(x, axis=axis)


def cumsum(x, axis=0):
    return tf.cumsum(x, axis=axis)


def logsumexp(x, axis=None, keepdims=False):
    return tf.reduce_logsumexp(x, axis=_axis(axis), keepdims=keepdims)


# ---- element-wise -----------------------------------------------------------------

abs = tf.abs
square = tf.square
sqrt = tf.sqrt
exp = tf.exp
log = tf.math.log
sign = tf.sign
round = tf.round  # half to even, as numpy
sin = tf.sin
cos = tf.cos
erf = tf.math.erf
tanh = tf.tanh
sigmoid = tf.sigmoid
exponential = tf.exp
relu_plain = tf.nn.relu
selu = tf.nn.selu


def pow(x, a):
    return tf.pow(*_pair(x, a))


def maximum(x, y):
    return tf.maximum(*_pair(x, y))


def minimum(x, y):
    return tf.minimum(*_pair(x, y))


def equal(x, y):
    return tf.equal(*_pair(x, y))


def not_equal(x, y):
    return tf.not_equal(*_pair(x, y))


def greater(x, y):
    return tf.greater(*_pair(x, y))


def greater_equal(x, y):
    return tf.greater_equal(*_pair(x, y))


def less(x, y):
    return tf.less(*_pair(x, y))


def less_equal(x, y):
    return tf.less_equal(*_pair(x, y))


def clip(x, min_value, max_value):
    """numpy's clip (``max_value`` wins when the bounds cross); either bound may be None."""
    x = _t(x)
    if min_value is not None:
        x = tf.maximum(x, _like(min_value, x))
    if max_value is not None:
        x = tf.minimum(x, _like(max_value, x))
    return x


def switch(condition, then_expression, else_expression):
    condition = tf.cast(_t(condition), tf.bool)
    return tf.where(condition, *_pair(then_expression, else_expression))


where = switch


# ---- activations ------------------------------------------------------------------

def leaky_relu(x, alpha=0.2):
    return tf.nn.leaky_relu(x, alpha=float(alpha))


def elu(x, alpha=1.0):
    if alpha == 1:
        return tf.nn.elu(x)
    x = _t(x)
    return tf.where(x > 0, x, alpha * tf.nn.elu(x))


def softmax(x, axis=-1):
    return tf.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return tf.nn.log_softmax(x, axis=axis)


def softplus(x):
    return tf.math.softplus(x)


def gelu(x, approximate=False):
    return tf.nn.gelu(x, approximate=bool(approximate))


# ---- random -------------------------------------------------------------------------

def _seed(seed):
    return tf.constant([int(seed), 0], dtype=tf.int64)


def random_uniform(shape, minval=0., maxval=1., dtype=None, seed=None):
    dtype = tf_dtype(dtype or floatx())
    if seed is None:
        return tf.random.uniform(tuple(shape), minval, maxval, dtype=dtype)
    return tf.random.stateless_uniform(tuple(shape), _seed(seed), minval, maxval, dtype=dtype)


def random_normal(shape, mean=0., stddev=1., dtype=None, seed=None):
    dtype = tf_dtype(dtype or floatx())
    if seed is None:
        return tf.random.normal(tuple(shape), mean, stddev, dtype=dtype)
    return tf.random.stateless_normal(tuple(shape), _seed(seed), mean, stddev, dtype=dtype)


def truncated_normal(shape, mean=0., stddev=1., dtype=None, seed=None):
    """Normal values resampled outside two standard deviations (TensorFlow's kernel)."""
    dtype = tf_dtype(dtype or floatx())
    if seed is None:
        return tf.random.truncated_normal(tuple(shape), mean, stddev, dtype=dtype)
    return tf.random.stateless_truncated_normal(tuple(shape), _seed(seed), mean, stddev,
                                                dtype=dtype)


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    return tf.cast(random_uniform(shape, seed=seed) < p, tf_dtype(dtype or floatx()))


def dropout(x, level, noise_shape=None, seed=None):
    """Inverted dropout: zero a ``level`` fraction, scale the rest by ``1 / (1 - level)``."""
    x = _t(x)
    if noise_shape is None and seed is None:
        return tf.nn.dropout(x, rate=float(level))
    keep = 1. - level
    if noise_shape is None:
        noise_shape = tuple(x.shape)
    noise_shape = [d if s is None else s for s, d in zip(noise_shape, x.shape)]
    mask = random_binomial(noise_shape, keep, dtype=x.dtype, seed=seed)
    return x * mask / keep


def stop_gradient(x):
    return tf.stop_gradient(x)


class no_grad(object):
    """Context manager for inference. Eager TensorFlow records gradients only inside a
    ``tf.GradientTape``, so outside one there is nothing to switch off."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
