"""Pooling: Max/AveragePooling 1D-3D and the global poolings, in N, C, spatial layout.

``same`` average pooling divides by the real (unpadded) cells, as TensorFlow does:
ONNX's ``count_include_pad=0``. Global pooling with a mask (GlobalAveragePooling1D)
averages the unmasked steps.
"""
from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.conv import window_padding
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import (AveragePooling1D, AveragePooling2D, AveragePooling3D,
                         GlobalAveragePooling1D, GlobalAveragePooling2D,
                         GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                         GlobalMaxPooling3D, MaxPooling1D, MaxPooling2D, MaxPooling3D)
from kzoo.layers.convolutional import spatial_dims


@exporter(MaxPooling1D, MaxPooling2D, MaxPooling3D, AveragePooling1D, AveragePooling2D,
          AveragePooling3D)
def pool(ctx, call):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    attrs = window_padding(spatial_dims(v.shape, layer.data_format), layer.pool_size,
                           layer.strides, (1,) * layer.rank, layer.padding)
    if layer.pool_mode == 'max':
        y = ctx.g.op('MaxPool', x, name=call.name, kernel_shape=list(layer.pool_size),
                     strides=list(layer.strides), **attrs)
    else:
        y = ctx.g.op('AveragePool', x, name=call.name, kernel_shape=list(layer.pool_size),
                     strides=list(layer.strides), count_include_pad=0, **attrs)
    return [Value(y, call.output_shape, v.dtype, perm=perm)]


@exporter(GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, GlobalAveragePooling2D,
          GlobalAveragePooling3D)
def global_pool(ctx, call):
    layer, v = call.layer, call.input
    x, perm = ctx.nc(v, layer.data_format)
    op = 'ReduceMax' if 'Max' in type(layer).__name__ else 'ReduceMean'
    axes = list(range(2, v.rank))
    y = ctx.reduce(op, x, axes, layer.keepdims, name=call.name)
    return [Value(y, call.output_shape, v.dtype, perm=perm if layer.keepdims else None)]


@exporter(GlobalAveragePooling1D, masks=True)
def global_average_1d(ctx, call):
    layer, v, mask = call.layer, call.input, call.mask
    call.out_masks = [None]
    if mask is None:
        return global_pool(ctx, call)
    g = ctx.g
    x = ctx.plain(v)
    steps, feature = (1, 2) if layer.data_format == 'channels_last' else (2, 1)
    weights = ctx.unsqueeze(ctx.cast(mask.name, v.dtype, name=call.sub('mask')), [feature],
                            name=call.sub('expand'))
    total = ctx.reduce('ReduceSum', g.op('Mul', x, weights, name=call.sub('masked')), [steps],
                       layer.keepdims, name=call.sub('sum'))
    count = ctx.reduce('ReduceSum', weights, [steps], layer.keepdims, name=call.sub('count'))
    return [Value(g.op('Div', total, count, name=call.name), call.output_shape, v.dtype)]
