"""Handlers: ReduceMean, ReduceSum, ReduceMax, ReduceMin, ReduceProd.

The reduced axes are an attribute until ``ReduceSum``-13 and the others' version 18,
an input from then on (with ``noop_with_empty_axes``).
"""
import numpy as np

from .common import cl_axis, const_ints
from .importer import Value
from .math_layers import OnnxReduce, reduce_kind
from .registry import onnx_op

AXES_INPUT_SINCE = {'ReduceSum': 13}


def reduce(ctx, node, inputs):
    x = inputs[0]
    kind = reduce_kind(node.op_type)
    keepdims = node.attr('keepdims', 1)
    if node.opset >= AXES_INPUT_SINCE.get(node.op_type, 18):
        axes = inputs[1] if len(inputs) > 1 else None
        noop = node.attr('noop_with_empty_axes', 0)
    else:
        attr = node.attr('axes')
        axes = None if attr is None else Value(const=np.asarray(attr, 'int64'))
        noop = 0
    values = const_ints(axes)
    if x.layout == 'cl' and (axes is None or values is not None):
        rank = x.rank
        chosen = list(range(rank)) if not values else [a % rank for a in values]
        remaining = [a for a in range(rank) if a not in chosen]
        moved = Value(const=np.asarray([cl_axis(a, rank) for a in chosen], 'int64'))
        if keepdims:
            return ctx.generic(OnnxReduce, [x, moved], out_layout='cl', kind=kind, keepdims=1)
        if remaining in ([], [0], [1], [0, 1]) and (values or not noop):
            return ctx.generic(OnnxReduce, [x, moved], kind=kind, keepdims=0)
    x = ctx.to_cf(x)
    return ctx.generic(OnnxReduce, [x, ctx.to_cf(axes)], kind=kind, keepdims=keepdims,
                       noop_with_empty_axes=noop)


for _op, _versions in (('ReduceMean', (1, 11, 13, 18)), ('ReduceSum', (1, 11, 13)),
                       ('ReduceMax', (1, 11, 12, 13, 18, 20)),
                       ('ReduceMin', (1, 11, 12, 13, 18, 20)),
                       ('ReduceProd', (1, 11, 13, 18))):
    onnx_op(_op, *_versions, layout_aware=True)(reduce)
