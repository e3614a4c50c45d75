"""Core layers: Dense, Flatten, Reshape, Permute, RepeatVector, Masking, the identities
at inference (Dropout, noise, spatial dropout, ActivityRegularization), and Lambda
(refused: it is arbitrary Python).

``Flatten`` of an NCHW tensor flattens in ONNX order and records the permutation of
features; the ``Dense`` after it permutes its kernel rows to match, so no Transpose is
needed in front of the classifier.
"""
import hashlib

import numpy as np

from kzoo.converters.onnx_export.activations import apply_activation
from kzoo.converters.onnx_export.context import Value, identity, inverse
from kzoo.converters.onnx_export.graph import GatheredRows
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import (ActivityRegularization, Dense, Dropout, Flatten, GaussianDropout,
                         GaussianNoise, Lambda, Masking, Permute, RepeatVector, Reshape,
                         SpatialDropout1D, SpatialDropout2D, SpatialDropout3D)


@exporter(Dense)
def dense(ctx, call):
    layer, v = call.layer, call.input
    g = ctx.g
    if v.rank == 2 and v.feature_perm is not None:
        rows = np.asarray(v.feature_perm)
        key = ('rows', hashlib.sha1(rows.tobytes()).hexdigest())
        kernel = ctx.weight(layer.kernel, call.name + '/kernel',
                            lambda a, rows=rows: GatheredRows(a, rows), key=key)
        x = v.name
    else:
        kernel = ctx.weight(layer.kernel, call.name + '/kernel')
        x = ctx.plain(v)
    bias = ctx.weight(layer.bias, call.name + '/bias') if layer.bias is not None else None
    linear_name = call.name if layer.activation.__name__ == 'linear' else call.sub('linear')
    if v.rank == 2:
        inputs = [x, kernel] + ([bias] if bias else [])
        y = g.op('Gemm', *inputs, name=linear_name)
    elif bias is not None:
        y = g.op('Add', g.op('MatMul', x, kernel, name=call.sub('matmul')), bias,
                 name=linear_name)
    else:
        y = g.op('MatMul', x, kernel, name=linear_name)
    out = Value(y, call.output_shape, v.dtype)
    return [apply_activation(ctx, layer.activation, out, call.name, layer)]


@exporter(Dropout, GaussianNoise, GaussianDropout, SpatialDropout1D, SpatialDropout2D,
          SpatialDropout3D, ActivityRegularization)
def inference_identity(ctx, call):
    """Identities at inference: no node at all (the value passes on unchanged)."""
    return [call.input]


def flatten_feature_perm(keras_shape, perm, channels_first):
    """For a tensor of ``keras_shape`` stored as ``transpose(x, perm)``: the Keras
    feature index of each ONNX feature after flattening, or None if they agree."""
    rank = len(keras_shape)
    order = identity(rank)
    if channels_first and rank > 2:
        order = (0,) + tuple(range(2, rank)) + (1,)   # Keras flattens channels last
    flat_shape = (1,) + tuple(keras_shape[o] for o in order[1:])
    positions = np.arange(int(np.prod(flat_shape)), dtype='int64').reshape(flat_shape)
    positions = positions.transpose(inverse(order))       # keras-input layout
    if perm is not None:
        positions = positions.transpose(perm)             # ONNX layout
    q = positions.ravel()
    return None if np.array_equal(q, np.arange(q.size)) else q


@exporter(Flatten)
def flatten(ctx, call):
    layer, v = call.layer, call.input
    channels_first = layer.data_format == 'channels_first'
    if v.rank <= 2:
        return [v.like(ctx.g.op('Flatten', v.name, axis=1, name=call.name))]
    if all(d is not None for d in v.shape[1:]) and v.feature_perm is None:
        q = flatten_feature_perm(v.shape, v.perm, channels_first)
        y = ctx.g.op('Flatten', v.name, axis=1, name=call.name)
        return [Value(y, call.output_shape, v.dtype, feature_perm=q)]
    x = ctx.plain(v)
    if channels_first:
        x = ctx.g.op('Transpose', x, perm=[0] + list(range(2, v.rank)) + [1],
                     name=call.sub('channels_last'))
    return [Value(ctx.g.op('Flatten', x, axis=1, name=call.name), call.output_shape, v.dtype)]


@exporter(Reshape)
def reshape(ctx, call):
    v = call.input
    target = [0] + [int(d) for d in call.layer.target_shape]
    if 0 in target[1:]:
        call.fail('a zero in target_shape has no ONNX Reshape equivalent')
    return [Value(ctx.reshape(ctx.plain(v), target, name=call.name), call.output_shape,
                  v.dtype)]


@exporter(Permute)
def permute(ctx, call):
    """No node: the output is the same ONNX tensor, read through a composed perm."""
    v = call.input
    if v.feature_perm is not None:
        v = ctx.plain_value(v)
    dims = (0,) + tuple(call.layer.dims)
    current = v.perm or identity(v.rank)
    back = inverse(dims)
    perm = tuple(back[p] for p in current)
    return [Value(v.name, call.output_shape, v.dtype, perm=perm)]


@exporter(RepeatVector)
def repeat_vector(ctx, call):
    x = ctx.plain(call.input)
    expanded = ctx.unsqueeze(x, [1], name=call.sub('unsqueeze'))
    y = ctx.g.op('Tile', expanded, ctx.g.ints([1, call.layer.n, 1]), name=call.name)
    return [Value(y, call.output_shape, call.input.dtype)]


@exporter(Masking, masks=True)
def masking(ctx, call):
    """``x * any(x != mask_value, -1)``; the mask is that ``any``."""
    v, g = call.input, ctx.g
    x = ctx.plain(v)
    differs = g.op('Not', g.op('Equal', x, ctx.const(call.layer.mask_value, v.dtype),
                               name=call.sub('equal')), name=call.sub('not'))
    keep = ctx.reduce('ReduceMax', ctx.cast(differs, v.dtype, name=call.sub('cast')), [-1],
                      True, name=call.sub('any'))
    y = g.op('Mul', x, keep, name=call.name)
    mask = ctx.cast(ctx.squeeze(keep, [-1], name=call.sub('squeeze')), 'bool',
                    name=call.sub('mask'))
    call.out_masks = [Value(mask, v.shape[:-1], 'bool')]
    return [Value(y, call.output_shape, v.dtype)]


@exporter(Lambda)
def lambda_layer(ctx, call):
    call.fail('a Lambda layer runs arbitrary Python code, which has no ONNX equivalent; '
              'replace it with built-in layers before exporting')
