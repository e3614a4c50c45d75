"""Recurrent ops on torch: Keras's ``rnn`` loop and fused LSTM/GRU/SimpleRNN.

Semantics are those of the numpy reference (``numpy_backend/recurrent.py``): batch-major
inputs, outputs in processing order with ``go_backwards``, masked steps carrying the
previous output and states.

Speed: when the activations are the standard ones (LSTM and GRU ``tanh``/``sigmoid``
with ``reset_after``, SimpleRNN ``tanh``/``relu``) and there is no mask or a
right-padding mask (``Embedding(mask_zero=True)`` on post-padded sequences), the whole
sequence goes to torch's native recurrent kernels (``torch.lstm``, ``torch.gru``,
``torch.rnn_tanh``; packed sequences for masks), which follow Keras's equations once
the gates are reordered; otherwise the inputs of all timesteps are projected with one matmul and the loop
does only the recurrent matmul. Both paths support autograd.

>>> import torch
>>> step = lambda x, states: (x + states[0], [x + states[0]])
>>> last, outputs, states = rnn(step, torch.ones(1, 3, 2), [torch.zeros(1, 2)])
>>> last.tolist(), tuple(outputs.shape)
([[3.0, 3.0]], (1, 3, 2))
"""
import torch
from torch.nn.utils.rnn import (PackedSequence, pack_padded_sequence,
                                pad_packed_sequence)

__all__ = ['rnn', 'lstm', 'gru', 'simple_rnn', 'reverse']


def _as_tensor(x, like=None):
    if isinstance(x, torch.Tensor):
        return x
    return torch.as_tensor(x, dtype=like.dtype if like is not None else None)


def reverse(x, axes):
    """Reverse ``x`` along ``axes`` (an int or a list), as Keras's ``K.reverse``."""
    return torch.flip(x, dims=list(axes) if isinstance(axes, (list, tuple)) else [axes])


def _where(mask_t, new, old):
    m = mask_t.reshape(mask_t.shape + (1,) * (new.dim() - 1))
    return torch.where(m, new, old)


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None,
        unroll=False, input_length=None, zero_output_for_mask=False, return_all_outputs=True):
    """Iterate ``step_function(x_t, states + constants) -> (output, new_states)`` over time.

    Returns ``(last_output, outputs, new_states)`` as Keras's backend ``rnn`` does.
    """
    inputs = _as_tensor(inputs)
    timesteps = inputs.shape[1]
    if timesteps == 0:
        raise ValueError('rnn() needs at least one timestep; got inputs of shape %s'
                         % (tuple(inputs.shape),))
    states = [_as_tensor(s, inputs) for s in initial_states]
    constants = list(constants or [])
    if mask is not None:
        mask = _as_tensor(mask).bool()
        if mask.dim() > 2:
            mask = mask.reshape(mask.shape[:2])
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    outputs, prev_output = [], None
    for t in order:
        output, new_states = step_function(inputs[:, t], states + constants)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        if mask is not None:
            m = mask[:, t]
            if zero_output_for_mask or prev_output is None:
                fallback = torch.zeros_like(output)
            else:
                fallback = prev_output
            output = _where(m, output, fallback)
            new_states = [_where(m, s, old) for s, old in zip(new_states, states)]
        states, prev_output = new_states, output
        if return_all_outputs or not outputs:
            outputs.append(output)
        else:
            outputs[0] = output
    return prev_output, torch.stack(outputs, dim=1), states


def _is_activation(fn, *names):
    from kzoo import activations  # lazy: activations imports the backend
    return any(fn is getattr(activations, n, None) or fn is getattr(torch, n, None)
               for n in names)


def _project(inputs, kernel, bias):
    if bias is not None:
        return torch.addmm(bias, inputs.reshape(-1, inputs.shape[-1]), kernel).reshape(
            inputs.shape[:-1] + (kernel.shape[1],))
    return torch.matmul(inputs, kernel)


