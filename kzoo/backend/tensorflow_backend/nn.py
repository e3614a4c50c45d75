"""Padding, resizing and normalization ops on tensorflow, data in Keras layout.

>>> import tensorflow as tf
>>> x = tf.constant([[[[1.]], [[3.]]]])
>>> resize_images(x, 2, 1, 'channels_last', 'bilinear')[0, :, 0, 0].numpy().tolist()
[1.0, 1.5, 2.5, 3.0]
"""
import tensorflow as tf

from kzoo.backend.tensorflow_backend.conv import channels_last, from_nxc, to_nxc
from kzoo.backend.tensorflow_backend.core import convert_to_tensor

__all__ = ['temporal_padding', 'spatial_2d_padding', 'spatial_3d_padding', 'resize_images',
           'resize_volumes', 'moments', 'batch_normalization', 'moving_average_update']


# ---- padding ------------------------------------------------------------------------

def _spatial_padding(x, padding, data_format):
    pads = [[int(b), int(a)] for b, a in padding]
    if channels_last(data_format):
        widths = [[0, 0]] + pads + [[0, 0]]
    else:
        widths = [[0, 0], [0, 0]] + pads
    return tf.pad(convert_to_tensor(x), widths)


def temporal_padding(x, padding=(1, 1)):
    """Zero-pad the steps axis of ``(batch, steps, features)`` by ``(before, after)``."""
    return _spatial_padding(x, [padding], 'channels_last')


def spatial_2d_padding(x, padding=((1, 1), (1, 1)), data_format=None):
    """Zero-pad rows and columns by ``((top, bottom), (left, right))``."""
    return _spatial_padding(x, padding, data_format)


def spatial_3d_padding(x, padding=((1, 1), (1, 1), (1, 1)), data_format=None):
    """Zero-pad three spatial axes by ``((b, a), (b, a), (b, a))``."""
    return _spatial_padding(x, padding, data_format)


# ---- resizing ---------------------------------------------------------------------------

def resize_images(x, height_factor, width_factor, data_format=None, interpolation='nearest'):
    """Upsample rows and columns by integer factors (``nearest`` or ``bilinear``).

    ``nearest`` repeats rows and columns (Keras 3's UpSampling2D); ``bilinear`` is
    ``tf.image.resize`` with half-pixel centres and no antialiasing, as Keras calls it.
    """
    x = convert_to_tensor(x)
    rows = 1 if channels_last(data_format) else 2
    if interpolation == 'nearest':
        x = tf.repeat(x, int(height_factor), axis=rows)
        return tf.repeat(x, int(width_factor), axis=rows + 1)
    if interpolation == 'bilinear':
        y = to_nxc(x, data_format)
        size = (int(y.shape[1]) * int(height_factor), int(y.shape[2]) * int(width_factor))
        y = tf.cast(tf.image.resize(y, size, method='bilinear', antialias=False), x.dtype)
        return from_nxc(y, data_format)
    raise ValueError('interpolation must be "nearest" or "bilinear", got %r' % (interpolation,))


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format=None):
    """Nearest-neighbour upsampling of three spatial axes by integer factors."""
    x = convert_to_tensor(x)
    first = 1 if channels_last(data_format) else 2
    for axis, factor in zip(range(first, first + 3), (depth_factor, height_factor, width_factor)):
        x = tf.repeat(x, int(factor), axis=axis)
    return x


# ---- normalization ------------------------------------------------------------------

def _axes(axis, ndim):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(int(a) % ndim for a in axes)


def moments(x, axes, keepdims=False):
    """Mean and (biased) variance of ``x`` over ``axes``.

    ``tf.nn.moments`` (two passes: the mean, then the mean squared deviation), which
    stays exact where Keras 3's ``E[x^2] - E[x]^2`` loses digits to cancellation.
    """
    x = convert_to_tensor(x)
    return tf.nn.moments(x, _axes(axes, len(x.shape)), keepdims=keepdims)


def _broadcast(param, x, axes):
    if param is None:
        return None
    param = convert_to_tensor(param)
    if param.dtype != x.dtype:
        param = tf.cast(param, x.dtype)
    shape = [1] * len(x.shape)
    for a in axes:
        shape[a] = x.shape[a]
    return tf.reshape(param, shape)


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` on the feature ``axis``.

    ``mean``, ``var``, ``beta`` and ``gamma`` have the shape of the feature axes
    (``beta``/``gamma`` may be ``None``); ``tf.nn.batch_normalization``, as Keras 3
    calls it: ``x * inv + (beta - mean * inv)`` with ``inv = gamma * rsqrt(var + eps)``.
    """
    x = convert_to_tensor(x)
    axes = _axes(axis, len(x.shape))
    return tf.nn.batch_normalization(
        x, _broadcast(mean, x, axes), _broadcast(var, x, axes), _broadcast(beta, x, axes),
        _broadcast(gamma, x, axes), epsilon)


def moving_average_update(variable, value, momentum):
    """In place: ``variable = variable * momentum + value * (1 - momentum)`` (Keras)."""
    value = tf.cast(convert_to_tensor(value), variable.dtype)
    variable.assign(variable * momentum + value * (1. - momentum))
    return variable
