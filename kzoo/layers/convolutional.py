"""Convolution layers: ``Conv1D``, ``Conv2D``, ``Conv3D`` and their Keras 1 names.

Kernels are in Keras layout ``(*kernel_size, in_channels // groups, filters)`` for
either ``data_format``. Padding is ``valid``, ``same``, ``causal`` (1D) or Keras 1's
``full`` (output ``n + k - 1`` at stride 1).

>>> import numpy as np
>>> layer = Conv2D(1, 2, kernel_initializer='ones')
>>> layer(np.ones((1, 3, 3, 1), 'float32'))[0, :, :, 0].tolist()
[[4.0, 4.0], [4.0, 4.0]]
>>> Convolution2D(8, 3, 3, border_mode='same', subsample=(2, 2)).get_config()['strides']
(2, 2)
"""
from kzoo import activations, backend as K, constraints, initializers, regularizers
from kzoo.backend import conv_utils
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs, translate_kwargs

__all__ = ['Conv1D', 'Conv2D', 'Conv3D', 'Convolution1D', 'Convolution2D', 'Convolution3D',
           'AtrousConvolution1D', 'AtrousConvolution2D']



# ---- argument helpers shared by the convolution, pooling and reshaping families ----

def data_format_arg(value, where):
    """``channels_last``/``channels_first`` from a Keras 2 name, Keras 1 ``tf``/``th``, or
    ``None``/``'default'`` (the configured ``image_data_format``)."""
    if value in (None, 'default'):
        return K.image_data_format()
    if value in ('channels_last', 'channels_first', 'tf', 'th'):
        return K.normalize_data_format(value)
    raise ConfigError('%s: data_format must be channels_last or channels_first (Keras 1: tf or '
                      'th), got %r' % (where, value))


def channel_axis(data_format):
    return -1 if data_format == 'channels_last' else 1


def spatial_dims(shape, data_format):
    shape = tuple(shape)
    return shape[1:-1] if data_format == 'channels_last' else shape[2:]


def with_spatial(shape, spatial, channels, data_format):
    """An output shape from batch, spatial dims and channels in ``data_format`` order."""
    if data_format == 'channels_last':
        return (shape[0],) + tuple(spatial) + (channels,)
    return (shape[0], channels) + tuple(spatial)


def check_rank(layer, input_shape, rank):
    if len(input_shape) != rank + 2:
        raise ShapeError('layer %r (%s) expects inputs of rank %d (batch, %d spatial axes, '
                         'channels), got shape %s' % (layer.name, type(layer).__name__,
                                                      rank + 2, rank, tuple(input_shape)))


def input_channels(layer, input_shape):
    channels = input_shape[channel_axis(layer.data_format)]
    if channels is None:
        raise ShapeError('layer %r (%s): the channel dimension of the inputs must be known '
                         '(data_format=%s), got shape %s' % (layer.name, type(layer).__name__,
                                                             layer.data_format,
                                                             tuple(input_shape)))
    return int(channels)


# ---- base class ------------------------------------------------------------------------

