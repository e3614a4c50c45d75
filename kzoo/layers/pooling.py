"""Pooling layers: max and average pooling in 1, 2 and 3 dimensions, and global pooling.

Windows follow TensorFlow: ``same`` average pooling divides by the number of real
(unpadded) cells. Keras 1 spellings (``pool_length``, ``stride``, ``border_mode``,
``dim_ordering``, and the seed era's ``poolsize``) are accepted.

>>> import numpy as np
>>> MaxPooling2D(poolsize=(2, 2))(np.arange(16, dtype='float32').reshape(1, 4, 4, 1))[0, :, :, 0]
array([[ 5.,  7.],
       [13., 15.]], dtype=float32)
>>> GlobalAveragePooling1D()(np.ones((2, 3, 4), 'float32'), mask=np.array([[1, 1, 0]] * 2)).shape
(2, 4)
"""
from kzoo import backend as K
from kzoo.backend import conv_utils
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.layers.convolutional import check_rank, data_format_arg, spatial_dims, with_spatial
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D',
           'AveragePooling2D', 'AveragePooling3D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
           'GlobalMaxPooling3D', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D',
           'GlobalAveragePooling3D']

_POOL_OPS = {1: 'pool1d', 2: 'pool2d', 3: 'pool3d'}


class _Pooling(Layer):
    rank = None
    pool_mode = None
    config_fields = ('pool_size', 'padding', 'strides', 'data_format')

    def __init__(self, pool_size, strides=None, padding='valid', data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        where = 'layer %r (%s)' % (self.name, type(self).__name__)
        n = self.rank
        self.pool_size = conv_utils.normalize_tuple(pool_size, n, 'pool_size', where)
        self.strides = self.pool_size if strides is None else conv_utils.normalize_tuple(
            strides, n, 'strides', where)
        self.padding = conv_utils.normalize_padding(padding, where, ('valid', 'same'))
        if data_format is None and n == 1:
            data_format = 'channels_last'
        self.data_format = data_format_arg(data_format, where)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self.built = True

    def call(self, inputs):
        return getattr(K, _POOL_OPS[self.rank])(inputs, self.pool_size, self.strides,
                                                self.padding, self.data_format, self.pool_mode)

    def compute_output_shape(self, input_shape):
        spatial = [conv_utils.conv_output_length(n, k, self.padding, s)
                   for n, k, s in zip(spatial_dims(input_shape, self.data_format),
                                      self.pool_size, self.strides)]
        channels = input_shape[-1 if self.data_format == 'channels_last' else 1]
        return with_spatial(input_shape, spatial, channels, self.data_format)


def _pooling_class(name, rank, mode, default_size, aliases):
    """A pooling layer class ``name`` (``MaxPooling2D``, ...) registered with ``aliases``."""
    base_init = _Pooling.__init__

    @keras1_kwargs()
    def __init__(self, pool_size=default_size, strides=None, padding='valid', data_format=None,
                 **kwargs):
        base_init(self, pool_size, strides, padding, data_format, **kwargs)

    doc = '%s pooling over %d spatial axis%s (Keras 1 ``border_mode``, ``%s`` accepted).' % (
        'Max' if mode == 'max' else 'Average', rank, '' if rank == 1 else 'es',
        'pool_length' if rank == 1 else 'dim_ordering')
    cls = type(name, (_Pooling,), {'rank': rank, 'pool_mode': mode, '__init__': __init__,
                                   '__doc__': doc, '__module__': __name__})
    return register_layer(*aliases)(cls)


MaxPooling1D = _pooling_class('MaxPooling1D', 1, 'max', 2, ('MaxPool1D',))
MaxPooling2D = _pooling_class('MaxPooling2D', 2, 'max', (2, 2), ('MaxPool2D',))
MaxPooling3D = _pooling_class('MaxPooling3D', 3, 'max', (2, 2, 2), ('MaxPool3D',))
AveragePooling1D = _pooling_class('AveragePooling1D', 1, 'avg', 2, ('AvgPool1D',))
AveragePooling2D = _pooling_class('AveragePooling2D', 2, 'avg', (2, 2), ('AvgPool2D',))
AveragePooling3D = _pooling_class('AveragePooling3D', 3, 'avg', (2, 2, 2), ('AvgPool3D',))


# ---- global pooling ------------------------------------------------------------------------

class _GlobalPooling(Layer):
    rank = None
    config_fields = ('data_format', 'keepdims')

    @keras1_kwargs()
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        Layer.__init__(self, **kwargs)
        where = 'layer %r (%s)' % (self.name, type(self).__name__)
        if data_format is None and self.rank == 1:
            data_format = 'channels_last'
        self.data_format = data_format_arg(data_format, where)
        self.keepdims = bool(keepdims)

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self.built = True

    def _axes(self):
        first = 1 if self.data_format == 'channels_last' else 2
        return list(range(first, first + self.rank))

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            channels = input_shape[-1 if self.data_format == 'channels_last' else 1]
            return with_spatial(input_shape, (1,) * self.rank, channels, self.data_format)
        return (input_shape[0], input_shape[-1 if self.data_format == 'channels_last' else 1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = Layer.get_config(self)
        if not config['keepdims']:
            del config['keepdims']  # Keras before 2.6 does not know the argument
        return config


class _GlobalMax(_GlobalPooling):
    def call(self, inputs):
        return K.max(inputs, axis=self._axes(), keepdims=self.keepdims)


class _GlobalAverage(_GlobalPooling):
    def call(self, inputs):
        return K.mean(inputs, axis=self._axes(), keepdims=self.keepdims)


@register_layer('GlobalMaxPool1D')
class GlobalMaxPooling1D(_GlobalMax):
    """Maximum over the steps axis."""
    rank = 1


@register_layer('GlobalMaxPool2D')
class GlobalMaxPooling2D(_GlobalMax):
    """Maximum over rows and columns."""
    rank = 2


@register_layer('GlobalMaxPool3D')
class GlobalMaxPooling3D(_GlobalMax):
    """Maximum over three spatial axes."""
    rank = 3


@register_layer('GlobalAvgPool1D')
class GlobalAveragePooling1D(_GlobalAverage):
    """Mean over the steps axis; with a mask, the mean over the unmasked steps (Keras)."""
    rank = 1

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        _GlobalAverage.__init__(self, data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return _GlobalAverage.call(self, inputs)
        steps = 1 if self.data_format == 'channels_last' else 2
        mask = K.expand_dims(K.cast(K.convert_to_tensor(mask), K.dtype(inputs)),
                             2 if self.data_format == 'channels_last' else 1)
        return (K.sum(inputs * mask, axis=steps, keepdims=self.keepdims)
                / K.sum(mask, axis=steps, keepdims=self.keepdims))


@register_layer('GlobalAvgPool2D')
class GlobalAveragePooling2D(_GlobalAverage):
    """Mean over rows and columns."""
    rank = 2


@register_layer('GlobalAvgPool3D')
class GlobalAveragePooling3D(_GlobalAverage):
    """Mean over three spatial axes."""
    rank = 3

