"""Convolutional LSTMs: ``ConvLSTM2D`` (and its 1D and 3D siblings) with their cells.

An LSTM whose input and recurrent transformations are convolutions. Inputs are
``(batch, time, *spatial, channels)`` (``channels_last``) or
``(batch, time, channels, *spatial)``. Weights, as Keras: ``kernel``
``(*kernel_size, channels, 4 filters)``, ``recurrent_kernel``
``(*kernel_size, filters, 4 filters)``, ``bias`` ``(4 filters,)``, gates i, f, c, o.
The input convolution uses the layer's padding, strides and dilation; the recurrent
one is always ``same`` with stride 1.

Inference convolves the inputs of all timesteps at once (time folded into the batch),
then the loop does only the recurrent convolution.

>>> import numpy as np
>>> layer = ConvLSTM2D(2, 3, padding='same', return_sequences=True)
>>> layer(np.zeros((1, 4, 5, 5, 3), 'float32')).shape
(1, 4, 5, 5, 2)
"""
import numpy as np

from kzoo import activations, backend as K
from kzoo.backend.conv_utils import conv_output_length, normalize_padding, normalize_tuple
from kzoo.backend.common import normalize_data_format
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs
from kzoo.layers.recurrent import (FlatRNN, RNN, RNNCellBase, _positive_units, add_cell_fields,
                                   first_shape)

__all__ = ['ConvLSTM1D', 'ConvLSTM2D', 'ConvLSTM3D', 'ConvLSTM1DCell', 'ConvLSTM2DCell',
           'ConvLSTM3DCell']

CONV_LSTM_FIELDS = (
    'filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate',
    'activation', 'recurrent_activation', 'use_bias', 'kernel_initializer',
    'recurrent_initializer', 'bias_initializer', 'unit_forget_bias', 'kernel_regularizer',
    'recurrent_regularizer', 'bias_regularizer', 'kernel_constraint', 'recurrent_constraint',
    'bias_constraint', 'dropout', 'recurrent_dropout', 'seed')

# convolution op of each rank (all in Keras layout)
_CONV_OPS = {1: 'conv1d', 2: 'conv2d', 3: 'conv3d'}


