"""ConvLSTM1D/2D/3D, unrolled over their (known) number of timesteps.

ONNX has no convolutional LSTM operator, so the export does what kzoo's own loop does:
one input convolution for all timesteps (time folded into the batch), then per step a
``same`` recurrent convolution, the four gates (``i, f, c, o``, Keras's order) and the
state update, all in N, C, spatial layout. The sequence length must be known (a
``Loop`` would hide the graph from most runtimes' optimizers); masks are refused.
"""
import numpy as np

from kzoo.converters.onnx_export.activations import apply_activation
from kzoo.converters.onnx_export.context import Value, nc_perm
from kzoo.converters.onnx_export.conv import keras_to_onnx_kernel, kernel_dims, window_padding
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D


def _sequence_perm(rank, data_format):
    """(batch, time, C, spatial...) from a Keras (batch, time, ...) tensor."""
    if data_format == 'channels_first':
        return tuple(range(rank + 3))
    return (0, 1, rank + 2) + tuple(range(2, rank + 2))


@exporter(ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, masks=True)
def conv_lstm(ctx, call):
    layer, g = call.layer, ctx.g
    cell = layer.cell
    rank = cell.rank
    v = call.input
    if call.mask is not None:
        call.fail('its input carries a mask; masked convolutional LSTMs are not exported')
    if layer.stateful:
        call.fail('stateful recurrent layers keep their states outside the model')
    steps = v.shape[1]
    if steps is None:
        call.fail('its number of timesteps must be known to unroll it')
    filters = cell.filters
    seq_perm = _sequence_perm(rank, cell.data_format)
    x = ctx.in_layout(v, seq_perm)                     # (N, T, C, *S)
    channels = v.shape[seq_perm[2]]
    spatial = [v.shape[p] for p in seq_perm[3:]]
    folded = ctx.reshape_dynamic(x, [-1, ctx.shape_slice(x, 2, name=call.sub('step_shape'))],
                                 [], name=call.sub('fold'))
    kernel = ctx.weight(cell.kernel, call.name + '/kernel', keras_to_onnx_kernel,
                        kernel_dims(tuple(cell.kernel.shape)), key='oihw')
    bias = [ctx.weight(cell.bias, call.name + '/bias')] if cell.bias is not None else []
    attrs = window_padding(spatial, cell.kernel_size, cell.strides, cell.dilation_rate,
                           cell.padding)
    projected = g.op('Conv', folded, kernel, *bias, name=call.sub('input_conv'),
                     kernel_shape=list(cell.kernel_size), strides=list(cell.strides),
                     dilations=list(cell.dilation_rate), **attrs)
    shape = g.op('Concat', ctx.shape_slice(x, 0, 2, name=call.sub('batch_time')),
                 ctx.shape_slice(projected, 1, name=call.sub('projected_shape')), axis=0,
                 name=call.sub('unfold_shape'))
    projected = g.op('Reshape', projected, shape, name=call.sub('unfold'))   # (N, T, 4F, *S')
    recurrent = ctx.weight(cell.recurrent_kernel, call.name + '/recurrent_kernel',
                           keras_to_onnx_kernel, kernel_dims(tuple(cell.recurrent_kernel.shape)),
                           key='oihw')
    same = window_padding([None] * rank, cell.kernel_size, (1,) * rank, (1,) * rank, 'same')
    state_perm = nc_perm(rank + 2, cell.data_format)
    out_shape = tuple(call.output_shapes[0])
    state_shape = (out_shape[0],) + out_shape[2:] if layer.return_sequences else out_shape
    h, c = _initial_states(ctx, call, projected, filters, state_perm)
    order = range(steps - 1, -1, -1) if layer.go_backwards else range(steps)
    outputs = []
    for t in order:
        step = '%s/step_%d' % (call.name, t)
        x_t = g.op('Gather', projected, g.const(np.asarray(t, 'int64')), axis=1,
                   name=step + '/input')
        z = g.op('Add', x_t, g.op('Conv', h, recurrent, name=step + '/recurrent_conv',
                                  kernel_shape=list(cell.kernel_size), **same),
                 name=step + '/gates')
        gates = g.node('Split', [z, g.ints([filters] * 4)], 4, axis=1, name=step + '/split')
        i, f, cc, o = (Value(n, state_shape, perm=state_perm) for n in gates)
        act, rec = cell.activation, cell.recurrent_activation
        i = apply_activation(ctx, rec, i, step + '/i', layer).name
        f = apply_activation(ctx, rec, f, step + '/f', layer).name
        o = apply_activation(ctx, rec, o, step + '/o', layer).name
        candidate = apply_activation(ctx, act, cc, step + '/candidate', layer).name
        c = g.op('Add', g.op('Mul', f, c, name=step + '/forget'),
                 g.op('Mul', i, candidate, name=step + '/write'), name=step + '/c')
        squashed = apply_activation(ctx, act, Value(c, state_shape, perm=state_perm),
                                    step + '/c_act', layer).name
        h = g.op('Mul', o, squashed, name=step + '/h')
        outputs.append(h)
    dtype = v.dtype
    if layer.return_sequences:
        stacked = [ctx.unsqueeze(o, [1], name='%s/stack_%d' % (call.name, i))
                   for i, o in enumerate(outputs)]
        y = g.op('Concat', *stacked, axis=1, name=call.name) if len(stacked) > 1 \
            else g.op('Identity', stacked[0], name=call.name)
        result = [Value(y, call.output_shapes[0], dtype, perm=seq_perm)]
    else:
        result = [Value(g.op('Identity', h, name=call.name), call.output_shapes[0], dtype,
                        perm=state_perm)]
    if layer.return_state:
        result += [Value(h, state_shape, dtype, perm=state_perm),
                   Value(c, state_shape, dtype, perm=state_perm)]
    call.out_masks = [None] * len(result)
    return result


def _initial_states(ctx, call, projected, filters, state_perm):
    """Given initial states (Keras layout in, N C spatial out), or zeros."""
    g = ctx.g
    given = call.inputs[1:]
    if given:
        if len(given) != 2:
            call.fail('it needs both initial states (h and c)')
        return [ctx.in_layout(s, state_perm) for s in given]
    step = g.op('Gather', projected, g.const(np.asarray(0, 'int64')), axis=1,
                name=call.sub('first_step'))
    block = ctx.slice(step, [0], [filters], [1], name=call.sub('one_gate'))
    zeros = g.op('ConstantOfShape', g.op('Shape', block, name=call.sub('state_shape')),
                 value=np.zeros((1,), 'float32'), name=call.sub('zeros'))
    return [zeros, zeros]