class _Conv(Layer):
    """N-D convolution: ``activation(conv(x, kernel) + bias)``."""
    rank = None
    paddings = ('valid', 'same', 'full')
    config_fields = ('filters', 'kernel_size', 'strides', 'padding', 'data_format',
                     'dilation_rate', 'groups', 'activation', 'use_bias', 'kernel_initializer',
                     'bias_initializer', 'kernel_regularizer', 'bias_regularizer',
                     'activity_regularizer', 'kernel_constraint', 'bias_constraint')

    def __init__(self, filters, kernel_size, strides=1, padding='valid', data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer='glorot_uniform', bias_initializer='zeros',
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        Layer.__init__(self, **kwargs)
        where = 'layer %r (%s)' % (self.name, type(self).__name__)
        n = self.rank
        self.filters = int(filters)
        self.kernel_size = conv_utils.normalize_tuple(kernel_size, n, 'kernel_size', where)
        self.strides = conv_utils.normalize_tuple(strides, n, 'strides', where)
        self.padding = conv_utils.normalize_padding(padding, where, self.paddings)
        self.data_format = data_format_arg(data_format, where)
        self.dilation_rate = conv_utils.normalize_tuple(dilation_rate, n, 'dilation_rate', where)
        self.groups = int(groups or 1)
        if self.filters <= 0 or self.filters % self.groups:
            raise ConfigError('%s: filters (%d) must be a positive multiple of groups (%d)'
                              % (where, self.filters, self.groups))
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        channels = input_channels(self, input_shape)
        if channels % self.groups:
            raise ShapeError('layer %r (%s): %d input channels are not divisible by groups=%d'
                             % (self.name, type(self).__name__, channels, self.groups))
        shape = self.kernel_size + (channels // self.groups, self.filters)
        self.kernel = self.add_weight('kernel', shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight('bias', (self.filters,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        return self.activation(K.conv_bias(inputs, self.kernel, self.bias, self.strides,
                                           self.padding, self.data_format,
                                           self.dilation_rate, self.groups))

    def compute_output_shape(self, input_shape):
        spatial = [conv_utils.conv_output_length(n, k, self.padding, s, d)
                   for n, k, s, d in zip(spatial_dims(input_shape, self.data_format),
                                         self.kernel_size, self.strides, self.dilation_rate)]
        return with_spatial(input_shape, spatial, self.filters, self.data_format)

    def get_config(self):
        config = Layer.get_config(self)
        if config.get('groups') == 1:
            del config['groups']  # Keras before 2.4 does not know the argument
        return config


@register_layer()
class Conv1D(_Conv):
    """Temporal convolution over ``(batch, steps, channels)``; ``padding`` may be ``causal``.

    >>> import numpy as np
    >>> Conv1D(2, 3, padding='causal')(np.ones((1, 5, 4), 'float32')).shape
    (1, 5, 2)
    """
    rank = 1
    paddings = ('valid', 'same', 'causal', 'full')

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=1, padding='valid', data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True, **kwargs):
        _keras1_steps_shape(kwargs)
        data_format = data_format if data_format is not None else 'channels_last'
        _Conv.__init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       groups, activation, use_bias, **kwargs)


def _keras1_steps_shape(kwargs):
    """Keras 1 gave 1D layers ``input_dim`` (channels) and ``input_length`` (steps)."""
    length = kwargs.pop('input_length', None)
    if 'input_dim' in kwargs or length is not None:
        dim = kwargs.pop('input_dim', None)
        if kwargs.get('input_shape') is None and kwargs.get('batch_input_shape') is None:
            kwargs['input_shape'] = (length, dim)


@register_layer()
class Conv2D(_Conv):
    """2D convolution over ``(batch, rows, cols, channels)`` (or channels_first).

    >>> Conv2D(4, (3, 3), strides=2, padding='same').compute_output_shape((None, 7, None, 3))
    (None, 4, None, 4)
    """
    rank = 2

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=(1, 1), padding='valid', data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True, **kwargs):
        _Conv.__init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       groups, activation, use_bias, **kwargs)


@register_layer()
class Conv3D(_Conv):
    """3D convolution over ``(batch, d1, d2, d3, channels)`` (or channels_first)."""
    rank = 3

    @keras1_kwargs()
    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding='valid',
                 data_format=None, dilation_rate=(1, 1, 1), groups=1, activation=None,
                 use_bias=True, **kwargs):
        _Conv.__init__(self, filters, kernel_size, strides, padding, data_format, dilation_rate,
                       groups, activation, use_bias, **kwargs)


# ---- Keras 1 names with their positional signatures --------------------------------------
#
# Each builds the Keras 2 layer (so get_config writes the Keras 2 config and class name)
# and is registered by its Keras 1 name so Keras 1 configs load.

def legacy_arguments(layer_name, positional, args, kwargs):
    """Keras 1 positional ``args`` named by ``positional``, merged into ``kwargs``."""
    if len(args) > len(positional):
        raise ConfigError('%s takes at most %d positional arguments (%s), got %d'
                          % (layer_name, len(positional), ', '.join(positional), len(args)))
    merged = dict(kwargs)
    for name, value in zip(positional, args):
        if name in merged:
            raise ConfigError('%s got argument %r twice' % (layer_name, name))
        merged[name] = value
    return merged


def _pop_kernel_size(kwargs, names, layer_name):
    if 'kernel_size' in kwargs:
        return kwargs.pop('kernel_size')
    missing = [n for n in names if kwargs.get(n) is None]
    if missing:
        raise ConfigError('%s: missing argument(s) %s' % (layer_name, ', '.join(missing)))
    sizes = tuple(kwargs.pop(n) for n in names)
    return sizes[0] if len(sizes) == 1 else sizes


