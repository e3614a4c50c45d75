"""Pooling on tensorflow: ``tf.nn.max_pool`` and ``tf.nn.avg_pool``, as Keras 3 calls them.

TensorFlow's ``SAME`` pooling already ignores padded cells (max) and divides by the
number of real cells (average); channels_first data is transposed around the op.
Paddings TensorFlow has no name for (``causal``, ``full``) pad explicitly: ``-inf``
for max, and for averages the sum is divided by the fraction of real cells.

>>> import tensorflow as tf
>>> x = tf.reshape(tf.range(5.), (1, 5, 1))
>>> pool1d(x, 2, 2, 'same', pool_mode='avg')[0, :, 0].numpy().tolist()
[0.5, 2.5, 4.0]
"""
import tensorflow as tf

from kzoo.backend.tensorflow_backend.conv import (from_nxc, pad_spatial, spatial_pads, to_nxc)

__all__ = ['pool1d', 'pool2d', 'pool3d']


def _tuple(value, n):
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _pool(x, pool_size, strides, padding, data_format, pool_mode, n):
    pool_size = _tuple(pool_size, n)
    strides = _tuple(pool_size if strides is None else strides, n)
    x = to_nxc(x, data_format)
    if pool_mode not in ('max', 'avg'):
        raise ValueError('pool_mode must be "max" or "avg", got %r' % (pool_mode,))
    if padding in ('same', 'valid'):
        op = tf.nn.max_pool if pool_mode == 'max' else tf.nn.avg_pool
        y = op(x, pool_size, strides, padding.upper())
    else:
        pads = spatial_pads(x.shape[1:-1], pool_size, padding, strides, (1,) * n)
        if pool_mode == 'max':
            fill = float('-inf') if x.dtype.is_floating else x.dtype.min
            y = tf.nn.max_pool(pad_spatial(x, pads, fill), pool_size, strides, 'VALID')
        else:
            y = tf.nn.avg_pool(pad_spatial(x, pads), pool_size, strides, 'VALID')
            ones = tf.ones((1,) + tuple(x.shape[1:-1]) + (1,), dtype=x.dtype)
            y = y / tf.nn.avg_pool(pad_spatial(ones, pads), pool_size, strides, 'VALID')
    return from_nxc(y, data_format)


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
