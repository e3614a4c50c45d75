"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
and Keras 1's ``Merge`` (its built-in modes; a Python function mode is refused).

Inputs of one rank are merged in the first input's layout (a residual connection of
two NCHW branches adds NCHW tensors). Lower-rank inputs get new axes after the batch
axis, as Keras 2 broadcasts them. Masks follow Keras 2: element-wise merges keep a
step when every mask keeps it; Concatenate widens and concatenates the masks.
"""
import numpy as np

from kzoo import backend as K
from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.registry import exporter, find_exporter
from kzoo.layers import (Add, Average, Concatenate, Dot, Maximum, Merge, Minimum, Multiply,
                         Subtract)
from kzoo.layers.merge import _Cosine


def _aligned(ctx, call):
    """The inputs as ONNX names of one rank and layout, and that layout's perm."""
    values = call.inputs
    rank = max(v.rank for v in values)
    if all(v.rank == rank for v in values):
        return ctx.common_layout(values)
    names = []
    for i, v in enumerate(values):
        name = ctx.plain(v)
        if v.rank < rank:
            name = ctx.unsqueeze(name, list(range(1, 1 + rank - v.rank)),
                                 name=call.sub('expand_%d' % i))
        names.append(name)
    return names, None


def _and_masks(ctx, call):
    masks = [m for m in (call.masks or []) if m is not None]
    if not masks:
        return None
    out = masks[0].name
    for i, m in enumerate(masks[1:]):
        out = ctx.g.op('And', out, m.name, name=call.sub('mask_%d' % i))
    return Value(out, masks[0].shape, 'bool')


def _fold(op_type):
    def merge(ctx, call, names):
        out = names[0]
        for i, x in enumerate(names[1:]):
            last = i == len(names) - 2
            out = ctx.g.op(op_type, out, x, name=call.name if last else call.sub(str(i)))
        return out
    return merge


def _variadic(op_type):
    def merge(ctx, call, names):
        return ctx.g.op(op_type, *names, name=call.name)
    return merge


def _average(ctx, call, names):
    total = _fold('Add')(ctx, call.with_name(call.sub('sum')), names) if len(names) > 1 \
        else names[0]
    return ctx.g.op('Div', total, ctx.const(float(len(names))), name=call.name)


_MERGES = {Add: _fold('Add'), Subtract: _fold('Sub'), Multiply: _fold('Mul'),
           Maximum: _variadic('Max'), Minimum: _variadic('Min'), Average: _average}


@exporter(*_MERGES, masks=True)
def elementwise_merge(ctx, call):
    names, perm = _aligned(ctx, call)
    y = _MERGES[type(call.layer)](ctx, call, names)
    call.out_masks = [_and_masks(ctx, call)]
    return [Value(y, call.output_shape, call.inputs[0].dtype, perm=perm)]


@exporter(Concatenate, masks=True)
def concatenate(ctx, call):
    names, perm = _aligned(ctx, call)
    rank = len(call.output_shape)
    axis = call.layer.axis % rank
    onnx_axis = perm.index(axis) if perm is not None else axis
    y = ctx.g.op('Concat', *names, axis=onnx_axis, name=call.name)
    call.out_masks = [_concat_mask(ctx, call, axis)]
    return [Value(y, call.output_shape, call.inputs[0].dtype, perm=perm)]


def _concat_mask(ctx, call, axis):
    """Keras 2's Concatenate.compute_mask: each mask widened to its input's shape (all
    True where absent), concatenated on ``axis``, then all() over the last axis."""
    masks = call.masks or []
    if all(m is None for m in masks):
        return None
    g = ctx.g
    widened = []
    for i, (v, m) in enumerate(zip(call.inputs, masks)):
        if m is None:
            shape = g.op('Shape', ctx.plain(v), name=call.sub('mask_shape_%d' % i))
            name = g.op('ConstantOfShape', shape, name=call.sub('mask_ones_%d' % i),
                        value=np.ones((1,), dtype=bool))
        elif m.rank < v.rank:
            shape = g.op('Shape', ctx.plain(v), name=call.sub('mask_shape_%d' % i))
            name = g.op('Expand', ctx.unsqueeze(m.name, [-1],
                                                name=call.sub('mask_unsqueeze_%d' % i)),
                        shape, name=call.sub('mask_expand_%d' % i))
        else:
            name = m.name
        widened.append(name)
    joined = g.op('Concat', *widened, axis=axis, name=call.sub('mask_concat'))
    as_float = ctx.cast(joined, 'float32', name=call.sub('mask_float'))
    kept = ctx.reduce('ReduceMin', as_float, [-1], False, name=call.sub('mask_all'))
    return Value(ctx.cast(kept, 'bool', name=call.sub('mask')), call.output_shape[:-1], 'bool')


