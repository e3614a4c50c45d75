"""Handlers: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""
import numpy as np

from .ops_conv import data_format_of, spatial_input
from .nn_layers import OnnxGlobalPool, OnnxPool
from .registry import onnx_op


def _pool(ctx, node, inputs, kind):
    x = spatial_input(ctx, inputs[0])
    with_indices = kind == 'max' and len(node.outputs) > 1 and bool(node.outputs[1])
    if with_indices:
        x = ctx.to_cf(x)
    options = dict(kind=kind, kernel_shape=node.attr('kernel_shape'),
                   strides=node.attr('strides'), pads=node.attr('pads'),
                   dilations=node.attr('dilations'), auto_pad=node.attr('auto_pad', 'NOTSET'),
                   ceil_mode=node.attr('ceil_mode', 0),
                   count_include_pad=node.attr('count_include_pad', 0),
                   with_indices=with_indices, storage_order=node.attr('storage_order', 0),
                   data_format=data_format_of(x))
    return ctx.generic(OnnxPool, [x], out_layout=x.layout, dtypes=[x.dtype, np.dtype('int64')],
                       **options)


@onnx_op('MaxPool', 1, 8, 10, 11, 12, 22, layout_aware=True)
def max_pool(ctx, node, inputs):
    return _pool(ctx, node, inputs, 'max')


@onnx_op('AveragePool', 1, 7, 10, 11, 19, 22, layout_aware=True)
def average_pool(ctx, node, inputs):
    return _pool(ctx, node, inputs, 'avg')


def _global(ctx, node, inputs, kind):
    x = spatial_input(ctx, inputs[0])
    return ctx.generic(OnnxGlobalPool, [x], out_layout=x.layout, kind=kind,
                       data_format=data_format_of(x))


@onnx_op('GlobalAveragePool', 1, 22, layout_aware=True)
def global_average_pool(ctx, node, inputs):
    return _global(ctx, node, inputs, 'avg')


@onnx_op('GlobalMaxPool', 1, 22, layout_aware=True)
def global_max_pool(ctx, node, inputs):
    return _global(ctx, node, inputs, 'max')