class ConvLSTMCell(RNNCellBase):
    """One ConvLSTM step; states ``[h, c]`` with the spatial shape of the output."""
    rank = None
    config_fields = CONV_LSTM_FIELDS
    dropout_mask_count = 4  # Keras draws one mask per gate

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=1, padding='valid', data_format=None,
                 dilation_rate=1, activation='tanh', recurrent_activation='sigmoid',
                 use_bias=True, kernel_initializer='glorot_uniform',
                 recurrent_initializer='orthogonal', bias_initializer='zeros',
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0., recurrent_dropout=0., seed=None, **kwargs):
        RNNCellBase.__init__(self, dropout=dropout, recurrent_dropout=recurrent_dropout,
                             seed=seed, **kwargs)
        name, n = type(self).__name__, self.rank
        self.filters = _positive_units(filters, name)
        self.kernel_size = normalize_tuple(kernel_size, n, 'kernel_size', name)
        self.strides = normalize_tuple(strides, n, 'strides', name)
        self.padding = normalize_padding(padding, name, ('valid', 'same'))
        self.data_format = normalize_data_format(data_format)
        self.dilation_rate = normalize_tuple(dilation_rate, n, 'dilation_rate', name)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.unit_forget_bias = bool(unit_forget_bias)
        self._init_weight_args(kernel_initializer, recurrent_initializer, bias_initializer,
                               kernel_regularizer, recurrent_regularizer, bias_regularizer,
                               kernel_constraint, recurrent_constraint, bias_constraint)
        self.state_size = [self.filters, self.filters]
        self.output_size = self.filters

    @property
    def _channel_axis(self):
        return -1 if self.data_format == 'channels_last' else 1

    def output_step_shape(self, step_shape):
        """Shape of one output step (no batch) for an input step shape (no batch)."""
        step_shape = tuple(step_shape)
        spatial = step_shape[:-1] if self.data_format == 'channels_last' else step_shape[1:]
        out = tuple(conv_output_length(d, k, self.padding, s, r) for d, k, s, r in zip(
            spatial, self.kernel_size, self.strides, self.dilation_rate))
        return out + (self.filters,) if self.data_format == 'channels_last' \
            else (self.filters,) + out

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ShapeError('%s expects steps of %d dimensions (batch, ..., channels), got %s'
                             % (type(self).__name__, self.rank + 2, input_shape))
        channels = input_shape[self._channel_axis]
        if channels is None:
            raise ShapeError('%s: the channel dimension of the inputs must be known, got %s'
                             % (type(self).__name__, input_shape))
        self.kernel = self.add_weight('kernel', self.kernel_size + (channels, 4 * self.filters),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight(
            'recurrent_kernel', self.kernel_size + (self.filters, 4 * self.filters),
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint)
        self.bias = None
        if self.use_bias:
            self._add_bias((4 * self.filters,),
                           self._forget_bias_initializer if self.unit_forget_bias else None)
        self.built = True

    def _forget_bias_initializer(self, shape, dtype=None):
        f, init = self.filters, self.bias_initializer
        return np.concatenate([init((f,), dtype), np.ones((f,), dtype or self.dtype),
                               init((2 * f,), dtype)]).astype(dtype or self.dtype)

    def get_initial_state(self, inputs):
        shape = K.int_shape(inputs)
        return [K.zeros((shape[0],) + self.output_step_shape(shape[2:]), dtype=K.dtype(inputs))
                for _ in range(2)]

    def input_conv(self, x, kernel, bias=None):
        conv = getattr(K, _CONV_OPS[self.rank])
        out = conv(x, kernel, strides=self.strides, padding=self.padding,
                   data_format=self.data_format, dilation_rate=self.dilation_rate)
        return K.bias_add(out, bias, data_format=self.data_format) if bias is not None else out

    def recurrent_conv(self, h, kernel):
        conv = getattr(K, _CONV_OPS[self.rank])
        return conv(h, kernel, strides=(1,) * self.rank, padding='same',
                    data_format=self.data_format, dilation_rate=(1,) * self.rank)

    def split_gates(self, z):
        """The four gate blocks of a ``4 filters``-channel tensor."""
        f = self.filters
        if self.data_format == 'channels_last':
            return [z[..., g * f:(g + 1) * f] for g in range(4)]
        return [z[:, g * f:(g + 1) * f] for g in range(4)]

    def gates_step(self, x_gates, h_tm1, c_tm1):
        """Finish a step from the input part of the four gates."""
        z = self.recurrent_conv(h_tm1, self.recurrent_kernel)
        h_gates = self.split_gates(z)
        return self._combine([x + h for x, h in zip(x_gates, h_gates)], c_tm1)

    def _combine(self, z, c_tm1):
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_tm1 + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states[0], states[1]
        dp, rdp = self._dropout_mask, self._recurrent_dropout_mask
        f = self.filters
        kernels = [self.kernel[..., g * f:(g + 1) * f] for g in range(4)]
        rkernels = [self.recurrent_kernel[..., g * f:(g + 1) * f] for g in range(4)]
        biases = [self.bias[g * f:(g + 1) * f] if self.bias is not None else None
                  for g in range(4)]
        z = []
        for g in range(4):
            x = inputs * dp[g] if dp is not None else inputs
            h = h_tm1 * rdp[g] if rdp is not None else h_tm1
            z.append(self.input_conv(x, kernels[g], biases[g]) + self.recurrent_conv(h,
                                                                                     rkernels[g]))
        return self._combine(z, c_tm1)


class ConvLSTM(FlatRNN):
    """Base of ConvLSTM1D/2D/3D: an RNN over a :class:`ConvLSTMCell`."""
    cell_fields = CONV_LSTM_FIELDS

    @keras1_kwargs()
    def __init__(self, filters, kernel_size=None, nb_row=None, nb_col=None, **kwargs):
        if kernel_size is None:
            if nb_row is None:
                raise ConfigError('%s needs kernel_size' % type(self).__name__)
            kernel_size = (nb_row, nb_col) if nb_col is not None else nb_row
        kwargs['kernel_size'] = kernel_size
        FlatRNN.__init__(self, filters, **kwargs)

    def build(self, input_shape):
        shape = first_shape(input_shape)
        rank = self.cell_class.rank
        if len(shape) != rank + 3:
            raise ShapeError('layer %r (%s) expects inputs of %d dimensions (batch, time, ..., '
                             'channels), got %s' % (self.name, type(self).__name__, rank + 3,
                                                    shape))
        RNN.build(self, input_shape)

    def _output_step_shape(self, shape):
        return self.cell.output_step_shape(shape[2:])

    def _state_shapes(self, shape):
        step = self.cell.output_step_shape(shape[2:])
        return [(shape[0],) + step, (shape[0],) + step]

    def inner_loop(self, inputs, initial_state, mask, training):
        cell = self.cell
        if cell._dropout_mask is not None or cell._recurrent_dropout_mask is not None:
            return RNN.inner_loop(self, inputs, initial_state, mask, training)
        # All input convolutions at once: fold time into the batch.
        shape = K.int_shape(inputs)
        folded = K.reshape(inputs, (shape[0] * shape[1],) + tuple(shape[2:]))
        x_proj = cell.input_conv(folded, cell.kernel, cell.bias)
        x_proj = K.reshape(x_proj, (shape[0], shape[1]) + tuple(K.int_shape(x_proj)[1:]))

        def step(x_t, states):
            return cell.gates_step(cell.split_gates(x_t), states[0], states[1])

        return K.rnn(step, x_proj, initial_state, go_backwards=self.go_backwards, mask=mask,
                     unroll=self.unroll, input_length=shape[1],
                     zero_output_for_mask=self.zero_output_for_mask,
                     return_all_outputs=self.return_sequences)


def _conv_lstm_family(rank):
    """Register ConvLSTM{rank}DCell and ConvLSTM{rank}D."""
    cell = type('ConvLSTM%dDCell' % rank, (ConvLSTMCell,), {
        'rank': rank, '__doc__': 'One step of :class:`ConvLSTM%dD`.' % rank})
    layer = type('ConvLSTM%dD' % rank, (ConvLSTM,), {
        'cell_class': cell,
        '__doc__': '%dD convolutional LSTM (inputs ``(batch, time, %s)``).' % (
            rank, ', '.join(['dim'] * rank + ['channels']))})
    register_layer()(cell)
    register_layer()(layer)
    add_cell_fields(layer, CONV_LSTM_FIELDS)
    return cell, layer


ConvLSTM1DCell, ConvLSTM1D = _conv_lstm_family(1)
ConvLSTM2DCell, ConvLSTM2D = _conv_lstm_family(2)
ConvLSTM3DCell, ConvLSTM3D = _conv_lstm_family(3)
