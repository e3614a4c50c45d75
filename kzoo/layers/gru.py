"""``GRU`` and ``GRUCell`` (Cho et al. 2014), both of Keras's variants.

Weights: ``kernel`` ``(input_dim, 3 units)``, ``recurrent_kernel`` ``(units, 3 units)``,
gate blocks z, r, h. ``reset_after=True`` (tf.keras 2 and Keras 3 default, the cuDNN
form) applies the reset gate after the recurrent projection and has a bias of shape
``(2, 3 units)`` (input bias, recurrent bias); ``reset_after=False`` (Keras 1/2)
applies it before, with a bias of ``(3 units,)``. Built in code the default is
``reset_after=True``; a saved config without the field predates it, so
``from_config`` reads its absence as ``False``.

>>> import numpy as np
>>> layer = GRU(2)
>>> layer(np.zeros((1, 3, 4), 'float32')).shape
(1, 2)
>>> [w.shape for w in layer.get_weights()]
[(4, 6), (2, 6), (2, 6)]
"""
from kzoo import activations, backend as K
from kzoo.engine.base_layer import register_layer
from kzoo.layers.legacy import keras1_kwargs
from kzoo.layers.recurrent import (FlatRNN, RNN, RNNCellBase, _drop_inputs, _positive_units,
                                   add_cell_fields, flatten_cell_config)

__all__ = ['GRU', 'GRUCell']

GRU_CELL_FIELDS = (
    'units', 'activation', 'recurrent_activation', 'use_bias', 'kernel_initializer',
    'recurrent_initializer', 'bias_initializer', 'kernel_regularizer', 'recurrent_regularizer',
    'bias_regularizer', 'kernel_constraint', 'recurrent_constraint', 'bias_constraint',
    'dropout', 'recurrent_dropout', 'implementation', 'reset_after', 'seed')


@register_layer()
class GRUCell(RNNCellBase):
    """One GRU step; state ``[h]``.

    >>> GRUCell(3, reset_after=False).state_size
    3
    """
    config_fields = GRU_CELL_FIELDS

    @keras1_kwargs()
    def __init__(self, units, activation='tanh', recurrent_activation='sigmoid', use_bias=True,
                 kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',
                 bias_initializer='zeros', kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0., recurrent_dropout=0., implementation=2,
                 reset_after=True, seed=None, **kwargs):
        RNNCellBase.__init__(self, dropout=dropout, recurrent_dropout=recurrent_dropout,
                             seed=seed, **kwargs)
        self.units = _positive_units(units, type(self).__name__)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.implementation = int(implementation)
        self.reset_after = bool(reset_after)
        self._init_weight_args(kernel_initializer, recurrent_initializer, bias_initializer,
                               kernel_regularizer, recurrent_regularizer, bias_regularizer,
                               kernel_constraint, recurrent_constraint, bias_constraint)
        self.state_size = self.units
        self.output_size = self.units

    @property
    def dropout_mask_count(self):
        return 3 if self.implementation == 1 else 1

    def build(self, input_shape):
        self._add_kernels(input_shape[-1], 3 * self.units)
        self.bias = None
        if self.use_bias:
            self._add_bias((2, 3 * self.units) if self.reset_after else (3 * self.units,))
        self.built = True

    def call(self, inputs, states, training=False):
        h_tm1 = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        input_bias = recurrent_bias = None
        if self.bias is not None:
            input_bias, recurrent_bias = (self.bias[0], self.bias[1]) if self.reset_after \
                else (self.bias, None)
        dp, rdp = self._dropout_mask, self._recurrent_dropout_mask
        xs = [inputs * (dp[g] if isinstance(dp, list) else dp) if dp is not None else inputs
              for g in range(3)]
        hs = [h_tm1 * (rdp[g] if isinstance(rdp, list) else rdp) if rdp is not None else h_tm1
              for g in range(3)]
        x = [K.dot(xs[g], self.kernel[:, g * u:(g + 1) * u]) for g in range(3)]
        if input_bias is not None:
            x = [x[g] + input_bias[g * u:(g + 1) * u] for g in range(3)]
        rec = [K.dot(hs[g], self.recurrent_kernel[:, g * u:(g + 1) * u]) for g in range(2)]
        if recurrent_bias is not None:
            rec = [rec[g] + recurrent_bias[g * u:(g + 1) * u] for g in range(2)]
        z = self.recurrent_activation(x[0] + rec[0])
        r = self.recurrent_activation(x[1] + rec[1])
        if self.reset_after:
            recurrent_h = K.dot(hs[2], self.recurrent_kernel[:, 2 * u:])
            if recurrent_bias is not None:
                recurrent_h = recurrent_h + recurrent_bias[2 * u:]
            recurrent_h = r * recurrent_h
        else:
            recurrent_h = K.dot(r * hs[2], self.recurrent_kernel[:, 2 * u:])
        hh = self.activation(x[2] + recurrent_h)
        h = z * h_tm1 + (1 - z) * hh
        return h, [h]

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config.setdefault('reset_after', False)  # saved before reset_after existed
        return cls(**config)


@register_layer()
class GRU(FlatRNN):
    """Gated Recurrent Unit layer.

    Inference without recurrent dropout runs through the fused ``K.gru`` op.
    """
    cell_class = GRUCell
    cell_fields = GRU_CELL_FIELDS

    @keras1_kwargs()
    def __init__(self, units, **kwargs):
        FlatRNN.__init__(self, units, **kwargs)

    def inner_loop(self, inputs, initial_state, mask, training):
        cell = self.cell
        if cell._recurrent_dropout_mask is not None or isinstance(cell._dropout_mask, list):
            return RNN.inner_loop(self, inputs, initial_state, mask, training)
        return K.gru(_drop_inputs(inputs, cell), initial_state[0], mask, cell.kernel,
                     cell.recurrent_kernel, cell.bias, cell.activation,
                     cell.recurrent_activation, return_sequences=self.return_sequences,
                     go_backwards=self.go_backwards, unroll=self.unroll,
                     reset_after=cell.reset_after,
                     zero_output_for_mask=self.zero_output_for_mask)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = flatten_cell_config(dict(config))
        config.setdefault('reset_after', False)  # saved before reset_after existed
        return cls(**config)


add_cell_fields(GRU, GRU_CELL_FIELDS)
