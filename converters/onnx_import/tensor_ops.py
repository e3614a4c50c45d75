"""Tensor primitives the ONNX layers need beyond kzoo's backend op set.

ONNX tensors carry any dtype (int8 to uint64, bool, float16/32/64) and ops such as
``MatMul`` (NumPy broadcasting), ``Gather`` on any axis or ``Pad`` with reflection
that Keras's op set (``K.*``) does not spell. Each primitive here has one
implementation per kzoo backend, picked by ``K.backend()`` through
:data:`PRIMITIVES` (a tensorflow entry joins when that backend exists). Everything
else the layers compute goes through ``K``.

>>> import numpy as np
>>> from kzoo import backend as K
>>> with K.using('numpy'):
...     numpy(take(tensor(np.arange(6).reshape(2, 3)), np.array([2, 0]), axis=1)).tolist()
[[2, 0], [5, 3]]
"""
import numpy as np

from kzoo import backend as K
from kzoo.errors import BackendError, UnknownObjectError
from kzoo.utils.generic_utils import Registry

PRIMITIVES = Registry('tensor primitive set')


@PRIMITIVES.register('numpy')
class NumpyPrimitives(object):
    """The reference: plain NumPy."""

    @staticmethod
    def tensor(x, dtype=None):
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def numpy(x):
        return np.asarray(x)

    @staticmethod
    def dtype(x):
        return np.asarray(x).dtype

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)

    @staticmethod
    def matmul(a, b):
        return np.matmul(a, b)

    @staticmethod
    def take(x, indices, axis):
        return np.take(x, np.asarray(indices, 'int64'), axis=axis)

    @staticmethod
    def flip(x, axis):
        return np.flip(x, axis)

    @staticmethod
    def pad(x, pads, value):
        return np.pad(x, pads, mode='constant', constant_values=value)

    @staticmethod
    def full(shape, value, dtype):
        return np.full(tuple(int(d) for d in shape), value, dtype=dtype)

    @staticmethod
    def floor(x):
        return np.floor(x)

    @staticmethod
    def ceil(x):
        return np.ceil(x)

    @staticmethod
    def trunc_divide(a, b):
        quotient = np.floor_divide(np.abs(a), np.abs(b))
        return np.where((a < 0) != (b < 0), -quotient, quotient).astype(np.result_type(a, b))

    @staticmethod
    def true_divide(a, b):
        return np.true_divide(a, b).astype(np.result_type(a, b))

    @staticmethod
    def reshape(x, shape):
        return np.reshape(x, tuple(int(d) for d in shape))

    @staticmethod
    def broadcast_to(x, shape):
        return np.broadcast_to(x, tuple(int(d) for d in shape))

    @staticmethod
    def reduce(kind, x, axes, keepdims):
        return getattr(np, kind)(x, axis=tuple(axes), keepdims=keepdims).astype(x.dtype)


@PRIMITIVES.register('torch')
class TorchPrimitives(object):
    """torch on the CPU. Unsigned integers wider than 8 bits have no arithmetic
    kernels in torch, so :func:`widen` computes them as int64."""

    @staticmethod
    def _torch():
        import torch
        return torch

    @classmethod
    def torch_dtype(cls, dtype):
        torch = cls._torch()
        name = np.dtype(dtype).name if not str(dtype) == 'bfloat16' else 'bfloat16'
        return getattr(torch, name)

    @classmethod
    def tensor(cls, x, dtype=None):
        torch = cls._torch()
        if isinstance(x, torch.Tensor):
            return x if dtype is None else x.to(cls.torch_dtype(dtype))
        array = np.asarray(x, dtype=dtype)
        if not array.flags.writeable or not array.flags.c_contiguous:
            array = np.array(array, order='C')  # (not ascontiguousarray: it makes 0-d 1-d)
        return torch.from_numpy(array)

    @classmethod
    def numpy(cls, x):
        torch = cls._torch()
        if isinstance(x, torch.Tensor):
            return x.detach().cpu().numpy()
        return np.asarray(x)

    @classmethod
    def dtype(cls, x):
        return np.dtype(str(x.dtype).replace('torch.', ''))

    @classmethod
    def cast(cls, x, dtype):
        return cls.tensor(x).to(cls.torch_dtype(dtype))

    @classmethod
    def matmul(cls, a, b):
        return cls._torch().matmul(a, b)

    @classmethod
    def take(cls, x, indices, axis):
        torch = cls._torch()
        index = cls.tensor(np.asarray(indices, 'int64') if not isinstance(indices, torch.Tensor)
                           else indices).long()
        picked = torch.index_select(x, axis, index.reshape(-1))
        shape = tuple(x.shape[:axis]) + tuple(index.shape) + tuple(x.shape[axis + 1:])
        return picked.reshape(shape)

    @classmethod
    def flip(cls, x, axis):
        return cls._torch().flip(x, (axis,))

    @classmethod
    def pad(cls, x, pads, value):
        import torch.nn.functional as F
        flat = []
        for before, after in reversed(pads):  # F.pad lists the last axis first
            flat += [int(before), int(after)]
        if x.dtype == cls._torch().bool:
            return F.pad(x.to(cls._torch().uint8), flat, value=int(value)).bool()
        return F.pad(x, flat, value=value)

    @classmethod
    def full(cls, shape, value, dtype):
        return cls._torch().full(tuple(int(d) for d in shape), value,
                                 dtype=cls.torch_dtype(dtype))

    @classmethod
    def floor(cls, x):
        return cls._torch().floor(x)

    @classmethod
    def ceil(cls, x):
        return cls._torch().ceil(x)

    @classmethod
    def trunc_divide(cls, a, b):
        return cls._torch().div(a, b, rounding_mode='trunc')

    @classmethod
    def true_divide(cls, a, b):
        return cls._torch().true_divide(a, b)

    @classmethod
    def reshape(cls, x, shape):
        return cls._torch().reshape(x, tuple(int(d) for d in shape))

    @classmethod
    def broadcast_to(cls, x, shape):
        return cls._torch().broadcast_to(x, tuple(int(d) for d in shape))

    @classmethod
    def reduce(cls, kind, x, axes, keepdims):
        torch = cls._torch()
        axes = tuple(axes)
        if kind == 'prod':
            for a in sorted(axes, reverse=True):
                x = torch.prod(x, dim=a, keepdim=keepdims)
            return x
        fn = {'sum': torch.sum, 'mean': torch.mean, 'max': torch.amax, 'min': torch.amin}[kind]
        return fn(x, dim=axes, keepdim=keepdims)


