"""Activation layers with parameters: ``ReLU``, ``LeakyReLU``, ``PReLU``, ``ELU``,
``ThresholdedReLU``, ``Softmax``.

>>> import numpy as np
>>> x = np.array([-2., -0.5, 0.5, 3.], 'float32')
>>> ReLU(max_value=2., negative_slope=0.1)(x[None]).tolist()
[[-0.20000000298023224, -0.05000000074505806, 0.5, 2.0]]
>>> LeakyReLU(alpha=0.5)(x[None]).tolist()
[[-1.0, -0.25, 0.5, 3.0]]
"""
import numpy as np

from kzoo import backend as K, constraints, initializers, regularizers
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU', 'Softmax']


def _float(value, what, layer, minimum=None):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError('%s: %s must be a number, got %r' % (layer, what, value)) from None
    if minimum is not None and value < minimum:
        raise ConfigError('%s: %s must be >= %s, got %r' % (layer, what, minimum, value))
    # Keras stores these as float32 (configs show 0.30000001192092896); compute with that.
    return float(np.float32(value))


class _Elementwise(Layer):
    def __init__(self, **kwargs):
        Layer.__init__(self, **kwargs)
        self.supports_masking = True


@register_layer()
class ReLU(_Elementwise):
    """``max_value``-clipped relu with ``negative_slope`` below ``threshold`` (Keras 2.2+)."""
    config_fields = ('max_value', 'negative_slope', 'threshold')

    def __init__(self, max_value=None, negative_slope=0., threshold=0., **kwargs):
        _Elementwise.__init__(self, **kwargs)
        self.max_value = None if max_value is None else _float(max_value, 'max_value', 'ReLU', 0.)
        self.negative_slope = _float(negative_slope, 'negative_slope', 'ReLU', 0.)
        self.threshold = _float(threshold, 'threshold', 'ReLU', 0.)

    def call(self, inputs):
        return K.relu(inputs, alpha=self.negative_slope, max_value=self.max_value,
                      threshold=self.threshold)


@register_layer()
class LeakyReLU(_Elementwise):
    """``x`` for ``x >= 0``, else ``alpha * x`` (Keras 3 calls ``alpha`` ``negative_slope``)."""
    config_fields = ('alpha',)

    def __init__(self, alpha=None, negative_slope=None, **kwargs):
        if alpha is not None and negative_slope is not None:
            raise ConfigError('LeakyReLU: give alpha or negative_slope, not both')
        value = negative_slope if alpha is None else alpha
        _Elementwise.__init__(self, **kwargs)
        self.alpha = _float(0.3 if value is None else value, 'alpha', 'LeakyReLU')

    def call(self, inputs):
        return K.leaky_relu(inputs, self.alpha)


@register_layer()
class PReLU(_Elementwise):
    """Leaky relu with a learned slope per element, ``relu(x) - alpha * relu(-x)``;
    ``shared_axes`` share one slope along those axes (1-based, batch excluded)."""
    config_fields = ('alpha_initializer', 'alpha_regularizer', 'alpha_constraint',
                     'shared_axes')

    @keras1_kwargs({'init': 'alpha_initializer'})
    def __init__(self, alpha_initializer='zeros', alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        _Elementwise.__init__(self, **kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        elif isinstance(shared_axes, (list, tuple)):
            self.shared_axes = [int(a) for a in shared_axes]
        else:
            self.shared_axes = [int(shared_axes)]

    def build(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(input_shape):
                raise ShapeError('PReLU %r: shared axis %d is out of range for inputs of shape '
                                 '%s' % (self.name, axis, tuple(input_shape)))
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ShapeError('PReLU %r: unshared axes must have known sizes, got input shape %s'
                             % (self.name, tuple(input_shape)))
        self.alpha = self.add_weight('alpha', shape, initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs):
        return K.relu_plain(inputs) - self.alpha * K.relu_plain(-inputs)


@register_layer()
class ELU(_Elementwise):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    config_fields = ('alpha',)

    def __init__(self, alpha=1.0, **kwargs):
        _Elementwise.__init__(self, **kwargs)
        self.alpha = _float(alpha, 'alpha', 'ELU')

    def call(self, inputs):
        return K.elu(inputs, self.alpha)


@register_layer()
class ThresholdedReLU(_Elementwise):
    """``x`` for ``x > theta``, else 0 (Keras 2; Keras 3 dropped the layer)."""
    config_fields = ('theta',)

    def __init__(self, theta=1.0, **kwargs):
        _Elementwise.__init__(self, **kwargs)
        self.theta = _float(theta, 'theta', 'ThresholdedReLU', 0.)

    def call(self, inputs):
        return inputs * K.cast(K.greater(inputs, self.theta), K.dtype(inputs))


@register_layer()
class Softmax(_Elementwise):
    """Softmax over ``axis`` (an int or several axes). With a mask, masked entries get
    probability 0 and the rest are normalized among themselves (Keras 3)."""
    config_fields = ('axis',)

    def __init__(self, axis=-1, **kwargs):
        _Elementwise.__init__(self, **kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = K.convert_to_tensor(mask)
            shape, mshape = K.int_shape(inputs), K.int_shape(mask)
            if len(mshape) > len(shape) or any(
                    m not in (1, i) for m, i in zip(mshape[::-1], shape[::-1])):
                raise ShapeError('Softmax %r: the mask of shape %s does not broadcast to the '
                                 'inputs of shape %s' % (self.name, mshape, shape))
            if K.dtype(mask) != 'bool':
                mask = K.greater(mask, 0.5)
            inputs = K.where(mask, inputs, K.constant(-1e9, dtype=K.dtype(inputs)))
        if isinstance(self.axis, list) and len(self.axis) > 1:
            outputs = K.exp(inputs - K.logsumexp(inputs, axis=self.axis, keepdims=True))
        else:
            axis = self.axis[0] if isinstance(self.axis, list) else self.axis
            outputs = K.softmax(inputs, axis=axis)
        if mask is not None:
            outputs = K.where(mask, outputs, K.zeros_like(outputs))
        return outputs
