"""Pooling on torch with TensorFlow's padding rules, on channels-last views.

Symmetric ``same`` padding maps straight onto torch's pooling (``count_include_pad=
False`` excludes padded cells from averages, as TensorFlow does); asymmetric padding
pads explicitly (``-inf`` for max) and, for averages, divides by the fraction of real
cells per window.

>>> import torch
>>> x = torch.arange(5.).reshape(1, 5, 1)
>>> pool1d(x, 2, 2, 'same', pool_mode='avg')[0, :, 0].tolist()
[0.5, 2.5, 4.0]
"""
import torch
import torch.nn.functional as F

from kzoo.backend import conv_utils
from kzoo.backend.torch_backend.conv import from_ncx, to_ncx

__all__ = ['pool1d', 'pool2d', 'pool3d']

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _tuple(value, n):
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _pool(x, pool_size, strides, padding, data_format, pool_mode, n):
    pool_size = _tuple(pool_size, n)
    strides = _tuple(pool_size if strides is None else strides, n)
    x = to_ncx(x, data_format)
    pads = [conv_utils.pad_amounts(int(s), k, padding, st)
            for s, k, st in zip(x.shape[2:], pool_size, strides)]
    native = all(b == a and 2 * b <= k for (b, a), k in zip(pads, pool_size))
    sym = tuple(b for b, _ in pads) if native else (0,) * n
    flat = []
    if not native:
        for before, after in reversed(pads):
            flat += [before, after]
    if pool_mode == 'max':
        if flat:
            x = F.pad(x, flat, value=float('-inf'))
        y = _MAX[n](x, pool_size, strides, sym)
    elif pool_mode == 'avg':
        if not flat:
            y = _AVG[n](x, pool_size, strides, sym, count_include_pad=False)
        else:
            y = _AVG[n](F.pad(x, flat), pool_size, strides, 0, count_include_pad=True)
            ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype)
            fraction = _AVG[n](F.pad(ones, flat), pool_size, strides, 0, count_include_pad=True)
            y = y / fraction
    else:
        raise ValueError('pool_mode must be "max" or "avg", got %r' % (pool_mode,))
    return from_ncx(y, data_format)


def pool1d(x, pool_size, strides=None, padding='valid', data_format=None, pool_mode='max'):
    """Max or average pooling over the steps axis of ``(batch, steps, channels)``."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode, 1)


def pool2d(x, pool_size, strides=(1, 1), padding='valid', data_format=None, pool_mode='max'):
    """Max or average pooling over rows and columns."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode, 2)


def pool3d(x, pool_size, strides=(1, 1, 1), padding='valid', data_format=None,
           pool_mode='max'):
    """Max or average pooling over three spatial axes."""
    return _pool(x, pool_size, strides, padding, data_format, pool_mode, 3)