@exporter(Dot)
def dot(ctx, call):
    layer = call.layer
    x1, x2 = (ctx.plain(v) for v in call.inputs)
    n1, n2 = (v.rank for v in call.inputs)
    a1, a2 = layer._axes([n1, n2])
    if layer.normalize:
        x1 = _l2_normalize(ctx, call, x1, a1, 'x1')
        x2 = _l2_normalize(ctx, call, x2, a2, 'x2')
    y = _batch_dot(ctx, call, x1, x2, n1, n2, a1, a2, call.name)
    return [Value(y, call.output_shape, call.inputs[0].dtype)]


def _l2_normalize(ctx, call, x, axis, which):
    g = ctx.g
    square_sum = ctx.reduce('ReduceSum', g.op('Mul', x, x, name=call.sub(which + '_square')),
                            [axis], True, name=call.sub(which + '_sum'))
    norm = g.op('Sqrt', g.op('Max', square_sum, ctx.const(1e-12), name=call.sub(which + '_max')),
                name=call.sub(which + '_norm'))
    return g.op('Div', x, norm, name=call.sub(which + '_normalize'))


def _batch_dot(ctx, call, x1, x2, n1, n2, a1, a2, name):
    """Keras's batch_dot as an Einsum (the letters kzoo's composite op uses)."""
    letters = 'bcdefghijklmnopqrstuvwxyz'
    xs = ['a'] + [letters[i] for i in range(n1 - 1)]
    ys = ['a'] + [letters[n1 - 1 + i] for i in range(n2 - 1)]
    ys[a2] = xs[a1]
    out = [c for i, c in enumerate(xs) if i != a1] + \
        [c for i, c in enumerate(ys) if i not in (0, a2)]
    equation = '%s,%s->%s' % (''.join(xs), ''.join(ys), ''.join(out))
    if len(out) == 1:
        y = ctx.g.op('Einsum', x1, x2, equation=equation, name=name + '/einsum')
        return ctx.unsqueeze(y, [1], name=name)
    return ctx.g.op('Einsum', x1, x2, equation=equation, name=name)


@exporter(_Cosine)
def cosine(ctx, call):
    """Keras 1's ``mode='cos'``: ``x.y / max(sqrt((x.x)(y.y)), epsilon)``."""
    layer, g = call.layer, ctx.g
    x1, x2 = (ctx.plain(v) for v in call.inputs)
    n1, n2 = (v.rank for v in call.inputs)
    a1, a2 = layer._axes([n1, n2])
    xx = _batch_dot(ctx, call, x1, x1, n1, n1, a1, a1, call.sub('xx'))
    yy = _batch_dot(ctx, call, x2, x2, n2, n2, a2, a2, call.sub('yy'))
    xy = _batch_dot(ctx, call, x1, x2, n1, n2, a1, a2, call.sub('xy'))
    norms = g.op('Sqrt', g.op('Mul', xx, yy, name=call.sub('norms2')), name=call.sub('norms'))
    denominator = g.op('Max', norms, ctx.const(K.epsilon()), name=call.sub('max'))
    return [Value(g.op('Div', xy, denominator, name=call.name), call.output_shape,
                  call.inputs[0].dtype)]


@exporter(Merge, masks=True)
def keras1_merge(ctx, call):
    layer = call.layer
    if layer._impl is None:
        call.fail('its mode is a Python function, which has no ONNX equivalent')
    impl = find_exporter(layer._impl)
    if call.masks and any(m is not None for m in call.masks) and not impl.masks:
        call.fail('its inputs carry masks, which mode %r cannot export' % (layer.mode,))
    inner = call.with_layer(layer._impl)
    outputs = impl.fn(ctx, inner)
    call.out_masks = inner.out_masks
    return outputs
