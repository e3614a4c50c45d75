"""Core torch ops: tensors and variables, shapes, math, reductions, activations.

Tensors stay on the CPU in the layout Keras uses (channels_last by default); the
convolution module works on channels-last *views* so no copy is made per layer.
"""
import numpy as np
import torch
import torch.nn.functional as F

from kzoo.backend.common import floatx

__all__ = [
    'is_tensor', 'is_variable', 'variable', 'constant', 'convert_to_tensor', 'to_numpy',
    'eval', 'get_value', 'set_value', 'batch_get_value', 'batch_set_value', 'shape',
    'int_shape', 'ndim', 'dtype', 'cast', 'zeros', 'ones', 'eye', 'zeros_like',
    'ones_like', 'dot', 'dense', 'einsum', 'transpose', 'permute_dimensions', 'reshape',
    'expand_dims', 'squeeze', 'flatten', 'tile', 'repeat_elements', 'concatenate',
    'stack', 'gather', 'one_hot', 'sum', 'mean', 'max', 'min', 'prod', 'std', 'var',
    'any', 'all', 'argmax', 'argmin', 'cumsum', 'logsumexp', 'abs', 'square', 'sqrt',
    'exp', 'log', 'pow', 'sign', 'round', 'clip', 'maximum', 'minimum', 'equal',
    'not_equal', 'greater', 'greater_equal', 'less', 'less_equal', 'sin', 'cos', 'erf',
    'switch', 'where', 'relu_plain', 'leaky_relu', 'elu', 'sigmoid', 'tanh', 'softmax',
    'log_softmax', 'softplus', 'exponential', 'selu', 'gelu', 'random_uniform',
    'random_normal', 'truncated_normal', 'random_binomial', 'dropout', 'stop_gradient',
    'no_grad', 'torch_dtype',
]

