"""Handlers: Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Split, Slice,
Gather, Tile, Expand, Pad, DepthToSpace, SpaceToDepth."""
import numpy as np

from kzoo.layers import Concatenate, Flatten
from kzoo.layers import Reshape as KerasReshape

from .common import as_cl_constant, cl_axis, const_ints, flat_permutation
from .importer import Value, cl_to_cf
from .layers import (OnnxConcat, OnnxDepthToSpace, OnnxExpand, OnnxFlatten, OnnxGather,
                     OnnxPad, OnnxReshape, OnnxSlice, OnnxSplit, OnnxSqueeze, OnnxTile,
                     OnnxUnsqueeze)
from .registry import onnx_op


def _ints_value(ctx, values):
    return None if values is None else Value(const=np.asarray(values, 'int64'))


def _flatten_nhwc(ctx, node, x):
    """Flatten an NHWC value to (N, features) in NHWC order; the Dense after it
    permutes its weights by the recorded permutation."""
    cf_shape = x.onnx_shape[1:]
    if any(d is None for d in cf_shape):
        return None
    perm = flat_permutation(cf_shape)
    layout = 'cf' if np.array_equal(perm, np.arange(len(perm))) else ('flat', perm)
    layer = Flatten(data_format='channels_last', name=ctx.layer_name())
    return ctx.keras(layer, [x], out_layout=layout)[0]


@onnx_op('Reshape', 1, 5, 13, 14, 19, 21, 23, 24, 25, layout_aware=True)
def reshape(ctx, node, inputs):
    x = inputs[0]
    target = inputs[1] if len(inputs) > 1 else _ints_value(ctx, node.attr('shape'))
    allowzero = node.attr('allowzero', 0)
    shape = const_ints(target)
    if x.layout != 'cf' and shape is not None and len(shape) == 2 and not allowzero:
        n = x.shape[0]
        features = x.onnx_shape[1:]
        size = None if any(d is None for d in features) else int(np.prod(features))
        keeps_batch = shape[0] == 0 or (n is not None and shape[0] == n) or (
            shape[0] == -1 and size is not None and shape[1] == size)
        if keeps_batch and (shape[1] == -1 or shape[1] == size):
            if x.layout == 'cl':
                out = _flatten_nhwc(ctx, node, x)
                if out is not None:
                    return [out]
            elif isinstance(x.layout, tuple):
                return [x]  # already (N, features)
    x = ctx.to_cf(x)
    if shape is not None and not x.is_const and x.rank >= 1 and shape and not allowzero:
        # Keras's Reshape keeps the batch axis: usable when the target does too
        batch = x.shape[0]
        rest = [x.shape[i] if d == 0 and i < x.rank else d for i, d in enumerate(shape)][1:]
        if (shape[0] == 0 or (batch is not None and shape[0] == batch)) and all(
                d is not None and d != 0 for d in rest) and rest.count(-1) <= 1:
            return ctx.keras(KerasReshape(rest, name=ctx.layer_name()), [x])
    return ctx.generic(OnnxReshape, [x, target], allowzero=allowzero)


@onnx_op('Flatten', 1, 9, 11, 13, 21, 23, 24, 25, layout_aware=True)
def flatten(ctx, node, inputs):
    x = inputs[0]
    axis = node.attr('axis', 1)
    if x.layout == 'cl' and axis % x.rank == 1:
        out = _flatten_nhwc(ctx, node, x)
        if out is not None:
            return [out]
    x = ctx.to_cf(x)
    if axis % max(x.rank, 1) == 1 and x.rank > 2 and not x.is_const:
        # Keras's Flatten of a channels_last array is a plain reshape, ONNX's order
        return ctx.keras(Flatten(data_format='channels_last', name=ctx.layer_name()), [x])
    return ctx.generic(OnnxFlatten, [x], axis=axis)


@onnx_op('Transpose', 1, 13, 21, 23, 24, 25, layout_aware=True)
def transpose(ctx, node, inputs):
    """Consecutive transposes (and one of NHWC data) compose into one, or none."""
    x = inputs[0]
    rank = len(x.onnx_shape) if not isinstance(x.layout, tuple) else 2
    perm = node.attr('perm') or list(reversed(range(rank)))
    if x.layout == 'cl':
        perm = [cl_to_cf(rank)[p] for p in perm]  # applied to the NHWC data directly
        x = Value(tensor=x.tensor, const=x.const, dtype=x.dtype)
    else:
        x = ctx.to_cf(x)
    return [ctx.transpose(x, perm)]


@onnx_op('Squeeze', 1, 11, 13, 21, 23, 24, 25)
def squeeze(ctx, node, inputs):
    axes = inputs[1] if len(inputs) > 1 else _ints_value(ctx, node.attr('axes'))
    return ctx.generic(OnnxSqueeze, [inputs[0], axes])


@onnx_op('Unsqueeze', 1, 11, 13, 21, 23, 24, 25)
def unsqueeze(ctx, node, inputs):
    axes = inputs[1] if len(inputs) > 1 else _ints_value(ctx, node.attr('axes'))
    return ctx.generic(OnnxUnsqueeze, [inputs[0], axes])


