"""``LSTM`` and ``LSTMCell`` (Hochreiter 1997), Keras's equations and weight layout.

Weights: ``kernel`` ``(input_dim, 4 units)``, ``recurrent_kernel`` ``(units, 4 units)``,
``bias`` ``(4 units,)``, gate blocks in order i, f, c, o. Defaults are Keras 3 /
tf.keras's (``recurrent_activation='sigmoid'``); Keras 1/2 files spell
``'hard_sigmoid'``, which kzoo computes as Keras 1/2 did.

>>> import numpy as np
>>> layer = LSTM(3, return_state=True)
>>> [a.shape for a in layer(np.zeros((2, 5, 4), 'float32'))]
[(2, 3), (2, 3), (2, 3)]
>>> [w.shape for w in layer.get_weights()]
[(4, 12), (3, 12), (12,)]
"""
import numpy as np

from kzoo import activations, backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.layers.legacy import keras1_kwargs
from kzoo.layers.recurrent import (FlatRNN, RNN, RNNCellBase, _drop_inputs, _positive_units,
                                   add_cell_fields)

__all__ = ['LSTM', 'LSTMCell']

LSTM_CELL_FIELDS = (
    'units', 'activation', 'recurrent_activation', 'use_bias', 'kernel_initializer',
    'recurrent_initializer', 'bias_initializer', 'unit_forget_bias', 'kernel_regularizer',
    'recurrent_regularizer', 'bias_regularizer', 'kernel_constraint', 'recurrent_constraint',
    'bias_constraint', 'dropout', 'recurrent_dropout', 'implementation', 'seed')


@register_layer()
class LSTMCell(RNNCellBase):
    """One LSTM step; states ``[h, c]``.

    >>> LSTMCell(5).state_size
    [5, 5]
    """
    config_fields = LSTM_CELL_FIELDS

    @keras1_kwargs()
    def __init__(self, units, activation='tanh', recurrent_activation='sigmoid', use_bias=True,
                 kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',
                 bias_initializer='zeros', unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.,
                 recurrent_dropout=0., implementation=2, seed=None, **kwargs):
        RNNCellBase.__init__(self, dropout=dropout, recurrent_dropout=recurrent_dropout,
                             seed=seed, **kwargs)
        self.units = _positive_units(units, type(self).__name__)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.implementation = int(implementation)
        self._init_weight_args(kernel_initializer, recurrent_initializer, bias_initializer,
                               kernel_regularizer, recurrent_regularizer, bias_regularizer,
                               kernel_constraint, recurrent_constraint, bias_constraint)
        self.state_size = [self.units, self.units]
        self.output_size = self.units

    @property
    def dropout_mask_count(self):
        # implementation=1 draws one mask per gate, as Keras does
        return 4 if self.implementation == 1 else 1

    def build(self, input_shape):
        self._add_kernels(input_shape[-1], 4 * self.units)
        self.bias = None
        if self.use_bias:
            self._add_bias((4 * self.units,),
                           self._forget_bias_initializer if self.unit_forget_bias else None)
        self.built = True

    def _forget_bias_initializer(self, shape, dtype=None):
        u = self.units
        init = self.bias_initializer
        return np.concatenate([init((u,), dtype), np.ones((u,), dtype or self.dtype),
                               init((2 * u,), dtype)]).astype(dtype or self.dtype)

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        u = self.units
        dp, rdp = self._dropout_mask, self._recurrent_dropout_mask
        if isinstance(dp, list) or isinstance(rdp, list):
            # one mask per gate: project each gate separately (Keras implementation 1)
            xs = [inputs * dp[g] if dp is not None else inputs for g in range(4)]
            hs = [h_tm1 * rdp[g] if rdp is not None else h_tm1 for g in range(4)]
            z = [K.dot(xs[g], self.kernel[:, g * u:(g + 1) * u])
                 + K.dot(hs[g], self.recurrent_kernel[:, g * u:(g + 1) * u])
                 for g in range(4)]
            if self.bias is not None:
                z = [z[g] + self.bias[g * u:(g + 1) * u] for g in range(4)]
        else:
            if dp is not None:
                inputs = inputs * dp
            if rdp is not None:
                h_tm1 = h_tm1 * rdp
            zz = K.dot(inputs, self.kernel) + K.dot(h_tm1, self.recurrent_kernel)
            if self.bias is not None:
                zz = zz + self.bias
            z = [zz[:, g * u:(g + 1) * u] for g in range(4)]
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_tm1 + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]


@register_layer()
class LSTM(FlatRNN):
    """Long Short-Term Memory layer (Keras 1: ``LSTM(output_dim, inner_activation=...)``).

    Inference without recurrent dropout runs through the fused ``K.lstm`` op (one
    input projection for all timesteps; torch's native kernel where it applies).
    """
    cell_class = LSTMCell
    cell_fields = LSTM_CELL_FIELDS

    @keras1_kwargs()
    def __init__(self, units, **kwargs):
        FlatRNN.__init__(self, units, **kwargs)

    def inner_loop(self, inputs, initial_state, mask, training):
        cell = self.cell
        if cell._recurrent_dropout_mask is not None or isinstance(cell._dropout_mask, list):
            return RNN.inner_loop(self, inputs, initial_state, mask, training)
        return K.lstm(_drop_inputs(inputs, cell), initial_state[0], initial_state[1], mask,
                      cell.kernel, cell.recurrent_kernel, cell.bias, cell.activation,
                      cell.recurrent_activation, return_sequences=self.return_sequences,
                      go_backwards=self.go_backwards, unroll=self.unroll,
                      zero_output_for_mask=self.zero_output_for_mask)


add_cell_fields(LSTM, LSTM_CELL_FIELDS)
