"""Convolutions on tensorflow with TensorFlow's kernels, as Keras 3 calls them.

Data and kernels are in Keras layout (kernels ``(*k, in, out)``; transposed
convolutions ``(*k, out, in)``). TensorFlow's CPU kernels work channels_last, so a
channels_first input is transposed around the op. What the CPU kernels lack is built
from them with the same arithmetic:

- ``causal`` and ``full`` padding: explicit ``tf.pad``, then ``VALID``;
- grouped convolutions: one convolution per group, concatenated (Keras compiles the
  grouped op with XLA instead);
- strides and dilation together, or unequal depthwise strides: the dilated window
  at stride 1, then every ``stride``-th output (what Keras 3 does for depthwise);
- transposed convolutions: the full ``VALID`` output of ``tf.nn.conv_transpose``,
  cropped to the Keras output shape; dilation by a kernel with zeros between taps.

>>> import tensorflow as tf
>>> x = tf.reshape(tf.range(5.), (1, 5, 1))
>>> conv1d(x, tf.ones((2, 1, 1)))[0, :, 0].numpy().tolist()
[1.0, 3.0, 5.0, 7.0]
"""
import tensorflow as tf

from kzoo.backend import conv_utils
from kzoo.backend.common import normalize_data_format
from kzoo.backend.tensorflow_backend.core import convert_to_tensor

__all__ = ['conv1d', 'conv2d', 'conv3d', 'depthwise_conv1d', 'depthwise_conv2d',
           'separable_conv1d', 'separable_conv2d', 'conv1d_transpose', 'conv2d_transpose',
           'conv3d_transpose', 'bias_add']


# ---- layout helpers (also used by pooling.py and nn.py) --------------------------------

def channels_last(data_format):
    return normalize_data_format(data_format) == 'channels_last'


def to_nxc(x, data_format):
    """``x`` channels_last (transposed when the data is channels_first)."""
    x = convert_to_tensor(x)
    if channels_last(data_format):
        return x
    rank = len(x.shape)
    return tf.transpose(x, [0] + list(range(2, rank)) + [1])


def from_nxc(y, data_format):
    if channels_last(data_format):
        return y
    rank = len(y.shape)
    return tf.transpose(y, [0, rank - 1] + list(range(1, rank - 1)))


def pad_spatial(x, pads, value=0.):
    """Pad the spatial axes of a channels_last tensor by ``[(before, after), ...]``."""
    if not any(b or a for b, a in pads):
        return x
    return tf.pad(x, [[0, 0]] + [list(p) for p in pads] + [[0, 0]], constant_values=value)


def spatial_pads(size, kernel_size, padding, strides, dilation):
    return [conv_utils.pad_amounts(int(s), k, padding, st, d)
            for s, k, st, d in zip(size, kernel_size, strides, dilation)]


def tf_padding(x, kernel_size, padding, strides, dilation, value=0.):
    """``(x, 'SAME' or 'VALID')``: TensorFlow's own padding names where they apply,
    else ``x`` explicitly padded (causal, full) and ``'VALID'``."""
    if padding in ('same', 'valid'):
        return x, padding.upper()
    pads = spatial_pads(x.shape[1:-1], kernel_size, padding, strides, dilation)
    return pad_spatial(x, pads, value), 'VALID'


def _tuple(value, n):
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _subsample(y, strides):
    return y[(slice(None),) + tuple(slice(None, None, s) for s in strides) + (slice(None),)]


def _operands(x, kernel, data_format):
    kernel = convert_to_tensor(kernel)
    x = to_nxc(x, data_format)
    if x.dtype != kernel.dtype:
        x = tf.cast(x, kernel.dtype)
    return x, kernel


def _windowed(op, x, kernel_size, strides, padding, dilation):
    """Run ``op(x, strides, padding_name)``; strides with dilation: stride 1, subsampled."""
    if any(s > 1 for s in strides) and any(d > 1 for d in dilation):
        pads = spatial_pads(x.shape[1:-1], kernel_size, padding, strides, dilation)
        y = op(pad_spatial(x, pads), (1,) * len(strides), 'VALID')
        return _subsample(y, strides)
    x, name = tf_padding(x, kernel_size, padding, strides, dilation)
    return op(x, strides, name)


# ---- convolutions ---------------------------------------------------------------------

def _conv(x, kernel, n, strides, padding, data_format, dilation_rate, groups=1):
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    x, kernel = _operands(x, kernel, data_format)
    kernel_size = tuple(kernel.shape[:n])
    groups = int(groups)
    if groups == 1:
        kernels, inputs = [kernel], [x]
    else:
        # TF's CPU kernels have no grouped convolution: group g sees input channels
        # g*in..(g+1)*in and makes output channels g*per_out..(g+1)*per_out.
        kernels = tf.split(kernel, groups, axis=-1)
        inputs = tf.split(x, groups, axis=-1)

    outputs = []
    for xi, ki in zip(inputs, kernels):
        def op(t, st, pad, ki=ki):
            return tf.nn.convolution(t, ki, strides=st, padding=pad, dilations=dilation)
        outputs.append(_windowed(op, xi, kernel_size, strides, padding, dilation))
    y = outputs[0] if groups == 1 else tf.concat(outputs, axis=-1)
    return from_nxc(y, data_format)


def conv1d(x, kernel, strides=1, padding='valid', data_format=None, dilation_rate=1, groups=1):
    """1D convolution (cross-correlation); kernel ``(length, in, out)``."""
    return _conv(x, kernel, 1, strides, padding, data_format, dilation_rate, groups)