_DTYPES = {
    'float16': torch.float16, 'bfloat16': torch.bfloat16, 'float32': torch.float32,
    'float64': torch.float64, 'int8': torch.int8, 'int16': torch.int16,
    'int32': torch.int32, 'int64': torch.int64, 'uint8': torch.uint8, 'bool': torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def torch_dtype(name):
    """torch dtype for a Keras dtype name (``'float32'`` -> ``torch.float32``)."""
    found = _DTYPES.get(name) if isinstance(name, str) else None  # the usual case, quickly
    if found is not None:
        return found
    if isinstance(name, torch.dtype):
        return name
    return _DTYPES[str(np.dtype(name)) if name != 'bfloat16' else name]


# ---- tensors and variables -------------------------------------------------------

def is_tensor(x):
    return isinstance(x, torch.Tensor)


def is_variable(x):
    return isinstance(x, torch.nn.Parameter)


def variable(value, dtype=None, name=None, trainable=True):
    """A weight: a ``torch.nn.Parameter`` (gradients only when trainable)."""
    array = np.asarray(value)
    if array.ndim and array.strides.count(0) == array.ndim and not array.flat[0]:
        # zeros broadcast from one scalar (weights a loader sets next): numpy's calloc'd
        # zeros, whose memory the OS maps only as the loader writes it
        target = torch_dtype(dtype or floatx())
        try:
            tensor = torch.from_numpy(np.zeros(array.shape, _NAMES[target])).to(target)
        except (KeyError, TypeError):  # no numpy twin (bfloat16)
            tensor = torch.zeros(array.shape, dtype=target)
    else:
        tensor = torch.tensor(array, dtype=torch_dtype(dtype or floatx()))
    return torch.nn.Parameter(tensor, requires_grad=bool(trainable))


def constant(value, dtype=None, shape=None, name=None):
    tensor = torch.tensor(np.asarray(value), dtype=torch_dtype(dtype or floatx()))
    if shape is not None:
        tensor = tensor.expand(tuple(shape)).clone()
    return tensor


def convert_to_tensor(x, dtype=None):
    if isinstance(x, torch.Tensor):
        return x if dtype is None else x.to(torch_dtype(dtype))
    array = np.asarray(x)
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if not array.flags.writeable or not array.flags.c_contiguous and not array.flags.f_contiguous:
        array = np.array(array)
    return torch.from_numpy(array) if array.dtype != object else torch.tensor(array.tolist())


def to_numpy(x):
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if x.dtype == torch.bfloat16:
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


eval = to_numpy


def get_value(x):
    return np.array(to_numpy(x), copy=True)


def set_value(x, value):
    if not isinstance(x, torch.Tensor) and hasattr(x, 'set_value'):
        return x.set_value(value)  # host-side scalars (an optimizer's lr) set themselves
    value = torch.as_tensor(np.asarray(value), dtype=x.dtype)
    if tuple(value.shape) != tuple(x.shape):
        raise ValueError('cannot set a variable of shape %s to a value of shape %s'
                         % (tuple(x.shape), tuple(value.shape)))
    with torch.no_grad():
        x.copy_(value)


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
    return x.dim()


def dtype(x):
    return _NAMES[x.dtype]


def cast(x, dtype):
    return convert_to_tensor(x).to(torch_dtype(dtype))


def zeros(shape, dtype=None, name=None):
    return torch.zeros(tuple(shape), dtype=torch_dtype(dtype or floatx()))


def ones(shape, dtype=None, name=None):
    return torch.ones(tuple(shape), dtype=torch_dtype(dtype or floatx()))


def eye(size, dtype=None, name=None):
    return torch.eye(size, dtype=torch_dtype(dtype or floatx()))


def zeros_like(x, dtype=None):
    return torch.zeros_like(x, dtype=torch_dtype(dtype) if dtype else None)


def ones_like(x, dtype=None):
    return torch.ones_like(x, dtype=torch_dtype(dtype) if dtype else None)


# ---- linear algebra and shape manipulation ----------------------------------------

def dot(x, y):
    """Keras's dot: contracts the last axis of ``x`` with the second-to-last of ``y``."""
    if y.dim() <= 2:
        return torch.matmul(x, y)
    return torch.tensordot(x, y, dims=([x.dim() - 1], [y.dim() - 2]))


def dense(x, kernel, bias=None):
    """``dot(x, kernel) + bias`` as one fused matmul-add (``F.linear``: addmm in 2-D)."""
    if kernel.dim() == 2 and (bias is None or bias.dtype == x.dtype) \
            and x.dtype == kernel.dtype and x.dim() >= 1:
        return torch.nn.functional.linear(x, kernel.t(), bias)
    y = dot(x, kernel)
    return y if bias is None else y + bias


def einsum(equation, *operands):
    return torch.einsum(equation, *operands)


def transpose(x):
    return x.permute(*reversed(range(x.dim())))


def permute_dimensions(x, pattern):
    return x.permute(*pattern)


def reshape(x, shape):
    return torch.reshape(x, tuple(int(s) for s in shape))


def expand_dims(x, axis=-1):
    return torch.unsqueeze(x, axis if axis >= 0 else x.dim() + 1 + axis)


def squeeze(x, axis):
    return torch.squeeze(x, axis)


def flatten(x):
    return torch.reshape(x, (-1,))


def tile(x, n):
    return x.repeat(*n) if isinstance(n, (tuple, list)) else x.repeat(n)


def repeat_elements(x, rep, axis):
    return torch.repeat_interleave(x, rep, dim=axis)


def concatenate(tensors, axis=-1):
    return torch.cat(list(tensors), dim=axis)


def stack(tensors, axis=0):
    return torch.stack(list(tensors), dim=axis)


def gather(reference, indices):
    return reference[convert_to_tensor(indices).long()]


def one_hot(indices, num_classes):
    return F.one_hot(convert_to_tensor(indices).long(), num_classes).to(torch_dtype(floatx()))


# ---- reductions -------------------------------------------------------------------

def _dims(x, axis):
    if axis is None:
        return tuple(range(x.dim()))
    return tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)


def sum(x, axis=None, keepdims=False):
    return torch.sum(x, dim=_dims(x, axis), keepdim=keepdims)


def mean(x, axis=None, keepdims=False):
    return torch.mean(x, dim=_dims(x, axis), keepdim=keepdims)


def max(x, axis=None, keepdims=False):
    return torch.amax(x, dim=_dims(x, axis), keepdim=keepdims)


def min(x, axis=None, keepdims=False):
    return torch.amin(x, dim=_dims(x, axis), keepdim=keepdims)


def prod(x, axis=None, keepdims=False):
    for d in sorted(_dims(x, axis), reverse=True):
        x = torch.prod(x, dim=d, keepdim=keepdims)
    return x


def std(x, axis=None, keepdims=False):
    return torch.std(x, dim=_dims(x, axis), keepdim=keepdims, unbiased=False)