def _native(fn, inputs, states, params, has_biases, go_backwards, mask=None,
            zero_output_for_mask=False):
    """Run one of torch's fused recurrent kernels (batch-first, one layer) with Keras's
    conventions: ``(last_output, outputs, states)``, or None when ``mask`` is not a
    right-padding mask (those go through the step loop)."""
    hx = [s.unsqueeze(0).contiguous() for s in states]
    hx = hx[0] if len(hx) == 1 else tuple(hx)
    if mask is None:
        x = inputs.flip(1) if go_backwards else inputs
        out = fn(x.contiguous(), hx, params, has_biases, 1, 0.0, False, False, True)
        return out[0][:, -1], out[0], [s[0] for s in out[1:]]
    lengths = _right_padded_lengths(mask)
    if lengths is None:
        return None
    return _native_packed(fn, inputs, hx, params, has_biases, lengths, go_backwards,
                          zero_output_for_mask)


def _right_padded_lengths(mask):
    """Sequence lengths if every row of ``mask`` is ones then zeros (at least one one)."""
    mask = _as_tensor(mask).bool()
    if mask.dim() > 2:
        mask = mask.reshape(mask.shape[:2])
    lengths = mask.sum(dim=1)
    if lengths.numel() == 0 or int(lengths.min()) < 1:
        return None
    steps = torch.arange(mask.shape[1], device=mask.device)
    if not torch.equal(steps[None] < lengths[:, None], mask):
        return None
    return lengths


def _gather_steps(x, index):
    return torch.gather(x, 1, index[..., None].expand(-1, -1, x.shape[2]))


def _native_packed(fn, inputs, hx, params, has_biases, lengths, go_backwards,
                   zero_output_for_mask):
    """Right-padded sequences through the packed kernel, rearranged to Keras's outputs:
    forwards, padded steps repeat the last output (zeros with ``zero_output_for_mask``);
    backwards, the padded steps come first in processing order, with zero outputs."""
    batch, timesteps = inputs.shape[:2]
    steps = torch.arange(timesteps, device=inputs.device)
    x = inputs
    if go_backwards:  # each sequence's valid part, reversed, at the start
        x = _gather_steps(inputs, (lengths[:, None] - 1 - steps[None]).clamp(min=0))
    order = torch.argsort(lengths, descending=True)
    inverse = torch.argsort(order)
    packed = pack_padded_sequence(x[order], lengths[order].cpu(), batch_first=True)
    hx = tuple(h[:, order].contiguous() for h in hx) if isinstance(hx, tuple) \
        else hx[:, order].contiguous()
    out = fn(packed.data, packed.batch_sizes, hx, params, has_biases, 1, 0.0, False, False)
    padded, _ = pad_packed_sequence(PackedSequence(out[0], packed.batch_sizes),
                                    batch_first=True, total_length=timesteps)
    padded = padded[inverse]  # valid steps first, zeros after
    states = [s[0][inverse] for s in out[1:]]
    if go_backwards:
        shift = (timesteps - lengths)[:, None]
        outputs = _gather_steps(padded, (steps[None] - shift).clamp(min=0))
        outputs = torch.where((steps[None] >= shift)[..., None], outputs,
                              torch.zeros((), dtype=outputs.dtype))
    elif zero_output_for_mask:
        outputs = padded
    else:
        last = padded[torch.arange(batch, device=padded.device), lengths - 1]
        outputs = torch.where((steps[None] < lengths[:, None])[..., None], padded,
                              last[:, None])
    return outputs[:, -1], outputs, states


def _standardize(inputs, *states):
    inputs = _as_tensor(inputs)
    return [inputs] + [_as_tensor(s, inputs) for s in states]


def lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias,
         activation, recurrent_activation, return_sequences=False, go_backwards=False,
         unroll=False, zero_output_for_mask=False):
    """Keras LSTM over a whole sequence: ``(last_output, outputs, [h, c])``; gates i, f, c, o
    (torch's own order, so the native kernel takes Keras weights transposed)."""
    inputs, h0, c0 = _standardize(inputs, initial_state_h, initial_state_c)
    units = recurrent_kernel.shape[0]
    if _is_activation(activation, 'tanh') and _is_activation(recurrent_activation, 'sigmoid'):
        params = [kernel.t(), recurrent_kernel.t()]
        if bias is not None:
            params += [bias, torch.zeros_like(bias)]
        result = _native(torch.lstm, inputs, [h0, c0], params, bias is not None, go_backwards,
                         mask, zero_output_for_mask)
        if result is not None:
            return result

    x_proj = _project(inputs, kernel, bias)

    def step(x_t, states):
        h, c = states[0], states[1]
        z = torch.addmm(x_t, h, recurrent_kernel)
        i, f, g, o = torch.split(z, units, dim=1)
        c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
        h = recurrent_activation(o) * activation(c)
        return h, [h, c]

    return rnn(step, x_proj, [h0, c0], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)


def _zrh_to_rzh(w, units):
    """Keras GRU gate blocks (z, r, h) along the last axis -> torch's (r, z, n)."""
    return torch.cat([w[..., units:2 * units], w[..., :units], w[..., 2 * units:]], dim=-1)


def gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation,
        recurrent_activation, return_sequences=False, go_backwards=False, unroll=False,
        reset_after=True, zero_output_for_mask=False):
    """Keras GRU over a whole sequence: ``(last_output, outputs, [h])``; gates z, r, h.

    ``reset_after=True`` is the cuDNN form torch implements natively (bias ``(2, 3u)``);
    ``reset_after=False`` (Keras 1/2) resets the state before its projection.
    """
    inputs, h0 = _standardize(inputs, initial_state)
    units = recurrent_kernel.shape[0]
    input_bias = recurrent_bias = None
    if bias is not None:
        if reset_after:
            input_bias, recurrent_bias = bias[0], bias[1]
        else:
            input_bias = bias
    if reset_after and _is_activation(activation, 'tanh') \
            and _is_activation(recurrent_activation, 'sigmoid'):
        params = [_zrh_to_rzh(kernel, units).t(), _zrh_to_rzh(recurrent_kernel, units).t()]
        if bias is not None:
            params += [_zrh_to_rzh(input_bias, units), _zrh_to_rzh(recurrent_bias, units)]
        result = _native(torch.gru, inputs, [h0], params, bias is not None, go_backwards, mask,
                         zero_output_for_mask)
        if result is not None:
            return result

    x_proj = _project(inputs, kernel, input_bias)
    rk_zr, rk_h = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]

    def step(x_t, states):
        h = states[0]
        if reset_after:
            inner = torch.matmul(h, recurrent_kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = torch.matmul(h, rk_zr)
        z = recurrent_activation(x_t[:, :units] + inner[:, :units])
        r = recurrent_activation(x_t[:, units:2 * units] + inner[:, units:2 * units])
        if reset_after:
            recurrent_h = r * inner[:, 2 * units:]
        else:
            recurrent_h = torch.matmul(r * h, rk_h)
        hh = activation(x_t[:, 2 * units:] + recurrent_h)
        h = z * h + (1 - z) * hh
        return h, [h]

    return rnn(step, x_proj, [h0], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)


def simple_rnn(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation,
               return_sequences=False, go_backwards=False, unroll=False,
               zero_output_for_mask=False):
    """Keras SimpleRNN: ``h = activation(x W + b + h U)``; ``(last, outputs, [h])``."""
    inputs, h0 = _standardize(inputs, initial_state)
    native = torch.rnn_tanh if _is_activation(activation, 'tanh') else \
        torch.rnn_relu if _is_activation(activation, 'relu') else None
    if native is not None:
        params = [kernel.t(), recurrent_kernel.t()]
        if bias is not None:
            params += [bias, torch.zeros_like(bias)]
        result = _native(native, inputs, [h0], params, bias is not None, go_backwards, mask,
                         zero_output_for_mask)
        if result is not None:
            return result

    x_proj = _project(inputs, kernel, bias)

    def step(x_t, states):
        h = activation(torch.addmm(x_t, states[0], recurrent_kernel))
        return h, [h]

    return rnn(step, x_proj, [h0], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)