class _Keras1Conv(object):
    """Mixin: ``__new__`` returns the Keras 2 layer ``target`` built from Keras 1 args.

    Keras 2 kept these names as aliases, so a Keras 2 style call (``kernel_size=``, a
    tuple kernel size, or an int stride right after the kernel dimensions) is passed to
    ``target`` unchanged.
    """
    target = None
    positional = ()
    kernel_names = ()
    # Types of a Keras 2 argument (strides) where Keras 1 had the one after the kernel.
    keras2_after_kernel = (int, tuple, list)

    @classmethod
    def is_keras2_call(cls, args, kwargs):
        if 'kernel_size' in kwargs:
            return True
        if any(name in kwargs for name in cls.kernel_names):
            return False
        n = len(cls.kernel_names)
        dims, after = args[1:1 + n], args[1 + n:2 + n]
        if len(dims) < n or not all(isinstance(d, int) for d in dims):
            return True
        return bool(after) and isinstance(after[0], cls.keras2_after_kernel) \
            and not isinstance(after[0], bool)

    def __new__(cls, *args, **kwargs):
        if cls.is_keras2_call(args, kwargs):
            return cls.target(*args, **kwargs)
        kwargs = legacy_arguments(cls.__name__, cls.positional, args, kwargs)
        kwargs = translate_kwargs(kwargs, cls.__name__)
        kernel_size = _pop_kernel_size(kwargs, cls.kernel_names, cls.__name__)
        if 'filters' not in kwargs:
            raise ConfigError('%s: missing argument nb_filter' % cls.__name__)
        return cls.target(kwargs.pop('filters'), kernel_size, **cls.prepare(kwargs))

    @classmethod
    def prepare(cls, kwargs):
        return kwargs


_K1_TAIL = ('kernel_initializer', 'activation', 'weights', 'padding', 'strides')
_K1_REG = ('kernel_regularizer', 'bias_regularizer', 'activity_regularizer',
           'kernel_constraint', 'bias_constraint', 'use_bias')


@register_layer()
class Convolution1D(_Keras1Conv, Conv1D):
    """Keras 1: ``Convolution1D(nb_filter, filter_length, init, activation, weights,
    border_mode, subsample_length, ...)``; returns a ``Conv1D``."""
    target = Conv1D
    positional = ('filters', 'filter_length') + _K1_TAIL + _K1_REG + ('input_dim', 'input_length')
    kernel_names = ('filter_length',)


@register_layer()
class AtrousConvolution1D(_Keras1Conv, Conv1D):
    """Keras 1: ``AtrousConvolution1D(nb_filter, filter_length, ..., atrous_rate=1)``."""
    target = Conv1D
    positional = ('filters', 'filter_length') + _K1_TAIL + ('dilation_rate',) + _K1_REG + (
        'input_dim', 'input_length')
    kernel_names = ('filter_length',)


@register_layer()
class Convolution2D(_Keras1Conv, Conv2D):
    """Keras 1: ``Convolution2D(nb_filter, nb_row, nb_col, init, activation, weights,
    border_mode, subsample, dim_ordering, ...)``; returns a ``Conv2D``.

    Called the Keras 2 way (``Convolution2D(filters, kernel_size, strides, ...)``) it is
    plain ``Conv2D``.
    """
    target = Conv2D
    positional = ('filters', 'nb_row', 'nb_col') + _K1_TAIL + ('data_format',) + _K1_REG
    kernel_names = ('nb_row', 'nb_col')


@register_layer()
class AtrousConvolution2D(_Keras1Conv, Conv2D):
    """Keras 1: ``AtrousConvolution2D(nb_filter, nb_row, nb_col, ..., atrous_rate=(1, 1))``."""
    target = Conv2D
    positional = ('filters', 'nb_row', 'nb_col') + _K1_TAIL + ('dilation_rate', 'data_format') \
        + _K1_REG
    kernel_names = ('nb_row', 'nb_col')


@register_layer()
class Convolution3D(_Keras1Conv, Conv3D):
    """Keras 1: ``Convolution3D(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3, ...)``."""
    target = Conv3D
    positional = ('filters', 'kernel_dim1', 'kernel_dim2', 'kernel_dim3') + _K1_TAIL + (
        'data_format',) + _K1_REG
    kernel_names = ('kernel_dim1', 'kernel_dim2', 'kernel_dim3')
