"""Convolutions on torch, on data in Keras layout without layout copies.

A channels_last input ``(N, *spatial, C)`` is handed to ``F.convNd`` as the view
``x.permute(0, C-axis, *spatial)``: an NC... tensor in channels-last memory format,
which torch convolves natively; the result is permuted back, again a view.
Only asymmetric padding (TensorFlow's ``same`` with an odd total, ``causal``, ``full``)
costs an ``F.pad``. Kernels in Keras layout ``(*k, in, out)`` become torch weights
``(out, in, *k)`` once per kernel version (:func:`prepared`), not on every call.

>>> import torch
>>> x = torch.arange(5.).reshape(1, 5, 1)
>>> conv1d(x, torch.ones(2, 1, 1))[0, :, 0].tolist()
[1.0, 3.0, 5.0, 7.0]
"""
import weakref

import torch
import torch.nn.functional as F

from kzoo.backend import conv_utils
from kzoo.backend.common import normalize_data_format
from kzoo.backend.torch_backend.core import convert_to_tensor

__all__ = ['conv1d', 'conv2d', 'conv3d', 'conv_bias', 'depthwise_conv1d', 'depthwise_conv2d',
           'separable_conv1d', 'separable_conv2d', 'conv1d_transpose', 'conv2d_transpose',
           'conv3d_transpose', 'bias_add']

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


# ---- layout helpers (also used by pooling.py) ----------------------------------------

def channels_last(data_format):
    return normalize_data_format(data_format) == 'channels_last'


def to_ncx(x, data_format):
    """NC... view of ``x`` (a permuted view when the data is channels_last)."""
    x = convert_to_tensor(x)
    if channels_last(data_format):
        return x.permute(0, x.dim() - 1, *range(1, x.dim() - 1))
    return x


def from_ncx(y, data_format):
    if channels_last(data_format):
        return y.permute(0, *range(2, y.dim()), 1)
    return y


def kernel_to_torch(kernel, data_format=None):
    """``(*k, a, b)`` Keras kernel as the torch weight ``(b, a, *k)`` (see :func:`prepared`)."""
    return prepared(kernel, 'conv', _permute_kernel, data_format)


def _permute_kernel(kernel):
    n = kernel.dim() - 2
    return kernel.permute(n + 1, n, *range(n))


def _depthwise_weight(kernel):
    # (*k, C, M) -> (C*M, 1, *k): group c produces outputs c*M .. c*M+M-1, TF's order.
    n = kernel.dim() - 2
    return kernel.reshape(tuple(kernel.shape[:n]) + (1, -1)).permute(n + 1, n, *range(n))


# Keras-layout kernel -> torch-layout weight, kept while the kernel is alive and unchanged
# (its _version moves on every in-place update: set_weights, optimizer steps).
_PREPARED = {}
_FORMATS = {4: torch.channels_last, 5: torch.channels_last_3d}


def prepared(kernel, kind, transform, data_format=None):
    """``transform(kernel)``, a view, as a contiguous weight in the memory format of the
    data (channels-last for channels_last data, so torch neither copies the weight nor
    changes the data's layout), cached per kernel and version: inference does not copy
    the weights on every call. Under autograd the view is used directly."""
    if kernel.requires_grad and torch.is_grad_enabled():
        return transform(kernel)
    last = channels_last(data_format)
    key = (id(kernel), kind, last)
    entry = _PREPARED.get(key)
    if entry is not None and entry[0]() is kernel and entry[1] == kernel._version:
        return entry[2]
    weight = transform(kernel).detach()
    weight = weight.contiguous(memory_format=_FORMATS.get(weight.dim(), torch.contiguous_format)
                               if last else torch.contiguous_format)
    ref = weakref.ref(kernel, lambda _, key=key: _PREPARED.pop(key, None))
    _PREPARED[key] = (ref, kernel._version, weight)
    return weight


def pad_for_window(x, kernel_size, padding, strides, dilation, value=0.):
    """``(x, symmetric_padding)``: pads handed to torch when both sides are equal,
    else ``x`` explicitly padded (``F.pad``) and zero padding."""
    size = x.shape[2:]
    pads = [conv_utils.pad_amounts(int(s), k, padding, st, d)
            for s, k, st, d in zip(size, kernel_size, strides, dilation)]
    if all(b == a for b, a in pads):
        return x, tuple(b for b, _ in pads)
    flat = []
    for before, after in reversed(pads):  # F.pad lists the last axis first
        flat += [before, after]
    return F.pad(x, flat, value=value), (0,) * len(pads)


