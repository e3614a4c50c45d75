"""SimpleRNN, LSTM and GRU (and ``RNN`` over their cells, stacked or not) as ONNX's
``RNN``, ``LSTM`` and ``GRU`` operators.

Layouts: Keras LSTM gate blocks are ``i, f, c, o``, ONNX's ``i, o, f, c``; GRU blocks are
``z, r, h`` in both. Keras ``reset_after=True`` is ONNX ``linear_before_reset=1`` (input
and recurrent biases kept apart); ``reset_after=False`` is ``linear_before_reset=0``
with the bias on the input side. Both are exact. Kernels are transposed to ONNX's
``(gates * units, features)``. onnxruntime runs these operators time-major only, so the
sequence is transposed to ``(time, batch, features)`` around them.

Masks (from Masking or Embedding(mask_zero)) may hold any pattern. Keras skips masked
steps: the states are kept and the output repeats the last one (zeros with
``zero_output_for_mask``). The export reproduces that exactly for any mask: the kept
steps of each sample are moved to the front (``ScatterElements`` by the running count of
kept steps), the operator runs with ``sequence_lens`` = the number of kept steps, and
each step's output is gathered back from the compacted outputs.

``go_backwards`` processes the sequence from its end and, as Keras, returns outputs in
processing order. Stateful layers are refused (their states live outside the graph).
"""
import numpy as np

from kzoo import activations as kact
from kzoo.converters.onnx_export.context import Value
from kzoo.converters.onnx_export.registry import exporter
from kzoo.layers import GRU, GRUCell, LSTM, LSTMCell, RNN, SimpleRNN, SimpleRNNCell
from kzoo.layers.recurrent import StackedRNNCells

_INT64_MIN = -2 ** 63

# kzoo activation -> (ONNX recurrent activation name, alpha, beta)
RNN_ACTIVATIONS = {
    kact.tanh: ('Tanh', None, None),
    kact.sigmoid: ('Sigmoid', None, None),
    kact.hard_sigmoid: ('HardSigmoid', 0.2, 0.5),
    kact.relu: ('Relu', None, None),
    kact.linear: ('Affine', 1.0, 0.0),
    kact.elu: ('Elu', 1.0, None),
    kact.softsign: ('Softsign', None, None),
    kact.softplus: ('Softplus', None, None),
}


def _activation_attrs(call, functions):
    names, alphas, betas = [], [], []
    for f in functions:
        if f not in RNN_ACTIVATIONS:
            call.fail('its activation %r has no ONNX recurrent-operator equivalent (supported: '
                      '%s)' % (getattr(f, '__name__', f),
                               ', '.join(sorted(k.__name__ for k in RNN_ACTIVATIONS))))
        name, alpha, beta = RNN_ACTIVATIONS[f]
        names.append(name)
        if alpha is not None:
            alphas.append(alpha)
        if beta is not None:
            betas.append(beta)
    attrs = {'activations': names}
    if alphas:
        attrs['activation_alpha'] = alphas
    if betas:
        attrs['activation_beta'] = betas
    return attrs


def _blocks(array, order, axis=-1):
    parts = np.split(array, len(order), axis=axis)
    return np.concatenate([parts[i] for i in order], axis=axis)


# ---- one cell as one ONNX operator ----------------------------------------------------------

class CellSpec(object):
    """What an ONNX recurrent operator needs from a kzoo cell."""

    def __init__(self, op_type, gates, order, n_states, attrs):
        self.op_type, self.gates, self.order = op_type, gates, order
        self.n_states, self.attrs = n_states, attrs


def cell_spec(call, cell):
    if type(cell) is LSTMCell:
        attrs = _activation_attrs(call, [cell.recurrent_activation, cell.activation,
                                         cell.activation])
        return CellSpec('LSTM', 4, (0, 3, 1, 2), 2, attrs)
    if type(cell) is GRUCell:
        attrs = _activation_attrs(call, [cell.recurrent_activation, cell.activation])
        attrs['linear_before_reset'] = int(cell.reset_after)
        return CellSpec('GRU', 3, (0, 1, 2), 1, attrs)
    if type(cell) is SimpleRNNCell:
        return CellSpec('RNN', 1, (0,), 1, _activation_attrs(call, [cell.activation]))
    call.fail('its cell %r (%s) has no ONNX exporter (SimpleRNNCell, LSTMCell and GRUCell '
              'have)' % (cell.name, type(cell).__name__))


