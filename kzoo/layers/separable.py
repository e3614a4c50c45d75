"""Depthwise and separable convolutions: ``DepthwiseConv1D``, ``DepthwiseConv2D``,
``SeparableConv1D``, ``SeparableConv2D`` (Keras 1: ``SeparableConvolution2D``).

Weights as Keras stores them: ``depthwise_kernel`` ``(*kernel_size, in, depth_multiplier)``
(output channel ``c * depth_multiplier + m``), ``pointwise_kernel``
``(1, ..., in * depth_multiplier, filters)``, then ``bias``.

>>> import numpy as np
>>> layer = DepthwiseConv2D(2, depth_multiplier=2, depthwise_initializer='ones')
>>> layer(np.ones((1, 3, 3, 2), 'float32')).shape
(1, 2, 2, 4)
"""
from kzoo import activations, backend as K, constraints, initializers, regularizers
from kzoo.backend import conv_utils
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError
from kzoo.layers.convolutional import (_Keras1Conv, check_rank, data_format_arg,
                                       input_channels, spatial_dims, with_spatial)
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['DepthwiseConv1D', 'DepthwiseConv2D', 'SeparableConv1D', 'SeparableConv2D',
           'SeparableConvolution2D']


class _DepthwiseBase(Layer):
    """Shared arguments and output shapes of depthwise and separable convolutions."""
    rank = None

    def _init_common(self, kernel_size, strides, padding, data_format, dilation_rate,
                     depth_multiplier, activation, use_bias, bias_initializer, bias_regularizer,
                     activity_regularizer, bias_constraint, groups):
        where = 'layer %r (%s)' % (self.name, type(self).__name__)
        if groups not in (None, 1):
            raise ConfigError('%s: groups=%r is not supported' % (where, groups))
        n = self.rank
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, n, 'kernel_size', where)
        self.strides = conv_utils.normalize_tuple(strides, n, 'strides', where)
        allowed = ('valid', 'same', 'causal') if n == 1 else ('valid', 'same')
        self.padding = conv_utils.normalize_padding(padding, where, allowed)
        if data_format is None and n == 1:
            data_format = 'channels_last'
        self.data_format = data_format_arg(data_format, where)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, n, 'dilation_rate', where)
        self.depth_multiplier = int(depth_multiplier)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias_initializer = initializers.get(bias_initializer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.bias_constraint = constraints.get(bias_constraint)

    def _depthwise_weight(self, channels):
        return self.add_weight('depthwise_kernel',
                               self.kernel_size + (channels, self.depth_multiplier),
                               initializer=self.depthwise_initializer,
                               regularizer=self.depthwise_regularizer,
                               constraint=self.depthwise_constraint)

    def _bias_weight(self, size):
        return self.add_weight('bias', (size,), initializer=self.bias_initializer,
                               regularizer=self.bias_regularizer,
                               constraint=self.bias_constraint) if self.use_bias else None

    def _finish(self, outputs):
        if self.bias is not None:
            outputs = K.bias_add(outputs, self.bias, self.data_format)
        return self.activation(outputs)

    def _output_shape(self, input_shape, channels):
        spatial = [conv_utils.conv_output_length(n, k, self.padding, s, d)
                   for n, k, s, d in zip(spatial_dims(input_shape, self.data_format),
                                         self.kernel_size, self.strides, self.dilation_rate)]
        return with_spatial(input_shape, spatial, channels, self.data_format)


class _DepthwiseConv(_DepthwiseBase):
    config_fields = ('kernel_size', 'strides', 'padding', 'depth_multiplier', 'data_format',
                     'dilation_rate', 'activation', 'use_bias', 'depthwise_initializer',
                     'bias_initializer', 'depthwise_regularizer', 'bias_regularizer',
                     'activity_regularizer', 'depthwise_constraint', 'bias_constraint')

    def __init__(self, kernel_size, strides=1, padding='valid', depth_multiplier=1,
                 data_format=None, dilation_rate=1, activation=None, use_bias=True,
                 depthwise_initializer='glorot_uniform', bias_initializer='zeros',
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, groups=1, **kwargs):
        Layer.__init__(self, **kwargs)
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate,
                          depth_multiplier, activation, use_bias, bias_initializer,
                          bias_regularizer, activity_regularizer, bias_constraint, groups)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_channels(self, input_shape)
        self.depthwise_kernel = self._depthwise_weight(channels)
        self.bias = self._bias_weight(channels * self.depth_multiplier)
        self.built = True

    def call(self, inputs):
        op = K.depthwise_conv1d if self.rank == 1 else K.depthwise_conv2d
        return self._finish(op(inputs, self.depthwise_kernel, self.strides, self.padding,
                               self.data_format, self.dilation_rate))

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1 if self.data_format == 'channels_last' else 1]
        return self._output_shape(input_shape, None if channels is None
                                  else channels * self.depth_multiplier)