def var(x, axis=None, keepdims=False):
    return torch.var(x, dim=_dims(x, axis), keepdim=keepdims, unbiased=False)


def any(x, axis=None, keepdims=False):
    return torch.amax(x.bool().to(torch.uint8), dim=_dims(x, axis), keepdim=keepdims).bool()


def all(x, axis=None, keepdims=False):
    return torch.amin(x.bool().to(torch.uint8), dim=_dims(x, axis), keepdim=keepdims).bool()


def argmax(x, axis=-1):
    return torch.argmax(x, dim=axis)


def argmin(x, axis=-1):
    return torch.argmin(x, dim=axis)


def cumsum(x, axis=0):
    return torch.cumsum(x, dim=axis)


def logsumexp(x, axis=None, keepdims=False):
    return torch.logsumexp(x, dim=_dims(x, axis), keepdim=keepdims)


# ---- element-wise -----------------------------------------------------------------

def _t(x):
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


abs = torch.abs
square = torch.square
sqrt = torch.sqrt
exp = torch.exp
log = torch.log
sign = torch.sign
round = torch.round
sin = torch.sin
cos = torch.cos
erf = torch.erf
tanh = torch.tanh
sigmoid = torch.sigmoid
exponential = torch.exp
relu_plain = torch.relu
selu = torch.selu


def pow(x, a):
    return torch.pow(x, a)


def maximum(x, y):
    return torch.maximum(_t(x), _t(y)) if isinstance(y, torch.Tensor) else torch.clamp(x, min=y)


def minimum(x, y):
    return torch.minimum(_t(x), _t(y)) if isinstance(y, torch.Tensor) else torch.clamp(x, max=y)


def equal(x, y):
    return torch.eq(x, y)


def not_equal(x, y):
    return torch.ne(x, y)


def greater(x, y):
    return torch.gt(x, y)


def greater_equal(x, y):
    return torch.ge(x, y)


def less(x, y):
    return torch.lt(x, y)


def less_equal(x, y):
    return torch.le(x, y)


def clip(x, min_value, max_value):
    return torch.clamp(x, min_value, max_value)


def switch(condition, then_expression, else_expression):
    return torch.where(_t(condition).bool(), _t(then_expression), _t(else_expression))


where = switch


# ---- activations ------------------------------------------------------------------

def leaky_relu(x, alpha=0.2):
    return F.leaky_relu(x, float(alpha))


def elu(x, alpha=1.0):
    return F.elu(x, float(alpha))


def softmax(x, axis=-1):
    return torch.softmax(x, dim=axis)


def log_softmax(x, axis=-1):
    return torch.log_softmax(x, dim=axis)


def softplus(x):
    return F.softplus(x)


def gelu(x, approximate=False):
    return F.gelu(x, approximate='tanh' if approximate else 'none')


# ---- random -------------------------------------------------------------------------

def _generator(seed):
    if seed is None:
        return None
    return torch.Generator().manual_seed(int(seed))


def random_uniform(shape, minval=0., maxval=1., dtype=None, seed=None):
    out = torch.empty(tuple(shape), dtype=torch_dtype(dtype or floatx()))
    return out.uniform_(minval, maxval, generator=_generator(seed))


def random_normal(shape, mean=0., stddev=1., dtype=None, seed=None):
    out = torch.empty(tuple(shape), dtype=torch_dtype(dtype or floatx()))
    return out.normal_(mean, stddev, generator=_generator(seed))


def truncated_normal(shape, mean=0., stddev=1., dtype=None, seed=None):
    out = torch.empty(tuple(shape), dtype=torch_dtype(dtype or floatx()))
    torch.nn.init.trunc_normal_(out, 0., 1., -2., 2., generator=_generator(seed))
    return out * stddev + mean


def random_binomial(shape, p=0.0, dtype=None, seed=None):
    return (random_uniform(shape, seed=seed) < p).to(torch_dtype(dtype or floatx()))


def dropout(x, level, noise_shape=None, seed=None):
    if noise_shape is None and seed is None:
        return F.dropout(x, float(level), training=True)
    keep = 1. - level
    mask = random_binomial(noise_shape if noise_shape is not None else x.shape, keep,
                           dtype=dtype(x), seed=seed)
    return x * mask / keep


def stop_gradient(x):
    return x.detach()


no_grad = torch.no_grad
