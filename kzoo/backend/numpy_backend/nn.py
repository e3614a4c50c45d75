"""Padding, resizing and normalization ops in numpy (reference).

>>> import numpy as np
>>> x = np.array([[[1.], [3.]]], 'float32')
>>> resize_images(x[..., None, :], 2, 1, 'channels_last', 'bilinear')[0, :, 0, 0].tolist()
[1.0, 1.5, 2.5, 3.0]
"""
import numpy as np

from kzoo.backend.common import normalize_data_format

__all__ = ['temporal_padding', 'spatial_2d_padding', 'spatial_3d_padding', 'resize_images',
           'resize_volumes', 'moments', 'batch_normalization', 'moving_average_update']


# ---- padding ------------------------------------------------------------------------

def _spatial_padding(x, padding, data_format):
    x = np.asarray(x)
    pads = [tuple(int(v) for v in p) for p in padding]
    if normalize_data_format(data_format) == 'channels_first':
        widths = [(0, 0), (0, 0)] + pads
    else:
        widths = [(0, 0)] + pads + [(0, 0)]
    return np.pad(x, widths)


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

def _bilinear_axis(x, axis, factor):
    """Half-pixel-centre linear interpolation along one axis (TensorFlow's resize)."""
    n = x.shape[axis]
    out = np.arange(n * factor, dtype=np.float64)
    src = (out + 0.5) / factor - 0.5
    low = np.floor(src)
    frac = src - low
    i0 = np.clip(low, 0, n - 1).astype(np.int64)
    i1 = np.clip(low + 1, 0, n - 1).astype(np.int64)
    shape = [1] * x.ndim
    shape[axis] = -1
    frac = frac.reshape(shape)
    a, b = np.take(x, i0, axis=axis), np.take(x, i1, axis=axis)
    return a + (b - a) * frac


def resize_images(x, height_factor, width_factor, data_format=None, interpolation='nearest'):
    """Upsample rows and columns by integer factors (``nearest`` or ``bilinear``)."""
    x = np.asarray(x)
    rows = 2 if normalize_data_format(data_format) == 'channels_first' else 1
    if interpolation == 'nearest':
        return np.repeat(np.repeat(x, height_factor, axis=rows), width_factor, axis=rows + 1)
    if interpolation == 'bilinear':
        y = _bilinear_axis(x.astype(np.float64), rows, height_factor)
        return _bilinear_axis(y, rows + 1, width_factor).astype(x.dtype)
    raise ValueError('interpolation must be "nearest" or "bilinear", got %r' % (interpolation,))


def resize_volumes(x, depth_factor, height_factor, width_factor, data_format=None):
    """Nearest-neighbour upsampling of three spatial axes by integer factors."""
    x = np.asarray(x)
    first = 2 if normalize_data_format(data_format) == 'channels_first' else 1
    for axis, factor in zip(range(first, first + 3), (depth_factor, height_factor, width_factor)):
        x = np.repeat(x, factor, axis=axis)
    return x


# ---- normalization ------------------------------------------------------------------

def _axes(axis, ndim):
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return sorted(a % ndim for a in axes)


def moments(x, axes, keepdims=False):
    """Mean and (biased) variance of ``x`` over ``axes``."""
    x = np.asarray(x)
    axes = tuple(_axes(axes, x.ndim))
    work = x.astype(np.float64)
    mean = work.mean(axis=axes, keepdims=True)
    var = np.square(work - mean).mean(axis=axes, keepdims=True)
    if not keepdims:
        mean, var = np.squeeze(mean, axes), np.squeeze(var, axes)
    return mean.astype(x.dtype), var.astype(x.dtype)


def _broadcast(param, x, axes):
    if param is None:
        return None
    param = np.asarray(param)
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    return param.reshape(shape)


def batch_normalization(x, mean, var, beta, gamma, axis=-1, epsilon=1e-3):
    """``(x - mean) / sqrt(var + epsilon) * gamma + beta`` on the feature ``axis``.

    ``mean``, ``var``, ``beta`` and ``gamma`` have the shape of the feature axes
    (``beta``/``gamma`` may be ``None``); computed as TensorFlow does:
    ``x * inv + (beta - mean * inv)`` with ``inv = gamma / sqrt(var + epsilon)``.
    """
    x = np.asarray(x)
    axes = _axes(axis, x.ndim)
    mean, var = _broadcast(mean, x, axes), _broadcast(var, x, axes)
    beta, gamma = _broadcast(beta, x, axes), _broadcast(gamma, x, axes)
    inv = 1. / np.sqrt(var.astype(np.float64) + epsilon)
    if gamma is not None:
        inv = inv * gamma
    shift = -mean * inv
    if beta is not None:
        shift = shift + beta
    return (x * inv + shift).astype(x.dtype)


def moving_average_update(variable, value, momentum):
    """In place: ``variable = variable * momentum + value * (1 - momentum)`` (Keras)."""
    new = np.asarray(variable) * momentum + np.asarray(value) * (1. - momentum)
    variable[...] = new
    return variable