@register_layer()
class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1D convolution: each input channel convolved with its own filters."""
    rank = 1

    @keras1_kwargs()
    def __init__(self, kernel_size, strides=1, padding='valid', depth_multiplier=1, **kwargs):
        _DepthwiseConv.__init__(self, kernel_size, strides, padding, depth_multiplier, **kwargs)


@register_layer()
class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2D convolution: each input channel convolved with its own filters."""
    rank = 2

    @keras1_kwargs()
    def __init__(self, kernel_size, strides=(1, 1), padding='valid', depth_multiplier=1,
                 **kwargs):
        _DepthwiseConv.__init__(self, kernel_size, strides, padding, depth_multiplier, **kwargs)


class _SeparableConv(_DepthwiseBase):
    config_fields = ('filters', 'kernel_size', 'strides', 'padding', 'data_format',
                     'dilation_rate', 'depth_multiplier', 'activation', 'use_bias',
                     'depthwise_initializer', 'pointwise_initializer', 'bias_initializer',
                     'depthwise_regularizer', 'pointwise_regularizer', 'bias_regularizer',
                     'activity_regularizer', 'depthwise_constraint', 'pointwise_constraint',
                     'bias_constraint')

    def __init__(self, filters, kernel_size, strides=1, padding='valid', data_format=None,
                 dilation_rate=1, depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer='glorot_uniform', pointwise_initializer='glorot_uniform',
                 bias_initializer='zeros', depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, groups=1,
                 kernel_initializer=None, kernel_regularizer=None, kernel_constraint=None,
                 **kwargs):
        # tf.keras configs also carry the unused kernel_* arguments of their Conv base.
        Layer.__init__(self, **kwargs)
        self._init_common(kernel_size, strides, padding, data_format, dilation_rate,
                          depth_multiplier, activation, use_bias, bias_initializer,
                          bias_regularizer, activity_regularizer, bias_constraint, groups)
        self.filters = int(filters)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_channels(self, input_shape)
        self.depthwise_kernel = self._depthwise_weight(channels)
        self.pointwise_kernel = self.add_weight(
            'pointwise_kernel', (1,) * self.rank + (channels * self.depth_multiplier,
                                                    self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint)
        self.bias = self._bias_weight(self.filters)
        self.built = True

    def call(self, inputs):
        op = K.separable_conv1d if self.rank == 1 else K.separable_conv2d
        return self._finish(op(inputs, self.depthwise_kernel, self.pointwise_kernel,
                               self.strides, self.padding, self.data_format,
                               self.dilation_rate))

    def compute_output_shape(self, input_shape):
        return self._output_shape(input_shape, self.filters)


@register_layer('SeparableConvolution1D')
class SeparableConv1D(_SeparableConv):
    """Depthwise 1D convolution followed by a pointwise (1x1) convolution."""
    rank = 1

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=1, padding='valid', **kwargs):
        _SeparableConv.__init__(self, filters, kernel_size, strides, padding, **kwargs)


@register_layer()
class SeparableConv2D(_SeparableConv):
    """Depthwise 2D convolution followed by a pointwise (1x1) convolution."""
    rank = 2

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=(1, 1), padding='valid', **kwargs):
        _SeparableConv.__init__(self, filters, kernel_size, strides, padding, **kwargs)


@register_layer()
class SeparableConvolution2D(_Keras1Conv, SeparableConv2D):
    """Keras 1: ``SeparableConvolution2D(nb_filter, nb_row, nb_col, init, activation, weights,
    border_mode, subsample, depth_multiplier, dim_ordering, ...)``; returns a
    ``SeparableConv2D`` (``init`` sets both the depthwise and pointwise initializers).
    Called the Keras 2 way (``filters, kernel_size, strides``) it is plain
    ``SeparableConv2D``."""
    target = SeparableConv2D
    positional = ('filters', 'nb_row', 'nb_col', 'kernel_initializer', 'activation', 'weights',
                  'padding', 'strides', 'depth_multiplier', 'data_format',
                  'depthwise_regularizer', 'pointwise_regularizer', 'bias_regularizer',
                  'activity_regularizer', 'depthwise_constraint', 'pointwise_constraint',
                  'bias_constraint', 'use_bias')
    kernel_names = ('nb_row', 'nb_col')

    @classmethod
    def prepare(cls, kwargs):
        init = kwargs.pop('kernel_initializer', None)
        if init is not None:
            kwargs.setdefault('depthwise_initializer', init)
            kwargs.setdefault('pointwise_initializer', init)
        return kwargs
