"""Attention (dot and concat scores) and AdditiveAttention, with value and query masks,
causal masking and ``return_attention_scores``.

As kzoo (and Keras) compute it: masked scores lose 1e9 before the softmax, masked
queries output zeros. A causal mask is a constant when the sequence lengths are known,
else ``Trilu`` (opset 14 and later).
"""
import numpy as np

from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import AdditiveAttention, Attention
from kzoo.layers.attention import _MASK_PENALTY


def _pairs(ctx, call, q, k):
    g = ctx.g
    return g.op('Add', ctx.unsqueeze(q, [-2], name=call.sub('query_pairs')),
                ctx.unsqueeze(k, [-3], name=call.sub('key_pairs')), name=call.sub('pairs'))


def _scores(ctx, call, q, k, rank):
    layer, g = call.layer, ctx.g
    if isinstance(layer, AdditiveAttention):
        pairs = g.op('Tanh', _pairs(ctx, call, q, k), name=call.sub('tanh'))
        if layer.scale is not None:
            pairs = g.op('Mul', pairs, ctx.weight(layer.scale, call.name + '/scale'),
                         name=call.sub('scale'))
        return ctx.reduce('ReduceSum', pairs, [-1], False, name=call.sub('scores'))
    if layer.score_mode == 'dot':
        swap = list(range(rank - 2)) + [rank - 1, rank - 2]
        scores = g.op('MatMul', q, g.op('Transpose', k, perm=swap, name=call.sub('key_t')),
                      name=call.sub('scores'))
        if layer.scale is not None:
            scores = g.op('Mul', scores, ctx.weight(layer.scale, call.name + '/scale'),
                          name=call.sub('scaled'))
        return scores
    pairs = _pairs(ctx, call, q, k)
    if layer.scale is not None:
        pairs = g.op('Mul', ctx.weight(layer.scale, call.name + '/scale'), pairs,
                     name=call.sub('scale'))
    summed = ctx.reduce('ReduceSum', g.op('Tanh', pairs, name=call.sub('tanh')), [-1], False,
                        name=call.sub('sum'))
    return g.op('Mul', ctx.weight(layer.concat_score_weight, call.name + '/concat_score_weight'),
                summed, name=call.sub('scores'))


def _causal(ctx, call, scores, tq, tv):
    g = ctx.g
    if tq is not None and tv is not None:
        return g.const(np.tril(np.ones((tq, tv), dtype=bool)))
    if ctx.opset < 14:
        call.fail('a causal mask over sequences of unknown length needs opset 14 (Trilu)')
    shape = ctx.shape_slice(scores, -2, name=call.sub('score_shape'))
    ones = g.op('ConstantOfShape', shape, value=np.ones((1,), 'int64'), name=call.sub('ones'))
    lower = g.op('Trilu', ones, upper=0, name=call.sub('lower'))
    return ctx.cast(lower, 'bool', name=call.sub('causal'))


@exporter(Attention, AdditiveAttention, masks=True)
def attention(ctx, call):
    layer, g = call.layer, ctx.g
    values = call.inputs
    q, v = ctx.plain(values[0]), ctx.plain(values[1])
    k = ctx.plain(values[2]) if len(values) > 2 else v
    masks = call.masks or [None] * len(values)
    q_mask, v_mask = masks[0], masks[1] if len(masks) > 1 else None
    rank = values[0].rank
    scores = _scores(ctx, call, q, k, rank)
    keep = None
    if v_mask is not None:
        keep = ctx.unsqueeze(v_mask.name, [-2], name=call.sub('value_mask'))
    if layer.causal or call.arguments.get('use_causal_mask'):
        tq, tv = values[0].shape[-2], (values[2] if len(values) > 2 else values[1]).shape[-2]
        lower = _causal(ctx, call, scores, tq, tv)
        keep = lower if keep is None else g.op('And', keep, lower, name=call.sub('keep'))
    if keep is not None:
        penalized = g.op('Sub', scores, ctx.const(_MASK_PENALTY), name=call.sub('penalty'))
        scores = g.op('Where', keep, scores, penalized, name=call.sub('masked_scores'))
    weights = g.op('Softmax', scores, axis=-1, name=call.sub('softmax'))
    output = g.op('MatMul', weights, v, name=call.name if q_mask is None else call.sub('matmul'))
    if q_mask is not None:
        output = g.op('Where', ctx.unsqueeze(q_mask.name, [-1], name=call.sub('query_mask')),
                      output, ctx.const(0.), name=call.name)
    outputs = [Value(output, call.output_shapes[0], values[0].dtype)]
    if call.arguments.get('return_attention_scores'):
        outputs.append(Value(weights, call.output_shapes[1], values[0].dtype))
        call.out_masks = [q_mask, None]
    else:
        call.out_masks = [q_mask]
    return outputs
