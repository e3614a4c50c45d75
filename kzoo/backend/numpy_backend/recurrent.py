"""Recurrent ops, numpy reference: Keras's ``rnn`` loop and fused LSTM/GRU/SimpleRNN.

Every op follows the TensorFlow backend of Keras (the oracle) step for step:

- ``inputs`` are batch-major, ``(batch, timesteps, ...)``;
- with ``go_backwards`` the sequence is processed from its end and the outputs come
  back in processing order (reversed), as Keras returns them;
- a masked step keeps the previous states and repeats the previous output (zeros
  before the first unmasked step), or outputs zeros with ``zero_output_for_mask``.

The fused ops project the inputs of all timesteps with one matmul, then loop with
only the recurrent matmul. Gate order is Keras's: LSTM ``i, f, c, o``; GRU ``z, r, h``.

>>> import numpy as np
>>> step = lambda x, states: (x + states[0], [x + states[0]])
>>> last, outputs, states = rnn(step, np.ones((1, 3, 2), 'float32'), [np.zeros((1, 2), 'float32')])
>>> last.tolist(), outputs.shape
([[3.0, 3.0]], (1, 3, 2))
"""
import numpy as np

__all__ = ['rnn', 'lstm', 'gru', 'simple_rnn', 'reverse']


def reverse(x, axes):
    """Reverse ``x`` along ``axes`` (an int or a list), as Keras's ``K.reverse``."""
    return np.flip(x, axis=tuple(axes) if isinstance(axes, (list, tuple)) else axes).copy()


def _where(mask_t, new, old):
    """``new`` where the step is kept, ``old`` where it is masked (mask is (batch,))."""
    m = mask_t.reshape(mask_t.shape + (1,) * (np.ndim(new) - 1))
    return np.where(m, new, old)


def rnn(step_function, inputs, initial_states, go_backwards=False, mask=None, constants=None,
        unroll=False, input_length=None, zero_output_for_mask=False, return_all_outputs=True):
    """Iterate ``step_function(x_t, states + constants) -> (output, new_states)`` over time.

    Returns ``(last_output, outputs, new_states)``; ``outputs`` is
    ``(batch, timesteps, ...)`` (only the last step when ``return_all_outputs`` is
    false). ``unroll`` and ``input_length`` are accepted for Keras compatibility: a
    Python loop is already unrolled.
    """
    inputs = np.asarray(inputs)
    timesteps = inputs.shape[1]
    if timesteps == 0:
        raise ValueError('rnn() needs at least one timestep; got inputs of shape %s'
                         % (inputs.shape,))
    states = list(initial_states)
    constants = list(constants or [])
    if mask is not None:
        mask = np.asarray(mask).astype(bool)
        if mask.ndim > 2:  # Keras accepts (batch, timesteps, 1)
            mask = mask.reshape(mask.shape[:2])
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    outputs, prev_output = [], None
    for t in order:
        output, new_states = step_function(inputs[:, t], states + constants)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        if mask is not None:
            m = mask[:, t]
            if zero_output_for_mask:
                fallback = np.zeros_like(output)
            else:
                fallback = prev_output if prev_output is not None else np.zeros_like(output)
            output = _where(m, output, fallback)
            new_states = [_where(m, s, old) for s, old in zip(new_states, states)]
        states, prev_output = new_states, output
        if return_all_outputs or not outputs:
            outputs.append(output)
        else:
            outputs[0] = output
    return prev_output, np.stack(outputs, axis=1), states


def _project(inputs, kernel, bias):
    x = np.dot(inputs, kernel)
    return x + bias if bias is not None else x


def lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias,
         activation, recurrent_activation, return_sequences=False, go_backwards=False,
         unroll=False, zero_output_for_mask=False):
    """Keras LSTM over a whole sequence: ``(last_output, outputs, [h, c])``.

    ``kernel`` is ``(input_dim, 4 units)``, ``recurrent_kernel`` ``(units, 4 units)``
    and ``bias`` ``(4 units,)`` or ``None``, gates in order i, f, c, o.
    """
    units = recurrent_kernel.shape[0]
    x_proj = _project(inputs, kernel, bias)

    def step(x_t, states):
        h, c = states[0], states[1]
        z = x_t + np.dot(h, recurrent_kernel)
        i = recurrent_activation(z[:, :units])
        f = recurrent_activation(z[:, units:2 * units])
        c = f * c + i * activation(z[:, 2 * units:3 * units])
        o = recurrent_activation(z[:, 3 * units:])
        h = o * activation(c)
        return h, [h, c]

    return rnn(step, x_proj, [initial_state_h, initial_state_c], go_backwards=go_backwards,
               mask=mask, zero_output_for_mask=zero_output_for_mask,
               return_all_outputs=return_sequences)


def gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation,
        recurrent_activation, return_sequences=False, go_backwards=False, unroll=False,
        reset_after=True, zero_output_for_mask=False):
    """Keras GRU over a whole sequence: ``(last_output, outputs, [h])``.

    Gates z, r, h. With ``reset_after`` (the cuDNN convention) ``bias`` is
    ``(2, 3 units)``, input bias then recurrent bias, and the reset gate multiplies
    the recurrent projection; without it ``bias`` is ``(3 units,)`` and the reset
    gate multiplies the state before its projection.
    """
    units = recurrent_kernel.shape[0]
    input_bias = recurrent_bias = None
    if bias is not None:
        if reset_after:
            input_bias, recurrent_bias = bias[0], bias[1]
        else:
            input_bias = bias
    x_proj = _project(inputs, kernel, input_bias)

    def step(x_t, states):
        h = states[0]
        if reset_after:
            inner = np.dot(h, recurrent_kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = np.dot(h, recurrent_kernel[:, :2 * units])
        z = recurrent_activation(x_t[:, :units] + inner[:, :units])
        r = recurrent_activation(x_t[:, units:2 * units] + inner[:, units:2 * units])
        if reset_after:
            recurrent_h = r * inner[:, 2 * units:]
        else:
            recurrent_h = np.dot(r * h, recurrent_kernel[:, 2 * units:])
        hh = activation(x_t[:, 2 * units:] + recurrent_h)
        h = z * h + (1 - z) * hh
        return h, [h]

    return rnn(step, x_proj, [initial_state], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)


def simple_rnn(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation,
               return_sequences=False, go_backwards=False, unroll=False,
               zero_output_for_mask=False):
    """Keras SimpleRNN: ``h = activation(x W + b + h U)``; ``(last, outputs, [h])``."""
    x_proj = _project(inputs, kernel, bias)

    def step(x_t, states):
        h = activation(x_t + np.dot(states[0], recurrent_kernel))
        return h, [h]

    return rnn(step, x_proj, [initial_state], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)