def conv2d(x, kernel, strides=(1, 1), padding='valid', data_format=None, dilation_rate=(1, 1),
           groups=1):
    """2D convolution (cross-correlation); kernel ``(rows, cols, in, out)``."""
    return _conv(x, kernel, 2, strides, padding, data_format, dilation_rate, groups)


def conv3d(x, kernel, strides=(1, 1, 1), padding='valid', data_format=None,
           dilation_rate=(1, 1, 1), groups=1):
    """3D convolution (cross-correlation); kernel ``(d1, d2, d3, in, out)``."""
    return _conv(x, kernel, 3, strides, padding, data_format, dilation_rate, groups)


def _depthwise(x, kernel, strides, padding, data_format, dilation_rate, pointwise=None):
    """``tf.nn.depthwise_conv2d`` (or ``separable_conv2d``); 1D runs as 2D on a unit
    row with equal strides, as Keras 3 does."""
    x, kernel = _operands(x, kernel, data_format)
    n = len(kernel.shape) - 2
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    if n == 1:
        x, kernel = tf.expand_dims(x, 1), tf.expand_dims(kernel, 0)
        if pointwise is not None:
            pointwise = tf.expand_dims(convert_to_tensor(pointwise), 0)
        strides, dilation = (strides[0],) * 2, (1,) + dilation
    kernel_size = tuple(int(k) for k in kernel.shape[:2])

    def op(t, st, pad):
        if pointwise is None:
            return tf.nn.depthwise_conv2d(t, kernel, (1,) + st + (1,), pad, dilations=dilation)
        return tf.nn.separable_conv2d(t, kernel, pointwise, (1,) + st + (1,), pad,
                                      dilations=dilation)

    if strides[0] != strides[1]:
        # The depthwise kernel takes only equal row and column strides.
        pads = spatial_pads(x.shape[1:-1], kernel_size, padding, strides, dilation)
        y = _subsample(op(pad_spatial(x, pads), (1, 1), 'VALID'), strides)
    else:
        y = _windowed(op, x, kernel_size, strides, padding, dilation)
    if n == 1:
        y = tf.squeeze(y, [1])
    return from_nxc(y, data_format)


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
    return _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate,
                      pointwise_kernel)


def separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides=(1, 1), padding='valid',
                     data_format=None, dilation_rate=(1, 1)):
    """Depthwise then pointwise 2D convolution (strides and dilation on the depthwise)."""
    return _depthwise(x, depthwise_kernel, strides, padding, data_format, dilation_rate,
                      pointwise_kernel)


# ---- transposed convolutions ------------------------------------------------------------

def output_spatial(output_shape, n, data_format):
    """Spatial part of a Keras ``output_shape`` (with or without batch and channels)."""
    shape = tuple(output_shape)
    if len(shape) == n:
        return tuple(int(s) for s in shape)
    if len(shape) != n + 2:
        raise ValueError('output_shape %r must have %d or %d entries' % (shape, n, n + 2))
    return tuple(int(s) for s in (shape[1:-1] if channels_last(data_format) else shape[2:]))


def _dilate_kernel(kernel, dilation):
    """Kernel with ``d - 1`` zero taps between taps along each spatial axis."""
    for axis, d in enumerate(dilation):
        if d == 1:
            continue
        k = int(kernel.shape[axis])
        # tap, d - 1 zeros, tap, ...: stack on a new axis after this one, then merge
        stacked = tf.stack([kernel] + [tf.zeros_like(kernel)] * (d - 1), axis=axis + 1)
        shape = list(kernel.shape)
        shape[axis] = k * d
        kernel = tf.reshape(stacked, shape)
        kernel = tf.gather(kernel, tf.range((k - 1) * d + 1), axis=axis)
    return kernel


def _conv_transpose(x, kernel, output_shape, strides, padding, data_format, dilation_rate):
    x, kernel = _operands(x, kernel, data_format)
    n = len(kernel.shape) - 2
    strides, dilation = _tuple(strides, n), _tuple(dilation_rate, n)
    out_size = output_spatial(output_shape, n, data_format)
    size = [int(s) for s in x.shape[1:-1]]
    ksize = tuple(int(k) for k in kernel.shape[:n])
    # TF's CPU transposed kernels take no dilation: spread the taps out instead.
    full_kernel = _dilate_kernel(kernel, dilation)
    k_eff = [int(k) for k in full_kernel.shape[:n]]
    full = [(s - 1) * st + k for s, st, k in zip(size, strides, k_eff)]
    batch = tf.shape(x)[0]
    y = tf.nn.conv_transpose(x, full_kernel, tf.stack([batch] + full + [kernel.shape[-2]]),
                             strides, padding='VALID')
    starts = [conv_utils.deconv_crop(o, s, k, padding, st, d)
              for o, s, k, st, d in zip(out_size, size, ksize, strides, dilation)]
    extra = [max(st + o - f, 0) for st, o, f in zip(starts, out_size, full)]
    y = pad_spatial(y, [(0, e) for e in extra])
    y = y[(slice(None),) + tuple(slice(st, st + o) for st, o in zip(starts, out_size))]
    return from_nxc(y, data_format)


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
    """Add a per-channel bias on the channel axis of ``data_format`` (Keras 3 adds a
    reshaped bias, not ``tf.nn.bias_add``)."""
    x, bias = convert_to_tensor(x), convert_to_tensor(bias)
    if bias.dtype != x.dtype:
        bias = tf.cast(bias, x.dtype)
    if not channels_last(data_format) and len(x.shape) > 2:
        bias = tf.reshape(bias, (bias.shape[0],) + (1,) * (len(x.shape) - 2))
    return x + bias