def _cell_weights(ctx, call, cell, spec, prefix):
    units = cell.units
    width = spec.gates * units

    def kernel(a, order=spec.order):
        return np.ascontiguousarray(_blocks(a, order).T[None])

    inputs_dim = int(cell.kernel.shape[0])
    w = ctx.weight(cell.kernel, prefix + '/W', kernel, (1, width, inputs_dim), key='onnx_rnn')
    r = ctx.weight(cell.recurrent_kernel, prefix + '/R', kernel, (1, width, units),
                   key='onnx_rnn')
    b = ''
    if cell.bias is not None:
        reset_after = spec.op_type == 'GRU' and cell.reset_after

        def bias(a, order=spec.order, reset_after=reset_after, width=width):
            if reset_after:   # (2, 3 units): input bias, recurrent bias
                return np.concatenate([a[0], a[1]])[None].astype('float32')
            return np.concatenate([_blocks(a, order), np.zeros(width, a.dtype)])[None]
        b = ctx.weight(cell.bias, prefix + '/B', bias, (1, 2 * width), key='onnx_rnn')
    return w, r, b


def _run_cell(ctx, call, cell, x_tm, seq_lens, initial, direction, name):
    """One operator over ``x_tm`` (time, batch, features): ``(Y, [states])``, ``Y``
    squeezed to (time, batch, units), states to (batch, units)."""
    spec = cell_spec(call, cell)
    w, r, b = _cell_weights(ctx, call, cell, spec, name)
    inputs = [x_tm, w, r, b, seq_lens or '']
    for state in (initial or [None] * spec.n_states):
        inputs.append(ctx.unsqueeze(state, [0], name=name + '/initial') if state else '')
    while inputs and inputs[-1] == '':
        inputs.pop()
    outputs = ctx.g.node(spec.op_type, inputs, 1 + spec.n_states, name=name,
                         hidden_size=cell.units, direction=direction, **spec.attrs)
    y = ctx.squeeze(outputs[0], [1], name=name + '/Y')
    states = [ctx.squeeze(s, [0], name=name + '/state') for s in outputs[1:]]
    return y, states


def _cells(layer):
    cell = layer.cell
    return list(cell.cells) if isinstance(cell, StackedRNNCells) else [cell]


def _reverse_time(ctx, x, axis, name):
    return ctx.slice(x, [-1], [_INT64_MIN], [axis], [-1], name=name)


# ---- a whole recurrent layer ---------------------------------------------------------------

def run_rnn(ctx, call, layer, x_value, mask, initial, name, aligned=False):
    """Run ``layer`` (an RNN) on ``x_value``: ``(output, states)`` as ONNX names.

    ``output`` is the sequence (batch, time, units) in processing order, or with
    ``aligned`` in input order (what Bidirectional wants of its backward layer), or
    the last output (batch, units) when the layer does not return sequences.
    """
    if layer.stateful:
        call.fail('stateful recurrent layers keep their states outside the model; export a '
                  'copy built with stateful=False')
    g = ctx.g
    cells = _cells(layer)
    x = ctx.plain(x_value)
    states_per_cell = [cell_spec(call, c).n_states for c in cells]
    initial = list(initial or [])
    per_cell_initial = []
    for n in states_per_cell:
        per_cell_initial.append(initial[:n] if initial else None)
        initial = initial[n:] if initial else initial
    backwards = layer.go_backwards
    if mask is None:
        x_tm = g.op('Transpose', x, perm=[1, 0, 2], name=name + '/time_major')
        direction = 'reverse' if backwards else 'forward'
        states = []
        for i, (cell, init) in enumerate(zip(cells, per_cell_initial)):
            cell_name = name if len(cells) == 1 else '%s/cell_%d' % (name, i)
            x_tm, cell_states = _run_cell(ctx, call, cell, x_tm, None, init, direction,
                                          cell_name)
            states += cell_states
        last_h = states[-states_per_cell[-1]]
        if not layer.return_sequences:
            return last_h, states
        y = g.op('Transpose', x_tm, perm=[1, 0, 2], name=name + '/batch_major')
        if backwards and not aligned:   # Keras returns them in processing order
            y = _reverse_time(ctx, y, 1, name + '/processing_order')
        return y, states
    return _run_masked(ctx, call, layer, cells, x, mask.name, per_cell_initial,
                       states_per_cell, name, aligned)