def _impl():
    try:
        return PRIMITIVES.get(K.backend())
    except UnknownObjectError:
        raise BackendError('the ONNX layers have no tensor primitives for the %r backend'
                           % K.backend()) from None


_WIDE_UNSIGNED = ('uint16', 'uint32', 'uint64')


def tensor(x, dtype=None):
    """A backend tensor from an array (or a backend tensor, cast to ``dtype``)."""
    return _impl().tensor(x, dtype)


def numpy(x):
    return _impl().numpy(x)


def dtype_of(x):
    """The NumPy dtype of a backend tensor or array."""
    return np.dtype(_impl().dtype(x))


def cast(x, dtype):
    return _impl().cast(x, dtype)


def widen(x):
    """``(x as a dtype the backend computes with, original dtype)``."""
    dtype = dtype_of(x)
    if dtype.name in _WIDE_UNSIGNED and K.backend() != 'numpy':
        return cast(x, 'int64'), dtype
    return x, dtype


def narrow(x, dtype):
    return x if dtype_of(x) == dtype else cast(x, dtype)


def matmul(a, b):
    return _impl().matmul(a, b)


def take(x, indices, axis):
    """``numpy.take`` along ``axis``; ``indices`` non-negative (array or tensor)."""
    return _impl().take(x, indices, axis)


def flip(x, axis):
    return _impl().flip(x, axis)


def pad(x, pads, value=0):
    """Constant padding by ``[(before, after), ...]`` per axis; negative amounts crop."""
    pads = [(int(b), int(a)) for b, a in pads]
    if any(b < 0 or a < 0 for b, a in pads):
        index = tuple(slice(-b if b < 0 else None, a if a < 0 else None) for b, a in pads)
        x = x[index]
        pads = [(max(b, 0), max(a, 0)) for b, a in pads]
    if not any(b or a for b, a in pads):
        return x
    return _impl().pad(x, pads, value)


def full(shape, value, dtype):
    return _impl().full(shape, value, dtype)


def floor(x):
    return _impl().floor(x)


def ceil(x):
    return _impl().ceil(x)


def trunc_divide(a, b):
    return _impl().trunc_divide(a, b)


def true_divide(a, b):
    return _impl().true_divide(a, b)


def reshape(x, shape):
    return _impl().reshape(x, shape)


def broadcast_to(x, shape):
    return _impl().broadcast_to(x, shape)


def reduce(kind, x, axes, keepdims):
    """``sum``, ``mean``, ``max``, ``min`` or ``prod`` over ``axes`` (a tuple)."""
    return _impl().reduce(kind, x, axes, keepdims)


def slice_axis(x, axis, start, stop, step=1):
    """``x[..., start:stop:step, ...]`` on ``axis``, with negative steps too."""
    if step > 0:
        index = (slice(None),) * axis + (slice(start, stop, step),)
        return x[index]
    # reversed slice: the positive-step slice of the flipped axis
    n = int(x.shape[axis])
    indices = np.arange(n)[slice(start, stop, step)]
    return take(x, indices, axis)


__all__ = ['tensor', 'numpy', 'dtype_of', 'cast', 'widen', 'narrow', 'matmul', 'take', 'flip',
           'pad', 'full', 'floor', 'ceil', 'trunc_divide', 'true_divide', 'reshape',
           'broadcast_to', 'reduce', 'slice_axis', 'PRIMITIVES']