def _tuple(value, n):
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


# ---- convolutions ---------------------------------------------------------------------

def _conv(x, weight, n, strides, padding, data_format, dilation_rate, groups=1, bias=None):
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    x = to_ncx(x, data_format)
    x, pads = pad_for_window(x, tuple(weight.shape[2:]), padding, strides, dilation)
    y = _CONV[n](x, weight, bias, strides, pads, dilation, groups)
    return from_ncx(y, data_format)


def conv_bias(x, kernel, bias=None, strides=1, padding='valid', data_format=None,
              dilation_rate=1, groups=1):
    """Convolution of the kernel's rank with the bias added inside torch's kernel."""
    n = kernel.dim() - 2
    if bias is not None and bias.dtype != x.dtype:
        bias = bias.to(x.dtype)
    return _conv(x, kernel_to_torch(kernel, data_format), n, strides, padding, data_format,
                 dilation_rate, groups, bias)


def conv1d(x, kernel, strides=1, padding='valid', data_format=None, dilation_rate=1, groups=1):
    """1D convolution (cross-correlation); kernel ``(length, in, out)``."""
    return _conv(x, kernel_to_torch(kernel, data_format), 1, strides, padding, data_format,
                 dilation_rate, groups)


def conv2d(x, kernel, strides=(1, 1), padding='valid', data_format=None, dilation_rate=(1, 1),
           groups=1):
    """2D convolution (cross-correlation); kernel ``(rows, cols, in, out)``."""
    return _conv(x, kernel_to_torch(kernel, data_format), 2, strides, padding, data_format,
                 dilation_rate, groups)


def conv3d(x, kernel, strides=(1, 1, 1), padding='valid', data_format=None,
           dilation_rate=(1, 1, 1), groups=1):
    """3D convolution (cross-correlation); kernel ``(d1, d2, d3, in, out)``."""
    return _conv(x, kernel_to_torch(kernel, data_format), 3, strides, padding, data_format,
                 dilation_rate, groups)


def _depthwise(x, kernel, strides, padding, data_format, dilation_rate):
    n = kernel.dim() - 2
    weight = prepared(kernel, 'depthwise', _depthwise_weight, data_format)
    return _conv(x, weight, n, strides, padding, data_format, dilation_rate, kernel.shape[-2])


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
    return _conv(y, kernel_to_torch(pointwise_kernel, data_format), 1, 1, 'valid', data_format, 1)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding='valid',
                     data_format=None, dilation_rate=(1, 1)):
    """Depthwise then pointwise 2D convolution (strides and dilation on the depthwise)."""
    y = _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate)
    return _conv(y, kernel_to_torch(pointwise_kernel, data_format), 2, 1, 'valid', data_format, 1)


# ---- transposed convolutions ------------------------------------------------------------

def output_spatial(output_shape, n, data_format):
    """Spatial part of a Keras ``output_shape`` (with or without batch and channels)."""
    shape = tuple(output_shape)
    if len(shape) == n:
        return tuple(int(s) for s in shape)
    if len(shape) != n + 2:
        raise ValueError('output_shape %r must have %d or %d entries' % (shape, n, n + 2))
    return tuple(int(s) for s in (shape[1:-1] if channels_last(data_format) else shape[2:]))


def _conv_transpose(x, kernel, output_shape, strides, padding, data_format, dilation_rate):
    n = kernel.dim() - 2
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    out_size = output_spatial(output_shape, n, data_format)
    x = to_ncx(x, data_format)
    size = [int(s) for s in x.shape[2:]]
    ksize = tuple(kernel.shape[:n])
    # (*k, out, in) -> torch's transposed weight (in, out, *k); no padding: the full
    # output, cropped and (for output_padding past its end) zero-extended below.
    y = _CONV_T[n](x, kernel_to_torch(kernel, data_format), None, strides, 0, 0, 1, dilation)
    extend = []
    for axis, (o, s, k, st, d) in enumerate(zip(out_size, size, ksize, strides, dilation)):
        start = conv_utils.deconv_crop(o, s, k, padding, st, d)
        full = int(y.shape[2 + axis])
        if start or full != o:
            y = y.narrow(2 + axis, start, min(o, full - start))
        extend.append(max(start + o - full, 0))
    if any(extend):
        flat = []
        for e in reversed(extend):
            flat += [0, e]
        y = F.pad(y, flat)
    return from_ncx(y, data_format)


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
    if not channels_last(data_format) and x.dim() > 2:
        bias = bias.reshape((bias.shape[0],) + (1,) * (x.dim() - 2))
    return x + bias

