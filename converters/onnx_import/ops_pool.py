"""Handlers: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool.

kzoo's Keras pooling layers when they compute the node exactly (no pads or
``SAME_UPPER``, no dilations, ``ceil_mode`` that changes nothing, averages that do
not count padding); :class:`OnnxPool` for the rest.
"""
import numpy as np

from kzoo.layers import (AveragePooling1D, AveragePooling2D, AveragePooling3D,
                         GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D,
                         GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D,
                         MaxPooling1D, MaxPooling2D, MaxPooling3D)

from .nn_layers import OnnxGlobalPool, OnnxPool, window_output
from .ops_conv import data_format_of, spatial_input
from .registry import onnx_op


KERAS_POOLING = {('max', 1): MaxPooling1D, ('max', 2): MaxPooling2D, ('max', 3): MaxPooling3D,
                 ('avg', 1): AveragePooling1D, ('avg', 2): AveragePooling2D,
                 ('avg', 3): AveragePooling3D}
KERAS_GLOBAL = {('avg', 1): GlobalAveragePooling1D, ('avg', 2): GlobalAveragePooling2D,
                ('avg', 3): GlobalAveragePooling3D, ('max', 1): GlobalMaxPooling1D,
                ('max', 2): GlobalMaxPooling2D, ('max', 3): GlobalMaxPooling3D}


def _keras_padding(node, x, kind, kernel, strides):
    """``'valid'`` or ``'same'`` when Keras's pooling computes this node exactly."""
    n = len(kernel)
    if any(d != 1 for d in node.attr('dilations') or [1] * n):
        return None
    auto_pad = node.attr('auto_pad', 'NOTSET')
    if auto_pad == 'SAME_UPPER' and not node.attr('ceil_mode', 0):
        # TensorFlow's same: pads at the end first; averages count real cells only
        return 'same' if kind == 'max' or not node.attr('count_include_pad', 0) else None
    pads = node.attr('pads') if auto_pad == 'NOTSET' else None
    if auto_pad not in ('NOTSET', 'VALID') or any(pads or []):
        return None
    if node.attr('ceil_mode', 0):
        sizes = list(x.onnx_shape[2:])
        if any(d is None for d in sizes) or any(
                window_output(d, k, s, 1, (0, 0), True) != window_output(d, k, s, 1, (0, 0))
                for d, k, s in zip(sizes, kernel, strides)):
            return None
    return 'valid'


def _pool(ctx, node, inputs, kind):
    x = spatial_input(ctx, inputs[0])
    with_indices = kind == 'max' and len(node.outputs) > 1 and bool(node.outputs[1])
    if with_indices:
        x = ctx.to_cf(x)
    kernel = node.attr('kernel_shape')
    strides = node.attr('strides') or [1] * len(kernel)
    if not with_indices and not x.is_const and x.dtype.kind == 'f' and (
            kind, len(kernel)) in KERAS_POOLING and x.rank == len(kernel) + 2:
        padding = _keras_padding(node, x, kind, kernel, strides)
        if padding is not None:
            layer = KERAS_POOLING[kind, len(kernel)](
                tuple(kernel), strides=tuple(strides), padding=padding,
                data_format=data_format_of(x), name=ctx.layer_name())
            return ctx.keras(layer, [x], out_layout=x.layout)
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
    if not x.is_const and x.dtype.kind == 'f' and (kind, x.rank - 2) in KERAS_GLOBAL:
        layer = KERAS_GLOBAL[kind, x.rank - 2](data_format=data_format_of(x), keepdims=True,
                                               name=ctx.layer_name())
        return ctx.keras(layer, [x], out_layout=x.layout)
    return ctx.generic(OnnxGlobalPool, [x], out_layout=x.layout, kind=kind,
                       data_format=data_format_of(x))


@onnx_op('GlobalAveragePool', 1, 22, layout_aware=True)
def global_average_pool(ctx, node, inputs):
    return _global(ctx, node, inputs, 'avg')


@onnx_op('GlobalMaxPool', 1, 22, layout_aware=True)
def global_max_pool(ctx, node, inputs):
    return _global(ctx, node, inputs, 'max')
