"""Recurrent ops on tensorflow: Keras's ``rnn`` loop and fused LSTM/GRU/SimpleRNN.

Semantics are those of the numpy reference (``numpy_backend/recurrent.py``):
batch-major inputs, outputs in processing order with ``go_backwards``, masked steps
carrying the previous output and states. As Keras 3 does on the CPU, each step is
the cell's equations in eager TensorFlow ops; the fused ops first project the inputs
of all timesteps with one matmul so the loop does only the recurrent matmul.

>>> import tensorflow as tf
>>> step = lambda x, states: (x + states[0], [x + states[0]])
>>> last, outputs, states = rnn(step, tf.ones((1, 3, 2)), [tf.zeros((1, 2))])
>>> last.numpy().tolist(), tuple(outputs.shape)
([[3.0, 3.0]], (1, 3, 2))
"""
import tensorflow as tf

from kzoo.backend.tensorflow_backend.core import convert_to_tensor, is_tensor

__all__ = ['rnn', 'lstm', 'gru', 'simple_rnn', 'reverse']


def _as_tensor(x, like=None):
    if is_tensor(x):
        return x if like is None or x.dtype == like.dtype else tf.cast(x, like.dtype)
    return convert_to_tensor(x, dtype=like.dtype.name if like is not None else None)


def reverse(x, axes):
    """Reverse ``x`` along ``axes`` (an int or a list), as Keras's ``K.reverse``."""
    return tf.reverse(x, axis=list(axes) if isinstance(axes, (list, tuple)) else [axes])


def _where(mask_t, new, old):
    """``new`` where the step is kept, ``old`` where it is masked (mask is (batch,))."""
    m = tf.reshape(mask_t, tuple(mask_t.shape) + (1,) * (len(new.shape) - 1))
    return tf.where(m, new, old)


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
        mask = tf.cast(_as_tensor(mask), tf.bool)
        if len(mask.shape) > 2:  # Keras accepts (batch, timesteps, 1)
            mask = tf.reshape(mask, tuple(mask.shape[:2]))
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    outputs, prev_output = [], None
    for t in order:
        output, new_states = step_function(inputs[:, t], states + constants)
        new_states = list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]
        if mask is not None:
            m = mask[:, t]
            if zero_output_for_mask or prev_output is None:
                fallback = tf.zeros_like(output)
            else:
                fallback = prev_output
            output = _where(m, output, fallback)
            new_states = [_where(m, s, old) for s, old in zip(new_states, states)]
        states, prev_output = new_states, output
        if return_all_outputs or not outputs:
            outputs.append(output)
        else:
            outputs[0] = output
    return prev_output, tf.stack(outputs, axis=1), states


def _project(inputs, kernel, bias):
    x = tf.matmul(inputs, kernel)
    return x + bias if bias is not None else x


def _standardize(inputs, *states):
    inputs = _as_tensor(inputs)
    return [inputs] + [_as_tensor(s, inputs) for s in states]


def lstm(inputs, initial_state_h, initial_state_c, mask, kernel, recurrent_kernel, bias,
         activation, recurrent_activation, return_sequences=False, go_backwards=False,
         unroll=False, zero_output_for_mask=False):
    """Keras LSTM over a whole sequence: ``(last_output, outputs, [h, c])``; gates i, f, c, o."""
    inputs, h0, c0 = _standardize(inputs, initial_state_h, initial_state_c)
    units = int(recurrent_kernel.shape[0])
    x_proj = _project(inputs, kernel, bias)

    def step(x_t, states):
        h, c = states[0], states[1]
        z = x_t + tf.matmul(h, recurrent_kernel)
        i, f, g, o = tf.split(z, [units] * 4, axis=1)
        c = recurrent_activation(f) * c + recurrent_activation(i) * activation(g)
        h = recurrent_activation(o) * activation(c)
        return h, [h, c]

    return rnn(step, x_proj, [h0, c0], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)


def gru(inputs, initial_state, mask, kernel, recurrent_kernel, bias, activation,
        recurrent_activation, return_sequences=False, go_backwards=False, unroll=False,
        reset_after=True, zero_output_for_mask=False):
    """Keras GRU over a whole sequence: ``(last_output, outputs, [h])``; gates z, r, h.

    ``reset_after=True`` (bias ``(2, 3u)``) resets the recurrent projection;
    ``reset_after=False`` (Keras 1/2) resets the state before its projection.
    """
    inputs, h0 = _standardize(inputs, initial_state)
    units = int(recurrent_kernel.shape[0])
    input_bias = recurrent_bias = None
    if bias is not None:
        if reset_after:
            input_bias, recurrent_bias = bias[0], bias[1]
        else:
            input_bias = bias
    x_proj = _project(inputs, kernel, input_bias)
    rk_zr, rk_h = recurrent_kernel[:, :2 * units], recurrent_kernel[:, 2 * units:]

    def step(x_t, states):
        h = states[0]
        if reset_after:
            inner = tf.matmul(h, recurrent_kernel)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
        else:
            inner = tf.matmul(h, rk_zr)
        z = recurrent_activation(x_t[:, :units] + inner[:, :units])
        r = recurrent_activation(x_t[:, units:2 * units] + inner[:, units:2 * units])
        if reset_after:
            recurrent_h = r * inner[:, 2 * units:]
        else:
            recurrent_h = tf.matmul(r * h, rk_h)
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
    x_proj = _project(inputs, kernel, bias)

    def step(x_t, states):
        h = activation(x_t + tf.matmul(states[0], recurrent_kernel))
        return h, [h]

    return rnn(step, x_proj, [h0], go_backwards=go_backwards, mask=mask,
               zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_sequences)