@onnx_op('Concat', 1, 4, 11, 13, layout_aware=True)
def concat(ctx, node, inputs):
    axis = node.attr('axis', 1)  # opset 1 defaulted to 1
    values = [v for v in inputs if v is not None]
    symbolic = [v for v in values if not v.is_const]
    if len(symbolic) == len(values) > 1 and len({v.layout for v in values}) == 1 and \
            values[0].layout in ('cf', 'cl') and len({v.rank for v in values}) == 1 and \
            axis % values[0].rank != 0 and all(v.dtype == np.float32 for v in values):
        rank = values[0].rank
        keras_axis = cl_axis(axis, rank) if values[0].layout == 'cl' else axis % rank
        layer = Concatenate(axis=keras_axis, name=ctx.layer_name())
        return ctx.keras(layer, values, out_layout=values[0].layout)
    if symbolic and all(v.layout == 'cl' for v in symbolic):
        rank = symbolic[0].rank
        if all(v.rank == rank for v in values):
            values = [Value(const=as_cl_constant(v.const, rank)) if v.is_const else v
                      for v in values]
            return ctx.generic(OnnxConcat, values, out_layout='cl', axis=cl_axis(axis, rank))
    return ctx.generic(OnnxConcat, [ctx.to_cf(v) for v in values], axis=axis)


@onnx_op('Split', 1, 2, 11, 13, 18)
def split(ctx, node, inputs):
    x = inputs[0]
    sizes = inputs[1] if len(inputs) > 1 and inputs[1] is not None else _ints_value(
        ctx, node.attr('split'))
    count = len(node.outputs)
    return ctx.generic(OnnxSplit, [x, sizes], axis=node.attr('axis', 0),
                       num_outputs=node.attr('num_outputs', count))


@onnx_op('Slice', 1, 10, 11, 13)
def slice_(ctx, node, inputs):
    if node.opset < 10:
        operands = [inputs[0], _ints_value(ctx, node.attr('starts')),
                    _ints_value(ctx, node.attr('ends')), _ints_value(ctx, node.attr('axes')),
                    None]
    else:
        operands = (list(inputs) + [None] * 5)[:5]
    return ctx.generic(OnnxSlice, operands)


@onnx_op('Gather', 1, 11, 13)
def gather(ctx, node, inputs):
    return ctx.generic(OnnxGather, inputs[:2], axis=node.attr('axis', 0))


@onnx_op('Tile', 1, 6, 13)
def tile(ctx, node, inputs):
    x = inputs[0]
    if node.opset < 6:  # Tile-1: (input, tiles, axis) repeat one axis
        tiles, axis = const_ints(inputs[1]), const_ints(inputs[2])
        if tiles is None or axis is None:
            raise node.fail('Tile-1 needs constant tiles and axis')
        repeats = [1] * x.rank
        repeats[axis[0] % x.rank] = tiles[0]
        return ctx.generic(OnnxTile, [x, _ints_value(ctx, repeats)])
    return ctx.generic(OnnxTile, inputs[:2])


@onnx_op('Expand', 8, 13)
def expand(ctx, node, inputs):
    return ctx.generic(OnnxExpand, inputs[:2])


@onnx_op('Pad', 1, 2, 11, 13, 18, 19, 21, 23, 24, 25, layout_aware=True)
def pad(ctx, node, inputs):
    x = inputs[0]
    mode = node.attr('mode', 'constant')
    if node.opset < 11:
        pads = node.attr('pads', node.attr('paddings'))
        operands = [x, _ints_value(ctx, pads),
                    Value(const=np.asarray(node.attr('value', 0.0), x.dtype)), None]
    else:
        operands = (list(inputs) + [None] * 4)[:4]
    pads, axes = const_ints(operands[1]), const_ints(operands[3])
    if x.layout == 'cl' and pads is not None and (operands[3] is None or axes is not None):
        rank = x.rank
        axes = list(range(rank)) if axes is None else [a % rank for a in axes]
        moved = [cl_axis(a, rank) for a in axes]
        operands = [x, _ints_value(ctx, pads), operands[2], _ints_value(ctx, moved)]
        return ctx.generic(OnnxPad, operands, out_layout='cl', mode=mode)
    operands[0] = ctx.to_cf(x)
    return ctx.generic(OnnxPad, operands, mode=mode)


@onnx_op('DepthToSpace', 1, 11, 13, 28, layout_aware=True)
def depth_to_space(ctx, node, inputs):
    return _space_depth(ctx, node, inputs, False, node.attr('mode', 'DCR'))


@onnx_op('SpaceToDepth', 1, 13, 28, layout_aware=True)
def space_to_depth(ctx, node, inputs):
    return _space_depth(ctx, node, inputs, True, node.attr('mode', 'DCR'))


def _space_depth(ctx, node, inputs, inverse, mode):
    x = inputs[0]
    if ctx.data_format == 'channels_last' and x.rank == 4:
        x = ctx.to_cl(x)
    else:
        x = ctx.to_cf(x)
    data_format = 'channels_last' if x.layout == 'cl' else 'channels_first'
    return ctx.generic(OnnxDepthToSpace, [x], out_layout=x.layout, blocksize=node.attr('blocksize'),
                       mode=mode, inverse=inverse, data_format=data_format)

