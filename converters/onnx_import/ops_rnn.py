"""Handlers: LSTM, GRU, RNN.

With constant weights, full-length sequences, no peepholes, no ``clip``, no
``input_forget`` and activations Keras can name, each direction becomes a kzoo
``LSTM``/``GRU``/``SimpleRNN`` layer: ONNX's LSTM gates (i, o, f, c) are reordered to
Keras's (i, f, c, o), the two ONNX biases are summed (GRU with
``linear_before_reset=1`` keeps both as Keras's ``reset_after`` bias), the reverse
direction runs with ``go_backwards`` and its outputs are put back in time order.
Everything else runs in :class:`OnnxRecurrent`.
"""
import numpy as np

from kzoo.layers import GRU, LSTM, SimpleRNN

from .common import keras_weights
from .importer import Value
from .layers import OnnxConcat, OnnxConstant, OnnxGather, OnnxSlice, OnnxUnsqueeze, \
    operand_spec
from .rnn_layers import DEFAULT_ACTIVATIONS, OnnxRecurrent
from .registry import onnx_op

KERAS_ACTIVATIONS = {'Sigmoid': 'sigmoid', 'Tanh': 'tanh', 'Relu': 'relu',
                     'Softsign': 'softsign', 'Softplus': 'softplus'}


def _keras_activations(kind, node, directions):
    """Per direction, Keras's (activation, recurrent_activation), or None."""
    if node.attr('activation_alpha') or node.attr('activation_beta'):
        return None
    names = node.attr('activations') or DEFAULT_ACTIVATIONS[kind] * directions
    per = len(DEFAULT_ACTIVATIONS[kind])
    out = []
    for d in range(directions):
        acts = names[d * per:(d + 1) * per]
        if any(a not in KERAS_ACTIVATIONS for a in acts):
            return None
        if kind == 'LSTM':
            if acts[1] != acts[2]:
                return None
            out.append((KERAS_ACTIVATIONS[acts[1]], KERAS_ACTIVATIONS[acts[0]]))
        elif kind == 'GRU':
            out.append((KERAS_ACTIVATIONS[acts[1]], KERAS_ACTIVATIONS[acts[0]]))
        else:
            out.append((KERAS_ACTIVATIONS[acts[0]], None))
    return out


def _keras_weights(kind, w, r, b, hidden, lbr):
    """Keras weights [kernel, recurrent_kernel, (bias)] of one direction."""
    gates = {'LSTM': 4, 'GRU': 3, 'RNN': 1}[kind]
    if kind == 'LSTM':
        def reorder(m):  # ONNX i, o, f, c -> Keras i, f, c, o
            i, o, f, c = np.split(m, 4, axis=0)
            return np.concatenate([i, f, c, o], axis=0)
        w, r = reorder(w), reorder(r)
    weights = [np.ascontiguousarray(w.T), np.ascontiguousarray(r.T)]
    if b is not None:
        wb, rb = b[:gates * hidden], b[gates * hidden:]
        if kind == 'LSTM':
            weights.append(reorder(wb) + reorder(rb))
        elif kind == 'GRU' and lbr:
            weights.append(np.stack([wb, rb]))
        else:
            weights.append(wb + rb)
    return keras_weights(weights)


def _state(ctx, node, state, d, layout, anchor):
    """Direction ``d`` of an initial state (directions, batch, hidden), or None."""
    if state is None:
        return None
    axis = 1 if layout else 0
    if state.is_const:
        value = np.take(state.const, d, axis=axis)
        if not np.any(value):
            return None
        layer = OnnxConstant(operands=['input', operand_spec(1, value)[0]], constants={1: value},
                             name=ctx.layer_name('_h0'), dtype=value.dtype.name)
        return Value(tensor=layer(anchor.tensor), dtype=value.dtype)
    return ctx.one(OnnxGather, [state, Value(const=np.asarray(d, 'int64'))], axis=axis,
                   suffix='_state%d' % d)


def _keras_path_ok(ctx, node, kind, inputs, directions):
    x, w, r = inputs[0], inputs[1], inputs[2]
    b, lens, peep = inputs[3], inputs[4], inputs[7]
    if x.is_const or not (w.is_const and r.is_const and (b is None or b.is_const)):
        return False
    if x.dtype != np.float32 or node.attr('clip') is not None or node.attr('input_forget', 0):
        return False
    if peep is not None and (not peep.is_const or np.any(peep.const)):
        return False
    if lens is not None:
        steps = x.shape[1] if node.attr('layout', 0) else x.shape[0]
        if not lens.is_const or steps is None or np.any(lens.const != steps):
            return False
    return _keras_activations(kind, node, directions) is not None


