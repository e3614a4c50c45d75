"""Spatial shape helpers: ``ZeroPadding1D/2D/3D``, ``Cropping1D/2D/3D``, ``UpSampling1D/2D/3D``.

>>> import numpy as np
>>> ZeroPadding2D(((1, 0), (0, 2))).compute_output_shape((None, 4, None, 3))
(None, 5, None, 3)
>>> UpSampling1D(length=2)(np.array([[[1.], [2.]]], 'float32'))[0, :, 0].tolist()
[1.0, 1.0, 2.0, 2.0]
"""
from kzoo import backend as K
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError
from kzoo.layers.convolutional import check_rank, data_format_arg
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['ZeroPadding1D', 'ZeroPadding2D', 'ZeroPadding3D', 'Cropping1D', 'Cropping2D',
           'Cropping3D', 'UpSampling1D', 'UpSampling2D', 'UpSampling3D']

# Keras 1 ZeroPadding2D also took a dict of these keys.
_PAD_KEYS = ('top_pad', 'bottom_pad', 'left_pad', 'right_pad')


def _int(value, what, where):
    if isinstance(value, bool) or not isinstance(value, int) and not (
            isinstance(value, float) and value.is_integer()) or int(value) < 0:
        raise ConfigError('%s: %s must hold non-negative ints, got %r' % (where, what, value))
    return int(value)


def normalize_pairs(value, rank, what, where):
    """``((before, after),) * rank`` from an int, ``rank`` ints, ``rank`` pairs, or (Keras 1
    2D) four ints ``(top, bottom, left, right)`` or a dict of ``top_pad``... keys."""
    if isinstance(value, dict) and rank == 2:
        value = tuple(value.get(k, 0) for k in _PAD_KEYS)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        v = _int(value, what, where)
        return ((v, v),) * rank
    try:
        items = list(value)
    except TypeError:
        raise ConfigError('%s: %s must be an int, %d ints or %d pairs of ints, got %r'
                          % (where, what, rank, rank, value)) from None
    if rank == 2 and len(items) == 4 and not any(isinstance(v, (list, tuple)) for v in items):
        items = [(items[0], items[1]), (items[2], items[3])]
    if rank == 1 and len(items) == 2 and not any(isinstance(v, (list, tuple)) for v in items):
        items = [tuple(items)]
    if len(items) != rank:
        raise ConfigError('%s: %s must be an int, %d ints or %d pairs of ints, got %r'
                          % (where, what, rank, rank, value))
    pairs = []
    for item in items:
        if isinstance(item, (list, tuple)):
            if len(item) != 2:
                raise ConfigError('%s: each entry of %s must be a pair, got %r'
                                  % (where, what, value))
            pairs.append((_int(item[0], what, where), _int(item[1], what, where)))
        else:
            v = _int(item, what, where)
            pairs.append((v, v))
    return tuple(pairs)


class _SpatialLayer(Layer):
    rank = None

    def _init_format(self, data_format):
        if self.rank == 1 and data_format is None:
            self.data_format = 'channels_last'
        else:
            self.data_format = data_format_arg(data_format, self._where())

    def _where(self):
        return 'layer %r (%s)' % (self.name, type(self).__name__)

    def _first(self):
        return 1 if self.data_format == 'channels_last' else 2

    def build(self, input_shape):
        check_rank(self, input_shape, self.rank)
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for i in range(self.rank):
            n = shape[self._first() + i]
            shape[self._first() + i] = None if n is None else self._length(n, i)
        return tuple(shape)


# ---- zero padding ------------------------------------------------------------------------

