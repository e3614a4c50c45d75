"""Convolutions: Conv1D/2D/3D (groups, dilation, ``same``/``causal``/``full``), the
transposed convolutions, depthwise and separable convolutions.

Every one runs in ONNX's N, C, spatial layout; a channels_last input is transposed
once (:meth:`ExportContext.nc`) and the output stays channels-first for the next layer.
Kernels are transposed from Keras ``(*k, in, out)`` to ONNX ``(out, in, *k)`` when
the file is written.
"""
import numpy as np

from kzoo.backend import conv_utils
from kzoo.converters.onnx_export.activations import apply_activation
from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import (Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D,
                         Conv3DTranspose, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                         SeparableConv2D)
from kzoo.layers.convolutional import spatial_dims


def keras_to_onnx_kernel(kernel):
    """``(*k, a, b)`` -> ``(b, a, *k)``: Conv weights from Keras conv kernels, and
    ConvTranspose weights ``(in, out, *k)`` from Keras transposed kernels (a transposed
    view: the writer copies it into a reused buffer)."""
    n = kernel.ndim - 2
    return kernel.transpose((n + 1, n) + tuple(range(n)))


def kernel_dims(shape):
    n = len(shape) - 2
    return (shape[n + 1], shape[n]) + tuple(shape[:n])


def window_padding(spatial, kernel_size, strides, dilation, padding):
    """ONNX attributes for a Keras window padding: explicit ``pads`` where the amounts
    are known, else ``auto_pad='SAME_UPPER'`` (TensorFlow's ``same``: extra at the end)."""
    n = len(kernel_size)
    if padding == 'valid':
        return {'pads': [0] * (2 * n)}
    if padding == 'same' and any(L is None and s > 1 for L, s in zip(spatial, strides)):
        return {'auto_pad': 'SAME_UPPER'}
    amounts = [conv_utils.pad_amounts(L if L is not None else 1, k, padding, s, d)
               for L, k, s, d in zip(spatial, kernel_size, strides, dilation)]
    return {'pads': [a for a, _ in amounts] + [b for _, b in amounts]}


def _bias(ctx, layer, call):
    bias = getattr(layer, 'bias', None)
    return [ctx.weight(bias, call.name + '/bias')] if bias is not None else []


def _finish(ctx, call, y, perm):
    out = Value(y, call.output_shape, call.input.dtype, perm=perm)
    return [apply_activation(ctx, call.layer.activation, out, call.name, call.layer)]


def _main_name(call):
    return call.name if call.layer.activation.__name__ == 'linear' else call.sub('conv')


@exporter(Conv1D, Conv2D, Conv3D)
def conv(ctx, call):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    kernel = ctx.weight(layer.kernel, call.name + '/kernel', keras_to_onnx_kernel,
                        kernel_dims(tuple(layer.kernel.shape)), key='oihw')
    attrs = window_padding(spatial_dims(v.shape, layer.data_format), layer.kernel_size,
                           layer.strides, layer.dilation_rate, layer.padding)
    y = ctx.g.op('Conv', x, kernel, *_bias(ctx, layer, call), name=_main_name(call),
                 kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                 dilations=list(layer.dilation_rate), group=layer.groups, **attrs)
    return _finish(ctx, call, y, perm)


def _depthwise_weight(ctx, layer, call):
    shape = tuple(int(d) for d in layer.depthwise_kernel.shape)
    n = len(shape) - 2
    channels, multiplier = shape[n], shape[n + 1]

    def transform(k, n=n):
        # (*k, C, M) -> (C*M, 1, *k): output channel c*M + m, as TensorFlow orders them
        flat = k.reshape(k.shape[:n] + (1, -1))
        return keras_to_onnx_kernel(flat)
    dims = (channels * multiplier, 1) + shape[:n]
    return ctx.weight(layer.depthwise_kernel, call.name + '/depthwise_kernel', transform, dims,
                      key='depthwise'), channels


def _depthwise_node(ctx, call, x, name, bias):
    layer, v = call.layer, call.input
    weight, channels = _depthwise_weight(ctx, layer, call)
    attrs = window_padding(spatial_dims(v.shape, layer.data_format), layer.kernel_size,
                           layer.strides, layer.dilation_rate, layer.padding)
    return ctx.g.op('Conv', x, weight, *bias, name=name, kernel_shape=list(layer.kernel_size),
                    strides=list(layer.strides), dilations=list(layer.dilation_rate),
                    group=channels, **attrs)


@exporter(DepthwiseConv1D, DepthwiseConv2D)
def depthwise_conv(ctx, call):
    x, perm = ctx.nc(call.input, call.layer.data_format)
    y = _depthwise_node(ctx, call, x, _main_name(call), _bias(ctx, call.layer, call))
    return _finish(ctx, call, y, perm)


@exporter(SeparableConv1D, SeparableConv2D)
def separable_conv(ctx, call):
    layer = call.layer
    x, perm = ctx.nc(call.input, layer.data_format)
    depthwise = _depthwise_node(ctx, call, x, call.sub('depthwise'), [])
    pointwise = ctx.weight(layer.pointwise_kernel, call.name + '/pointwise_kernel',
                           keras_to_onnx_kernel,
                           kernel_dims(tuple(layer.pointwise_kernel.shape)), key='oihw')
    n = layer.rank
    y = ctx.g.op('Conv', depthwise, pointwise, *_bias(ctx, layer, call), name=_main_name(call),
                 kernel_shape=[1] * n, strides=[1] * n, pads=[0] * (2 * n))
    return _finish(ctx, call, y, perm)


def transpose_padding(layer, length, k, s, d, op):
    """``(pad_begin, pad_end, output_padding)`` reproducing kzoo's crop of the full
    transposed output for one axis of input ``length``."""
    out = conv_utils.deconv_output_length(length, k, layer.padding, op, s, d)
    full = (length - 1) * s + conv_utils.effective_kernel(k, d)
    start = conv_utils.deconv_crop(out, length, k, layer.padding, s, d)
    end = full - start - out
    return (start, end, 0) if end >= 0 else (start, 0, -end)


@exporter(Conv1DTranspose, Conv2DTranspose, Conv3DTranspose)
def conv_transpose(ctx, call):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    n = layer.rank
    ops = layer.output_padding or (None,) * n
    begins, ends, extra = [], [], []
    for L, k, s, d, op in zip(spatial_dims(v.shape, layer.data_format), layer.kernel_size,
                              layer.strides, layer.dilation_rate, ops):
        if L is None:
            # the crop does not depend on the length (only on it modulo the stride)
            first, second = (transpose_padding(layer, L2, k, s, d, op) for L2 in (16 * s, 17 * s))
            if first != second:
                call.fail('its spatial size must be known to export this padding')
            amounts = first
        else:
            amounts = transpose_padding(layer, L, k, s, d, op)
        begins.append(amounts[0])
        ends.append(amounts[1])
        extra.append(amounts[2])
    kernel = ctx.weight(layer.kernel, call.name + '/kernel', keras_to_onnx_kernel,
                        kernel_dims(tuple(layer.kernel.shape)), key='iohw')
    attrs = {}
    if any(extra):
        attrs['output_padding'] = extra
    y = ctx.g.op('ConvTranspose', x, kernel, *_bias(ctx, layer, call), name=_main_name(call),
                 kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                 dilations=list(layer.dilation_rate), pads=begins + ends, **attrs)
    return _finish(ctx, call, y, perm)
