"""Transposed convolutions: ``Conv1DTranspose``, ``Conv2DTranspose`` (Keras 1:
``Deconvolution2D``), ``Conv3DTranspose``.

Kernels are ``(*kernel_size, filters, in_channels)``, as Keras stores them. The output
length along each axis is Keras's ``deconv_output_length`` (with ``output_padding``
when given).

>>> import numpy as np
>>> layer = Conv2DTranspose(1, 2, strides=2, kernel_initializer='ones')
>>> layer(np.ones((1, 2, 2, 1), 'float32')).shape
(1, 4, 4, 1)
>>> Conv2DTranspose(3, 3, strides=2, padding='same', output_padding=1).compute_output_shape(
...     (None, 5, 5, 8))
(None, 10, 10, 3)
"""
from kzoo import backend as K
from kzoo.backend import conv_utils
from kzoo.engine.base_layer import register_layer
from kzoo.errors import ConfigError
from kzoo.layers.convolutional import (_Conv, _Keras1Conv, _K1_REG, _K1_TAIL, check_rank,
                                       input_channels, spatial_dims, with_spatial)
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['Conv1DTranspose', 'Conv2DTranspose', 'Conv3DTranspose', 'Deconvolution2D']

_OPS = {1: 'conv1d_transpose', 2: 'conv2d_transpose', 3: 'conv3d_transpose'}


class _ConvTranspose(_Conv):
    paddings = ('valid', 'same')
    config_fields = ('filters', 'kernel_size', 'strides', 'padding', 'output_padding',
                     'data_format', 'dilation_rate', 'activation', 'use_bias',
                     'kernel_initializer', 'bias_initializer', 'kernel_regularizer',
                     'bias_regularizer', 'activity_regularizer', 'kernel_constraint',
                     'bias_constraint')

    def __init__(self, filters, kernel_size, strides=1, padding='valid', output_padding=None,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 groups=1, output_shape=None, **kwargs):
        if groups not in (None, 1):
            raise ConfigError('%s: groups=%r is not supported by transposed convolutions'
                              % (type(self).__name__, groups))
        _Conv.__init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       1, activation, use_bias, **kwargs)
        where = 'layer %r (%s)' % (self.name, type(self).__name__)
        self.output_padding = None if output_padding is None else conv_utils.normalize_tuple(
            output_padding, self.rank, 'output_padding', where)
        if self.output_padding is not None:
            for op, s in zip(self.output_padding, self.strides):
                if op >= s:
                    raise ConfigError('%s: output_padding %r must be smaller than strides %r'
                                      % (where, self.output_padding, self.strides))
        # Keras 1 Deconvolution2D named the output shape instead; it becomes an
        # output_padding once the input shape is known (build).
        self._keras1_output_shape = output_shape

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_channels(self, input_shape)
        if self._keras1_output_shape is not None:
            self._output_padding_from_shape(input_shape)
        shape = self.kernel_size + (self.filters, channels)
        self.kernel = self.add_weight('kernel', shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight('bias', (self.filters,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def _output_padding_from_shape(self, input_shape):
        wanted = spatial_dims(self._keras1_output_shape, self.data_format) \
            if len(self._keras1_output_shape) == self.rank + 2 else self._keras1_output_shape
        default = self._spatial(input_shape)
        if all(w is None or d is None or int(w) == d for w, d in zip(wanted, default)):
            return
        padding = []
        for n, w, k, s, d in zip(spatial_dims(input_shape, self.data_format), wanted,
                                 self.kernel_size, self.strides, self.dilation_rate):
            op = int(w) - conv_utils.deconv_output_length(n, k, self.padding, 0, s, d)
            if not 0 <= op < s:
                raise ConfigError('layer %r (%s): output_shape %r cannot be produced from input '
                                  'shape %r with this kernel, padding and strides'
                                  % (self.name, type(self).__name__, self._keras1_output_shape,
                                     tuple(input_shape)))
            padding.append(op)
        self.output_padding = tuple(padding)

    def _spatial(self, input_shape):
        op = self.output_padding or (None,) * self.rank
        return [conv_utils.deconv_output_length(n, k, self.padding, o, s, d)
                for n, k, o, s, d in zip(spatial_dims(input_shape, self.data_format),
                                         self.kernel_size, op, self.strides,
                                         self.dilation_rate)]

    def call(self, inputs):
        out = self._spatial(K.int_shape(inputs))
        outputs = getattr(K, _OPS[self.rank])(inputs, self.kernel, out, self.strides,
                                              self.padding, self.data_format, self.dilation_rate)
        if self.bias is not None:
            outputs = K.bias_add(outputs, self.bias, self.data_format)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return with_spatial(input_shape, self._spatial(input_shape), self.filters,
                            self.data_format)


@register_layer('Convolution1DTranspose')
class Conv1DTranspose(_ConvTranspose):
    """Transposed 1D convolution over ``(batch, steps, channels)``."""
    rank = 1

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=1, padding='valid', output_padding=None,
                 data_format=None, dilation_rate=1, **kwargs):
        data_format = data_format if data_format is not None else 'channels_last'
        _ConvTranspose.__init__(self, filters, kernel_size, strides, padding, output_padding,
                                data_format, dilation_rate, **kwargs)


@register_layer('Convolution2DTranspose')
class Conv2DTranspose(_ConvTranspose):
    """Transposed 2D convolution (``Deconvolution2D`` in Keras 1)."""
    rank = 2

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=(1, 1), padding='valid',
                 output_padding=None, data_format=None, dilation_rate=(1, 1), **kwargs):
        _ConvTranspose.__init__(self, filters, kernel_size, strides, padding, output_padding,
                                data_format, dilation_rate, **kwargs)


@register_layer('Convolution3DTranspose')
class Conv3DTranspose(_ConvTranspose):
    """Transposed 3D convolution."""
    rank = 3

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding='valid',
                 output_padding=None, data_format=None, dilation_rate=(1, 1, 1), **kwargs):
        _ConvTranspose.__init__(self, filters, kernel_size, strides, padding, output_padding,
                                data_format, dilation_rate, **kwargs)


@register_layer()
class Deconvolution2D(_Keras1Conv, Conv2DTranspose):
    """Keras 1: ``Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, init, activation,
    weights, border_mode, subsample, dim_ordering, ...)``; returns a ``Conv2DTranspose``
    whose ``output_padding`` reproduces ``output_shape``."""
    target = Conv2DTranspose
    positional = ('filters', 'nb_row', 'nb_col', 'output_shape') + _K1_TAIL + (
        'data_format',) + _K1_REG
    kernel_names = ('nb_row', 'nb_col')
    keras2_after_kernel = ()  # Keras 1's output_shape follows the kernel dimensions

