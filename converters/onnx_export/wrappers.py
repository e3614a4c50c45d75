"""TimeDistributed and Bidirectional.

TimeDistributed folds the time axis into the batch (``Reshape`` to ``(batch * time, ...)``),
exports its inner layer (any exportable layer or model) on that, and unfolds the result.
Bidirectional runs its forward layer and its backward layer as two recurrent operators
(``direction='reverse'`` for the backward one, whose outputs then line up with the
input steps, as Keras's reversed backward sequence does) and merges them.
"""
from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.recurrent import run_rnn
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import Bidirectional, TimeDistributed


@exporter(TimeDistributed, masks=True)
def time_distributed(ctx, call):
    from kzoo.converters.onnx_export.walk import export_call
    layer, v = call.layer, call.input
    inner_layer = layer.layer
    x = ctx.plain(v)
    tail = list(v.shape[2:])
    if all(d is not None for d in tail):
        folded = ctx.reshape(x, [-1] + tail, name=call.sub('fold'))
    else:
        folded = ctx.reshape_dynamic(x, [-1, ctx.shape_slice(x, 2, name=call.sub('tail'))], [],
                                     name=call.sub('fold'))
    inner_mask = None
    if call.mask is not None:
        mask_tail = list(call.mask.shape[2:])
        inner_mask = Value(ctx.reshape(call.mask.name, [-1] + mask_tail,
                                       name=call.sub('fold_mask')),
                           (None,) + tuple(mask_tail), 'bool')
    inner_shape = layer._child_shape(v.shape)
    out_shape = call.output_shape
    child_out = (None,) + tuple(out_shape[2:])
    outputs, masks = export_call(ctx, inner_layer, [Value(folded, inner_shape, v.dtype)],
                                 [inner_mask], {}, [child_out], name=inner_layer.name)
    y = ctx.plain(outputs[0])
    leading = ctx.shape_slice(x, 0, 2, name=call.sub('batch_time'))
    out_tail = list(out_shape[2:])
    if all(d is not None for d in out_tail):
        unfolded = ctx.reshape_dynamic(y, [leading], out_tail, name=call.name)
    else:
        unfolded = ctx.reshape_dynamic(y, [leading, ctx.shape_slice(y, 1, name=call.sub('t'))],
                                       [], name=call.name)
    inner_out_mask = masks[0] if masks else None
    if inner_out_mask is not None:
        mask = ctx.reshape_dynamic(inner_out_mask.name, [leading],
                                   list(inner_out_mask.shape[1:]), name=call.sub('mask'))
        call.out_masks = [Value(mask, out_shape[:2] + tuple(inner_out_mask.shape[1:]), 'bool')]
    elif call.mask is not None:
        mask = call.mask
        if mask.rank > 2:
            reduced = ctx.reduce('ReduceMax', ctx.cast(mask.name, 'float32',
                                                       name=call.sub('mask_f')),
                                 list(range(2, mask.rank)), False, name=call.sub('mask_any'))
            mask = Value(ctx.cast(reduced, 'bool', name=call.sub('mask')), mask.shape[:2],
                         'bool')
        call.out_masks = [mask]
    else:
        call.out_masks = [None]
    return [Value(unfolded, out_shape, outputs[0].dtype)]


_MERGES = {'concat': 'Concat', 'sum': 'Add', 'mul': 'Mul', 'ave': 'Add'}


@exporter(Bidirectional, masks=True)
def bidirectional(ctx, call):
    layer, g = call.layer, ctx.g
    if call.arguments.get('initial_state') is not None:
        call.fail('initial states given as arrays at call time are not part of the graph')
    x_value = call.inputs[0]
    initial = [ctx.plain(v) for v in call.inputs[1:]]
    half = len(initial) // 2
    mask = call.mask
    y, forward_states = run_rnn(ctx, call, layer.forward_layer, x_value, mask,
                                initial[:half] or None, call.sub('forward'))
    y_rev, backward_states = run_rnn(ctx, call, layer.backward_layer, x_value, mask,
                                     initial[half:] or None, call.sub('backward'),
                                     aligned=True)
    dtype = x_value.dtype
    if layer.merge_mode is None:
        outputs = [Value(g.op('Identity', y, name=call.name), call.output_shapes[0], dtype),
                   Value(g.op('Identity', y_rev, name=call.sub('backward_output')),
                         call.output_shapes[1], dtype)]
    else:
        op = _MERGES[layer.merge_mode]
        attrs = {'axis': -1} if op == 'Concat' else {}
        name = call.name if layer.merge_mode != 'ave' else call.sub('sum')
        merged = g.op(op, y, y_rev, name=name, **attrs)
        if layer.merge_mode == 'ave':
            merged = g.op('Div', merged, ctx.const(2.), name=call.name)
        outputs = [Value(merged, call.output_shapes[0], dtype)]
    if layer.return_state:
        states = forward_states + backward_states
        shapes = call.output_shapes[len(outputs):]
        outputs += [Value(s, shape, dtype) for s, shape in zip(states, shapes)]
    output_mask = mask if layer.return_sequences else None
    n_main = 2 if layer.merge_mode is None else 1
    call.out_masks = [output_mask] * n_main + [None] * (len(outputs) - n_main)
    return outputs