def _run_masked(ctx, call, layer, cells, x, mask, per_cell_initial, states_per_cell, name,
                aligned):
    g = ctx.g
    sub = lambda s: '%s/%s' % (name, s)  # noqa: E731
    if layer.go_backwards:
        x = _reverse_time(ctx, x, 1, sub('reverse_inputs'))
        mask = _reverse_time(ctx, mask, 1, sub('reverse_mask'))
    kept = ctx.cast(mask, 'int64', name=sub('kept'))
    count = g.op('CumSum', kept, g.const(np.asarray(1, 'int64')), name=sub('kept_so_far'))
    lengths = ctx.reduce('ReduceSum', kept, [1], True, name=sub('lengths'))
    ones = ctx.cast(g.op('Or', mask, g.op('Not', mask, name=sub('not_mask')), name=sub('all')),
                    'int64', name=sub('ones'))
    position = g.op('Sub', g.op('CumSum', ones, g.const(np.asarray(1, 'int64')),
                                name=sub('steps')), g.const(np.asarray(1, 'int64')),
                    name=sub('position'))
    one = g.const(np.asarray(1, 'int64'))
    kept_target = g.op('Sub', count, one, name=sub('kept_target'))
    skipped_target = g.op('Sub', g.op('Add', lengths, position, name=sub('after_kept')), count,
                          name=sub('skipped_target'))
    target = g.op('Where', mask, kept_target, skipped_target, name=sub('target'))
    index = g.op('Expand', ctx.unsqueeze(target, [-1], name=sub('target_3d')),
                 g.op('Shape', x, name=sub('input_shape')), name=sub('scatter_index'))
    compact = g.op('ScatterElements', x, index, x, axis=1, name=sub('compact'))
    seq_lens = ctx.cast(ctx.squeeze(lengths, [1], name=sub('lengths_1d')), 'int32',
                        name=sub('sequence_lens'))
    x_tm = g.op('Transpose', compact, perm=[1, 0, 2], name=sub('time_major'))
    states = []
    for i, (cell, init) in enumerate(zip(cells, per_cell_initial)):
        cell_name = name if len(cells) == 1 else '%s/cell_%d' % (name, i)
        x_tm, cell_states = _run_cell(ctx, call, cell, x_tm, seq_lens, init, 'forward',
                                      cell_name)
        states += cell_states
    last_h = states[-states_per_cell[-1]]
    zero_output = layer.zero_output_for_mask
    if not layer.return_sequences:
        if zero_output:   # the last step's output is zero when that step is masked
            last_kept = ctx.cast(ctx.slice(mask, [-1], [2 ** 62], [1], name=sub('last_step')),
                                 'float32', name=sub('last_kept'))
            last_h = g.op('Mul', last_h, last_kept, name=sub('last_output'))
        return last_h, states
    y_compact = g.op('Transpose', x_tm, perm=[1, 0, 2], name=sub('compact_outputs'))
    if zero_output:
        source = target       # masked steps read past the kept ones: zeros there
    else:
        source = g.op('Max', kept_target, g.const(np.asarray(0, 'int64')), name=sub('source'))
    gather_index = g.op('Expand', ctx.unsqueeze(source, [-1], name=sub('source_3d')),
                        g.op('Shape', y_compact, name=sub('output_shape')),
                        name=sub('gather_index'))
    y = g.op('GatherElements', y_compact, gather_index, axis=1, name=sub('outputs'))
    if not zero_output:   # before the first kept step Keras outputs zeros
        started = ctx.cast(g.op('Greater', count, g.const(np.asarray(0, 'int64')),
                                name=sub('started')), 'float32', name=sub('started_f'))
        y = g.op('Mul', y, ctx.unsqueeze(started, [-1], name=sub('started_3d')),
                 name=sub('outputs_started'))
    if layer.go_backwards and aligned:
        y = _reverse_time(ctx, y, 1, sub('input_order'))
    return y, states


def rnn_masks(layer, mask, n_outputs, output_shape):
    output_mask = mask if layer.return_sequences else None
    return [output_mask] + [None] * (n_outputs - 1)


@exporter(SimpleRNN, LSTM, GRU, RNN, masks=True)
def recurrent(ctx, call):
    layer = call.layer
    if call.arguments.get('initial_state') is not None or call.arguments.get('constants'):
        call.fail('initial states given as arrays at call time are not part of the graph; '
                  'pass them as Input() tensors')
    x_value = call.inputs[0]
    initial = [ctx.plain(v) for v in call.inputs[1:]]
    output, states = run_rnn(ctx, call, layer, x_value, call.mask, initial, call.name)
    outputs = [Value(output, call.output_shapes[0], x_value.dtype)]
    if layer.return_state:
        outputs += [Value(s, shape, x_value.dtype) for s, shape in
                    zip(states, call.output_shapes[1:])]
    call.out_masks = rnn_masks(layer, call.mask, len(outputs), call.output_shapes[0])
    return outputs