class _ZeroPadding(_SpatialLayer):
    config_fields = ('padding', 'data_format')

    def __init__(self, padding, data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self._init_format(data_format)
        self.padding = normalize_pairs(padding, self.rank, 'padding', self._where())

    def _length(self, n, i):
        return n + sum(self.padding[i])

    def call(self, inputs):
        if self.rank == 1 and self.data_format == 'channels_first':
            padded = K.temporal_padding(K.permute_dimensions(inputs, (0, 2, 1)), self.padding[0])
            return K.permute_dimensions(padded, (0, 2, 1))
        if self.rank == 1:
            return K.temporal_padding(inputs, self.padding[0])
        op = K.spatial_2d_padding if self.rank == 2 else K.spatial_3d_padding
        return op(inputs, self.padding, self.data_format)


@register_layer()
class ZeroPadding1D(_ZeroPadding):
    """Zeros before and after the steps axis: ``padding`` is an int or ``(before, after)``
    (``data_format='channels_first'``, from Keras 3, pads the last axis)."""
    rank = 1

    @keras1_kwargs()
    def __init__(self, padding=1, data_format=None, **kwargs):
        _ZeroPadding.__init__(self, padding, data_format, **kwargs)

    def get_config(self):
        config = _ZeroPadding.get_config(self)
        config['padding'] = self.padding[0]
        if self.data_format == 'channels_last':
            del config['data_format']  # Keras 3 added it; Keras 2 does not know it
        return config


@register_layer()
class ZeroPadding2D(_ZeroPadding):
    """Zero rows and columns: ``padding`` is an int, ``(rows, cols)`` or
    ``((top, bottom), (left, right))`` (Keras 1 also ``(top, bottom, left, right)``)."""
    rank = 2

    @keras1_kwargs()
    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        _ZeroPadding.__init__(self, padding, data_format, **kwargs)


@register_layer()
class ZeroPadding3D(_ZeroPadding):
    """Zeros on three spatial axes: an int, three ints, or three ``(before, after)`` pairs."""
    rank = 3

    @keras1_kwargs()
    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        _ZeroPadding.__init__(self, padding, data_format, **kwargs)


# ---- cropping ------------------------------------------------------------------------------

class _Cropping(_SpatialLayer):
    config_fields = ('cropping', 'data_format')

    def __init__(self, cropping, data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self._init_format(data_format)
        self.cropping = normalize_pairs(cropping, self.rank, 'cropping', self._where())

    def _length(self, n, i):
        out = n - sum(self.cropping[i])
        if out <= 0:
            raise ConfigError('%s: cropping %r leaves nothing of an axis of length %d'
                              % (self._where(), self.cropping, n))
        return out

    def call(self, inputs):
        shape = K.int_shape(inputs)
        index = [slice(None)] * len(shape)
        for i, (before, after) in enumerate(self.cropping):
            axis = self._first() + i
            self._length(shape[axis], i)
            index[axis] = slice(before, shape[axis] - after)
        return inputs[tuple(index)]


@register_layer()
class Cropping1D(_Cropping):
    """Remove steps at the start and end: ``cropping`` is an int or ``(before, after)``."""
    rank = 1
    config_fields = ('cropping',)

    @keras1_kwargs()
    def __init__(self, cropping=(1, 1), **kwargs):
        _Cropping.__init__(self, cropping, None, **kwargs)

    def get_config(self):
        config = _Cropping.get_config(self)
        config['cropping'] = self.cropping[0]
        return config


@register_layer()
class Cropping2D(_Cropping):
    """Remove rows and columns: ``((top, bottom), (left, right))``, ``(rows, cols)`` or an int."""
    rank = 2

    @keras1_kwargs()
    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        _Cropping.__init__(self, cropping, data_format, **kwargs)


@register_layer()
class Cropping3D(_Cropping):
    """Remove entries on three spatial axes."""
    rank = 3

    @keras1_kwargs()
    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        _Cropping.__init__(self, cropping, data_format, **kwargs)


# ---- upsampling ----------------------------------------------------------------------------

@register_layer()
class UpSampling1D(_SpatialLayer):
    """Repeat each step ``size`` times (Keras 1: ``length``)."""
    rank = 1
    config_fields = ('size',)

    @keras1_kwargs({'length': 'size'})
    def __init__(self, size=2, **kwargs):
        Layer.__init__(self, **kwargs)
        self._init_format(None)
        self.size = _int(size, 'size', self._where())

    def _length(self, n, i):
        return n * self.size

    def call(self, inputs):
        return K.repeat_elements(inputs, self.size, axis=1)


def _sizes(value, rank, where):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (_int(value, 'size', where),) * rank
    sizes = tuple(_int(v, 'size', where) for v in value)
    if len(sizes) != rank:
        raise ConfigError('%s: size must be an int or %d ints, got %r' % (where, rank, value))
    return sizes


@register_layer()
class UpSampling2D(_SpatialLayer):
    """Upsample rows and columns by ``size``; ``interpolation`` is ``nearest`` or ``bilinear``
    (half-pixel centres, as Keras 3 and ``tf.image.resize`` compute it)."""
    rank = 2
    config_fields = ('size', 'data_format', 'interpolation')

    @keras1_kwargs()
    def __init__(self, size=(2, 2), data_format=None, interpolation='nearest', **kwargs):
        Layer.__init__(self, **kwargs)
        self._init_format(data_format)
        self.size = _sizes(size, 2, self._where())
        if interpolation not in ('nearest', 'bilinear'):
            raise ConfigError('%s: interpolation must be "nearest" or "bilinear", got %r'
                              % (self._where(), interpolation))
        self.interpolation = interpolation

    def _length(self, n, i):
        return n * self.size[i]

    def call(self, inputs):
        return K.resize_images(inputs, self.size[0], self.size[1], self.data_format,
                               self.interpolation)


@register_layer()
class UpSampling3D(_SpatialLayer):
    """Repeat entries along three spatial axes by ``size``."""
    rank = 3
    config_fields = ('size', 'data_format')

    @keras1_kwargs()
    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self._init_format(data_format)
        self.size = _sizes(size, 3, self._where())

    def _length(self, n, i):
        return n * self.size[i]

    def call(self, inputs):
        return K.resize_volumes(inputs, self.size[0], self.size[1], self.size[2],
                                self.data_format)