def recurrent(ctx, node, inputs):
    kind = node.op_type
    inputs = [ctx.to_cf(v) for v in (list(inputs) + [None] * 8)[:8]]
    direction = node.attr('direction', 'forward')
    directions = 2 if direction == 'bidirectional' else 1
    hidden = node.attr('hidden_size')
    layout = node.attr('layout', 0)
    if hidden is None:
        hidden = int(inputs[2].shape[-1])
    if not _keras_path_ok(ctx, node, kind, inputs, directions):
        operands = inputs if kind == 'LSTM' else inputs[:6]
        return ctx.generic(OnnxRecurrent, operands, kind=kind, hidden_size=hidden,
                           direction=direction, activations=node.attr('activations'),
                           activation_alpha=node.attr('activation_alpha'),
                           activation_beta=node.attr('activation_beta'),
                           clip=node.attr('clip'), input_forget=node.attr('input_forget', 0),
                           linear_before_reset=node.attr('linear_before_reset', 0),
                           layout=layout)
    x, w, r, b = inputs[:4]
    h0, c0 = inputs[5], inputs[6]
    acts = _keras_activations(kind, node, directions)
    lbr = node.attr('linear_before_reset', 0)
    seq = x if layout else ctx.transpose(x, [1, 0, 2], suffix='_batch_major')
    ys, hs, cs = [], [], []
    for d in range(directions):
        reverse = direction == 'reverse' or d == 1
        weights = _keras_weights(kind, w.const[d], r.const[d],
                                 None if b is None else b.const[d], hidden, lbr)
        options = dict(return_sequences=True, return_state=True, go_backwards=reverse,
                       use_bias=b is not None, weights=weights,
                       name=ctx.layer_name('_reverse' if reverse and directions == 2 else ''))
        activation, recurrent_activation = acts[d]
        if kind == 'LSTM':
            layer = LSTM(hidden, activation=activation, recurrent_activation=recurrent_activation,
                         unit_forget_bias=False, **options)
        elif kind == 'GRU':
            layer = GRU(hidden, activation=activation, recurrent_activation=recurrent_activation,
                        reset_after=bool(lbr), **options)
        else:
            layer = SimpleRNN(hidden, activation=activation, **options)
        states = [_state(ctx, node, h0, d, layout, seq)]
        if kind == 'LSTM':
            states.append(_state(ctx, node, c0, d, layout, seq))
        if any(s is not None for s in states):
            states = [s if s is not None else _zero_state(ctx, seq, hidden)
                      for s in states]
            outputs = ctx.keras(layer, [seq] + states)
        else:
            outputs = ctx.keras(layer, [seq])
        y = outputs[0]
        if reverse:  # Keras returns the backward pass in processing order
            y = ctx.one(OnnxSlice, [y, Value(const=np.asarray([-1], 'int64')),
                                    Value(const=np.asarray([-2 ** 62], 'int64')),
                                    Value(const=np.asarray([1], 'int64')),
                                    Value(const=np.asarray([-1], 'int64'))], suffix='_in_order')
        ys.append(y)
        hs.append(outputs[1])
        if kind == 'LSTM':
            cs.append(outputs[2])
    return _onnx_outputs(ctx, node, ys, hs, cs, layout)


def _zero_state(ctx, seq, hidden):
    zero = np.zeros((seq.shape[0], hidden), 'float32')
    layer = OnnxConstant(operands=['input', operand_spec(1, zero)[0]], constants={1: zero},
                         name=ctx.layer_name('_zero_state'), dtype='float32')
    return Value(tensor=layer(seq.tensor))


def _onnx_outputs(ctx, node, ys, hs, cs, layout):
    wanted = [bool(o) for o in node.outputs] + [False] * 3
    results = [None, None, None]
    if wanted[0]:
        parts = []
        for y in ys:  # (batch, seq, hidden) -> (seq, 1, batch, hidden) or (batch, seq, 1, h)
            if not layout:
                y = ctx.transpose(y, [1, 0, 2], suffix='_time_major')
            parts.append(ctx.one(OnnxUnsqueeze, [y, Value(const=np.asarray(
                [2 if layout else 1], 'int64'))], suffix='_Y'))
        results[0] = parts[0] if len(parts) == 1 else ctx.one(
            OnnxConcat, parts, axis=2 if layout else 1, suffix='_Y_both')
    for slot, states in ((1, hs), (2, cs)):
        if wanted[slot] and states:
            parts = [ctx.one(OnnxUnsqueeze, [s, Value(const=np.asarray(
                [1 if layout else 0], 'int64'))], suffix='_state') for s in states]
            results[slot] = parts[0] if len(parts) == 1 else ctx.one(
                OnnxConcat, parts, axis=1 if layout else 0, suffix='_state_both')
    return results[:len(node.outputs)]


onnx_op('LSTM', 1, 7, 14, 22)(recurrent)
onnx_op('GRU', 1, 3, 7, 14, 22)(recurrent)
onnx_op('RNN', 1, 7, 14, 22)(recurrent)
