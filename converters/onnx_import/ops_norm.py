"""Handlers: BatchNormalization, InstanceNormalization, LayerNormalization, LRN.

Inference-mode ``BatchNormalization`` and single-output ``LayerNormalization`` with
constant parameters are kzoo's Keras layers of the same names (same formulas); the
rest run in the ONNX layers.
"""
import numpy as np

from kzoo.layers import BatchNormalization, LayerNormalization

from .common import keras_weights
from .nn_layers import (OnnxBatchNormalization, OnnxInstanceNormalization,
                        OnnxLayerNormalization, OnnxLRN)
from .ops_conv import data_format_of, spatial_input
from .registry import onnx_op


@onnx_op('BatchNormalization', 1, 6, 7, 9, 14, 15, layout_aware=True)
def batch_normalization(ctx, node, inputs):
    x = inputs[0]
    params = inputs[1:5]
    extra_outputs = [o for o in node.outputs[1:] if o]
    training = bool(node.attr('training_mode', 0)) if node.opset >= 14 else False
    if extra_outputs and not training:
        raise node.fail('the statistics outputs of training-mode BatchNormalization are '
                        'supported from opset 14 (training_mode=1) only')
    if x.rank > 2 and all(p.rank == 1 for p in params):
        x = spatial_input(ctx, x)
    else:
        x = ctx.to_cf(x)
    params = [ctx.to_cf(p) for p in params]
    if not training and not x.is_const and x.dtype == np.float32 and x.rank >= 2 and all(
            p.is_const and p.rank == 1 for p in params):
        # Keras's BatchNormalization at inference: the same formula; weights gamma,
        # beta, moving mean, moving variance
        layer = BatchNormalization(axis=-1 if x.layout == 'cl' else 1,
                                   epsilon=node.attr('epsilon', 1e-5),
                                   momentum=node.attr('momentum', 0.9),
                                   weights=keras_weights([p.const for p in params]),
                                   name=ctx.layer_name())
        return ctx.keras(layer, [x], out_layout=x.layout)
    outputs = ctx.generic(OnnxBatchNormalization, [x] + params, out_layout=x.layout,
                          epsilon=node.attr('epsilon', 1e-5), momentum=node.attr('momentum', 0.9),
                          training_mode=int(training), data_format=data_format_of(x))
    for extra in outputs[1:]:
        extra.layout = 'cf'
    return outputs


@onnx_op('InstanceNormalization', 1, 6, 22, layout_aware=True)
def instance_normalization(ctx, node, inputs):
    x = spatial_input(ctx, inputs[0])
    return ctx.generic(OnnxInstanceNormalization, [x] + [ctx.to_cf(v) for v in inputs[1:3]],
                       out_layout=x.layout, epsilon=node.attr('epsilon', 1e-5),
                       data_format=data_format_of(x))


@onnx_op('LayerNormalization', 17)
def layer_normalization(ctx, node, inputs):
    count = len([o for o in node.outputs if o])
    x, scale, bias = (list(inputs) + [None])[:3]
    axis = node.attr('axis', -1) % max(x.rank, 1)
    shape = x.shape[axis:]
    if count == 1 and not x.is_const and x.dtype == np.float32 and scale.is_const and (
            bias is None or bias.is_const) and all(d is not None for d in shape):
        # Keras's LayerNormalization over the same axes, parameters broadcast to them
        weights = [np.broadcast_to(scale.const, shape)] + (
            [np.broadcast_to(bias.const, shape)] if bias is not None else [])
        layer = LayerNormalization(axis=list(range(axis, x.rank)),
                                   epsilon=node.attr('epsilon', 1e-5), center=bias is not None,
                                   weights=keras_weights(weights), name=ctx.layer_name())
        return ctx.keras(layer, [x])
    return ctx.generic(OnnxLayerNormalization, (list(inputs) + [None])[:3],
                       axis=node.attr('axis', -1), epsilon=node.attr('epsilon', 1e-5),
                       num_outputs=len(node.outputs), dtypes=[x.dtype, np.dtype('float32'),
                                                  np.dtype('float32')])


@onnx_op('LRN', 1, 13, layout_aware=True)
def lrn(ctx, node, inputs):
    x = spatial_input(ctx, inputs[0])
    return ctx.generic(OnnxLRN, [x], out_layout=x.layout, size=node.attr('size'),
                       alpha=node.attr('alpha', 1e-4), beta=node.attr('beta', 0.75),
                       bias=node.attr('bias', 1.0), data_format=data_format_of(x))
