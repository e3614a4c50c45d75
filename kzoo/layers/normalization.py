"""``BatchNormalization`` and ``LayerNormalization``.

Inference uses the moving statistics; ``training=True`` normalizes with the batch's
mean and (biased) variance and updates the moving statistics in place, without
gradient, by Keras's rule ``moving = moving * momentum + batch * (1 - momentum)``.

>>> import numpy as np
>>> bn = BatchNormalization(epsilon=0.)
>>> bn(np.array([[1., 2.], [3., 4.]], 'float32')).tolist()
[[1.0, 2.0], [3.0, 4.0]]
>>> bn(np.array([[1., 2.], [3., 4.]], 'float32'), training=True).tolist()
[[-1.0, -1.0], [1.0, 1.0]]
>>> [round(float(v), 4) for v in bn.get_weights()[2]]  # moving mean after one update
[0.02, 0.03]
"""
from kzoo import backend as K, constraints, initializers, regularizers
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['BatchNormalization', 'LayerNormalization']

# Keras 3 arguments kzoo accepts only at their default (they change training only).
_KERAS3_DEFAULTS = {'renorm': False, 'renorm_clipping': None, 'renorm_momentum': 0.99,
                    'synchronized': False, 'fused': None, 'virtual_batch_size': None,
                    'adjustment': None}


def _axes(layer, axis, ndim):
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    out = []
    for a in axes:
        if not isinstance(a, int) or not -ndim <= a < ndim:
            raise ShapeError('layer %r (%s): axis %r is out of range for inputs of rank %d'
                             % (layer.name, type(layer).__name__, axis, ndim))
        out.append(a % ndim)
    return sorted(set(out))


def _param_shape(layer, input_shape, axes):
    shape = tuple(input_shape[a] for a in axes)
    if any(d is None for d in shape):
        raise ShapeError('layer %r (%s): axis %r of the inputs must have a known size, got '
                         'shape %s' % (layer.name, type(layer).__name__, layer.axis,
                                       tuple(input_shape)))
    return shape


class _Normalization(Layer):
    def _init_params(self, axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                     beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True

    def _build_affine(self, shape):
        self.gamma = self.add_weight('gamma', shape, initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint) if self.scale else None
        self.beta = self.add_weight('beta', shape, initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint) if self.center else None


@register_layer('BatchNorm')
class BatchNormalization(_Normalization):
    """Normalize each feature of ``axis`` by moving (inference) or batch (training) statistics.

    Weights in Keras order: ``gamma``, ``beta`` (when ``scale``/``center``), then the
    non-trainable ``moving_mean`` and ``moving_variance``. Keras 1's ``mode`` 1 and 2
    (per-sample normalization) have no Keras 2 equivalent and are refused.
    """
    config_fields = ('axis', 'momentum', 'epsilon', 'center', 'scale', 'beta_initializer',
                     'gamma_initializer', 'moving_mean_initializer',
                     'moving_variance_initializer', 'beta_regularizer', 'gamma_regularizer',
                     'beta_constraint', 'gamma_constraint')

    @keras1_kwargs()
    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer='zeros', gamma_initializer='ones',
                 moving_mean_initializer='zeros', moving_variance_initializer='ones',
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, mode=0, **kwargs):
        for key, default in _KERAS3_DEFAULTS.items():
            value = kwargs.pop(key, default)
            if value != default and not (key == 'fused' and value in (True, False)):
                raise ConfigError('BatchNormalization %r: %s=%r is not supported (only %r)'
                                  % (kwargs.get('name'), key, value, default))
        if mode not in (0, None):
            raise ConfigError(
                'BatchNormalization %r: Keras 1 mode=%r (per-sample feature-wise '
                'normalization) cannot be expressed in Keras 2 or kzoo; only mode=0 is '
                'supported' % (kwargs.get('name'), mode))
        Layer.__init__(self, **kwargs)
        self._init_params(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint,
                          gamma_constraint)
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        self._axes = _axes(self, self.axis, len(input_shape))
        shape = _param_shape(self, input_shape, self._axes)
        if len(self._axes) > 1:
            # Keras 2 keeps several axes' parameters in broadcast shape (1, C1, 1, C2).
            shape = tuple(input_shape[i] if i in self._axes else 1
                          for i in range(len(input_shape)))
        self._build_affine(shape)
        self.moving_mean = self.add_weight('moving_mean', shape,
                                           initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight('moving_variance', shape,
                                               initializer=self.moving_variance_initializer,
                                               trainable=False)
        self.built = True

    def call(self, inputs, training=None):
        if training and self.trainable:
            reduce = [a for a in range(K.ndim(inputs)) if a not in self._axes]
            mean, variance = K.moments(inputs, reduce, keepdims=len(self._axes) > 1)
            K.moving_average_update(self.moving_mean, mean, self.momentum)
            K.moving_average_update(self.moving_variance, variance, self.momentum)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        return K.batch_normalization(inputs, mean, variance, self.beta, self.gamma,
                                     self._axes, self.epsilon)


@register_layer()
class LayerNormalization(_Normalization):
    """Normalize each sample over ``axis`` (default the last), then scale and centre.

    >>> import numpy as np
    >>> LayerNormalization(epsilon=0.)(np.array([[1., 3.]], 'float32')).tolist()
    [[-1.0, 1.0]]
    """
    config_fields = ('axis', 'epsilon', 'center', 'scale', 'beta_initializer',
                     'gamma_initializer', 'beta_regularizer', 'gamma_regularizer',
                     'beta_constraint', 'gamma_constraint')

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer='zeros', gamma_initializer='ones', beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling=False, **kwargs):
        if rms_scaling:
            raise ConfigError('LayerNormalization %r: rms_scaling=True is not supported'
                              % (kwargs.get('name'),))
        Layer.__init__(self, **kwargs)
        self._init_params(axis, epsilon, center, scale, beta_initializer, gamma_initializer,
                          beta_regularizer, gamma_regularizer, beta_constraint,
                          gamma_constraint)

    def build(self, input_shape):
        self._axes = _axes(self, self.axis, len(input_shape))
        self._build_affine(_param_shape(self, input_shape, self._axes))
        self.built = True

    def call(self, inputs):
        mean, variance = K.moments(inputs, self._axes, keepdims=True)
        # Keras: inv = rsqrt(var + eps) * gamma; outputs = x * inv + (beta - mean * inv)
        inv = 1. / K.sqrt(variance + self.epsilon)
        if self.gamma is not None:
            inv = inv * self._broadcast(self.gamma, inputs)
        shift = -mean * inv
        if self.beta is not None:
            shift = shift + self._broadcast(self.beta, inputs)
        return inputs * inv + shift

    def _broadcast(self, param, inputs):
        shape = [1] * K.ndim(inputs)
        for a in self._axes:
            shape[a] = K.int_shape(inputs)[a]
        return K.reshape(param, shape)
