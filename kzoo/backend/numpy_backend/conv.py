"""Convolutions in numpy: the exact reference (forward only).

Data and kernels are in Keras layout: ``x`` is ``(batch, *spatial, channels)`` for
``channels_last`` or ``(batch, channels, *spatial)`` for ``channels_first``; kernels
are ``(*kernel_size, in, out)`` (transposed convolutions: ``(*kernel_size, out, in)``).
Windows are strided views of the padded input (``sliding_window_view``) contracted
with the kernel in float64, so results are exact to float32 rounding.

>>> import numpy as np
>>> x = np.arange(5, dtype='float32').reshape(1, 5, 1)
>>> conv1d(x, np.ones((2, 1, 1), 'float32'))[0, :, 0].tolist()
[1.0, 3.0, 5.0, 7.0]
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kzoo.backend import conv_utils
from kzoo.backend.common import normalize_data_format

__all__ = ['conv1d', 'conv2d', 'conv3d', 'depthwise_conv1d', 'depthwise_conv2d',
           'separable_conv1d', 'separable_conv2d', 'conv1d_transpose', 'conv2d_transpose',
           'conv3d_transpose', 'bias_add']


# ---- layout helpers (also used by pooling.py) ----------------------------------------

def to_channels_last(x, data_format):
    x = np.asarray(x)
    if normalize_data_format(data_format) == 'channels_first':
        return np.moveaxis(x, 1, -1)
    return x


def from_channels_last(x, data_format):
    if normalize_data_format(data_format) == 'channels_first':
        return np.moveaxis(x, -1, 1)
    return x


def pad_spatial(x, pads, value=0.):
    """Pad the spatial axes of a channels_last array by ``[(before, after), ...]``."""
    if not any(b or a for b, a in pads):
        return x
    return np.pad(x, [(0, 0)] + [tuple(p) for p in pads] + [(0, 0)], constant_values=value)


def windows(x, kernel_size, strides, dilation):
    """View ``(batch, *out, channels, *kernel_size)`` of a padded channels_last array."""
    n = len(kernel_size)
    k_eff = [conv_utils.effective_kernel(k, d) for k, d in zip(kernel_size, dilation)]
    view = sliding_window_view(x, k_eff, axis=tuple(range(1, n + 1)))
    index = ((slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)
             + tuple(slice(None, None, d) for d in dilation))
    return view[index]


def spatial_pads(shape, kernel_size, padding, strides, dilation):
    return [conv_utils.pad_amounts(n, k, padding, s, d)
            for n, k, s, d in zip(shape, kernel_size, strides, dilation)]


def _tuple(value, n):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def _compute_dtype(x):
    return np.float64 if x.dtype.kind == 'f' and x.itemsize <= 8 else x.dtype


# ---- convolutions ---------------------------------------------------------------------

def _conv(x, kernel, strides, padding, data_format, dilation_rate, groups=1):
    kernel = np.asarray(kernel)
    n = kernel.ndim - 2
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    x = to_channels_last(x, data_format)
    out_dtype = np.result_type(x.dtype, kernel.dtype)
    work = x.astype(_compute_dtype(x))
    pads = spatial_pads(work.shape[1:-1], kernel.shape[:n], padding, strides, dilation)
    win = windows(pad_spatial(work, pads), kernel.shape[:n], strides, dilation)
    k = kernel.astype(work.dtype)
    c_in, c_out = k.shape[-2], k.shape[-1]
    win_axes = [n + 1] + list(range(n + 2, 2 * n + 2))
    ker_axes = [n] + list(range(n))
    if groups == 1:
        out = np.tensordot(win, k, axes=(win_axes, ker_axes))
    else:
        per_out = c_out // groups
        out = np.concatenate([
            np.tensordot(win[(slice(None),) * (n + 1) + (slice(g * c_in, (g + 1) * c_in),)],
                         k[..., g * per_out:(g + 1) * per_out], axes=(win_axes, ker_axes))
            for g in range(groups)], axis=-1)
    return from_channels_last(out.astype(out_dtype), data_format)


def conv1d(x, kernel, strides=1, padding='valid', data_format=None, dilation_rate=1, groups=1):
    """1D convolution (cross-correlation); kernel ``(length, in, out)``."""
    return _conv(x, kernel, strides, padding, data_format, dilation_rate, groups)


def conv2d(x, kernel, strides=(1, 1), padding='valid', data_format=None, dilation_rate=(1, 1),
           groups=1):
    """2D convolution (cross-correlation); kernel ``(rows, cols, in, out)``."""
    return _conv(x, kernel, strides, padding, data_format, dilation_rate, groups)


def conv3d(x, kernel, strides=(1, 1, 1), padding='valid', data_format=None,
           dilation_rate=(1, 1, 1), groups=1):
    """3D convolution (cross-correlation); kernel ``(d1, d2, d3, in, out)``."""
    return _conv(x, kernel, strides, padding, data_format, dilation_rate, groups)


def _depthwise(x, kernel, strides, padding, data_format, dilation_rate):
    kernel = np.asarray(kernel)
    n = kernel.ndim - 2
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    x = to_channels_last(x, data_format)
    out_dtype = np.result_type(x.dtype, kernel.dtype)
    work = x.astype(_compute_dtype(x))
    pads = spatial_pads(work.shape[1:-1], kernel.shape[:n], padding, strides, dilation)
    win = windows(pad_spatial(work, pads), kernel.shape[:n], strides, dilation)
    letters = 'abcdefgh'[:n]
    # windows: batch, out..., channel, kernel...; kernel: kernel..., channel, multiplier
    out = np.einsum('N%sC%s,%sCM->N%sCM' % (letters.upper(), letters, letters, letters.upper()),
                    win, kernel.astype(work.dtype))
    # Output channel c * multiplier + m, as TensorFlow orders it.
    out = out.reshape(out.shape[:-2] + (-1,))
    return from_channels_last(out.astype(out_dtype), data_format)


def depthwise_conv1d(x, depthwise_kernel, strides=1, padding='valid', data_format=None,
                     dilation_rate=1):
    """Depthwise 1D convolution; kernel ``(length, in, depth_multiplier)``."""
    return _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate)


def depthwise_conv2d(x, depthwise_kernel, strides=(1, 1), padding='valid', data_format=None,
                     dilation_rate=(1, 1)):
    """Depthwise 2D convolution; kernel ``(rows, cols, in, depth_multiplier)``."""
    return _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, strides=1, padding='valid',
                     data_format=None, dilation_rate=1):
    """Depthwise then pointwise 1D convolution (strides and dilation on the depthwise)."""
    y = _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return _conv(y, pointwise_kernel, 1, 'valid', data_format, 1)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding='valid',
                     data_format=None, dilation_rate=(1, 1)):
    """Depthwise then pointwise 2D convolution (strides and dilation on the depthwise)."""
    y = _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return _conv(y, pointwise_kernel, (1, 1), 'valid', data_format, (1, 1))


# ---- transposed convolutions ------------------------------------------------------------

def _conv_transpose(x, kernel, output_shape, strides, padding, data_format, dilation_rate):
    kernel = np.asarray(kernel)
    n = kernel.ndim - 2
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    data_format = normalize_data_format(data_format)
    x = to_channels_last(x, data_format)
    out_dtype = np.result_type(x.dtype, kernel.dtype)
    work = x.astype(_compute_dtype(x))
    k = kernel.astype(work.dtype)
    size = tuple(x.shape[1:-1])
    out_size = output_spatial(output_shape, n, data_format)
    full = [(s - 1) * st + conv_utils.effective_kernel(ks, d)
            for s, st, ks, d in zip(size, strides, kernel.shape[:n], dilation)]
    y = np.zeros((work.shape[0],) + tuple(full) + (k.shape[-2],), work.dtype)
    # Each kernel tap scatters the whole input, strided, into the full output.
    for tap in np.ndindex(*kernel.shape[:n]):
        contrib = np.tensordot(work, k[tap], axes=([-1], [1]))
        index = (slice(None),) + tuple(
            slice(t * d, t * d + (s - 1) * st + 1, st)
            for t, d, s, st in zip(tap, dilation, size, strides)) + (slice(None),)
        y[index] += contrib
    starts = [conv_utils.deconv_crop(o, s, ks, padding, st, d)
              for o, s, ks, st, d in zip(out_size, size, kernel.shape[:n], strides, dilation)]
    extra = [max(st + o - f, 0) for st, o, f in zip(starts, out_size, full)]
    y = pad_spatial(y, [(0, e) for e in extra])
    y = y[(slice(None),) + tuple(slice(st, st + o) for st, o in zip(starts, out_size))]
    return from_channels_last(y.astype(out_dtype), data_format)


def output_spatial(output_shape, n, data_format):
    """Spatial part of a Keras ``output_shape`` (with or without batch and channels)."""
    shape = tuple(output_shape)
    if len(shape) == n:
        return tuple(int(s) for s in shape)
    if len(shape) != n + 2:
        raise ValueError('output_shape %r must have %d or %d entries' % (shape, n, n + 2))
    spatial = shape[2:] if normalize_data_format(data_format) == 'channels_first' else shape[1:-1]
    return tuple(int(s) for s in spatial)


def conv1d_transpose(x, kernel, output_shape, strides=1, padding='valid', data_format=None,
                     dilation_rate=1):
    """Transposed 1D convolution; kernel ``(length, out, in)``."""
    return _conv_transpose(x, kernel, output_shape, strides, padding, data_format, dilation_rate)


def conv2d_transpose(x, kernel, output_shape, strides=(1, 1), padding='valid', data_format=None,
                     dilation_rate=(1, 1)):
    """Transposed 2D convolution; kernel ``(rows, cols, out, in)``.

    ``output_shape`` is the full output shape (batch first) or its spatial part.
    """
    return _conv_transpose(x, kernel, output_shape, strides, padding, data_format, dilation_rate)


def conv3d_transpose(x, kernel, output_shape, strides=(1, 1, 1), padding='valid',
                     data_format=None, dilation_rate=(1, 1, 1)):
    """Transposed 3D convolution; kernel ``(d1, d2, d3, out, in)``."""
    return _conv_transpose(x, kernel, output_shape, strides, padding, data_format, dilation_rate)


def bias_add(x, bias, data_format=None):
    """Add a per-channel bias on the channel axis of ``data_format``."""
    x = np.asarray(x)
    bias = np.asarray(bias)
    if normalize_data_format(data_format) == 'channels_first' and x.ndim > 2:
        bias = bias.reshape((bias.shape[0],) + (1,) * (x.ndim - 2))
    return (x + bias).astype(np.result_type(x.dtype, bias.dtype), copy=False)
