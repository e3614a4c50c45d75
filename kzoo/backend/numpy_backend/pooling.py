"""Pooling in numpy (reference, forward only), with TensorFlow's padding rules.

``same`` max pooling ignores the padded cells; ``same`` average pooling divides each
window by the number of real (unpadded) cells, as TensorFlow does.

>>> import numpy as np
>>> x = np.arange(5, dtype='float32').reshape(1, 5, 1)
>>> pool1d(x, 2, 2, 'same', pool_mode='avg')[0, :, 0].tolist()
[0.5, 2.5, 4.0]
"""
import numpy as np

from kzoo.backend.numpy_backend.conv import (from_channels_last, pad_spatial, spatial_pads,
                                             to_channels_last, windows)

__all__ = ['pool1d', 'pool2d', 'pool3d']


def _tuple(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _pool(x, pool_size, strides, padding, data_format, pool_mode, n):
    pool_size = _tuple(pool_size, n)
    strides = _tuple(pool_size if strides is None else strides, n)
    ones = (1,) * n
    x = to_channels_last(x, data_format)
    pads = spatial_pads(x.shape[1:-1], pool_size, padding, strides, ones)
    axes = tuple(range(-n, 0))
    if pool_mode == 'max':
        fill = -np.inf if x.dtype.kind == 'f' else np.iinfo(x.dtype).min
        out = windows(pad_spatial(x, pads, fill), pool_size, strides, ones).max(axis=axes)
    elif pool_mode == 'avg':
        work = x.astype(np.float64)
        total = windows(pad_spatial(work, pads), pool_size, strides, ones).sum(axis=axes)
        count = windows(pad_spatial(np.ones((1,) + x.shape[1:-1] + (1,)), pads),
                        pool_size, strides, ones).sum(axis=axes)
        out = (total / count).astype(x.dtype)
    else:
        raise ValueError('pool_mode must be "max" or "avg", got %r' % (pool_mode,))
    return from_channels_last(out, data_format)


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
