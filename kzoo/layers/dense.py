"""``Dense``: ``activation(dot(x, kernel) + bias)`` on the last axis."""
from kzoo import activations, backend as K, initializers
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['Dense']


@register_layer()
class Dense(Layer):
    """Densely-connected layer (``Dense(units)``; Keras 1: ``Dense(output_dim)``).

    >>> import numpy as np
    >>> Dense(2, kernel_initializer='ones', bias_initializer='ones')(np.ones((1, 3))).tolist()
    [[4.0, 4.0]]
    """
    config_fields = ('units', 'activation', 'use_bias', 'kernel_initializer',
                     'bias_initializer', 'kernel_regularizer', 'bias_regularizer',
                     'activity_regularizer', 'kernel_constraint', 'bias_constraint')

    @keras1_kwargs()
    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer='glorot_uniform', bias_initializer='zeros',
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        from kzoo import regularizers, constraints
        for key in ('quantization_config', 'lora_rank', 'lora_alpha'):  # Keras 3 fields
            if kwargs.pop(key, None):
                raise ConfigError('Dense %r: %s is not supported' % (kwargs.get('name'), key))
        Layer.__init__(self, **kwargs)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.supports_masking = True

    def build(self, input_shape):
        self.kernel = self.add_weight('kernel', (input_shape[-1], self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.bias = self.add_weight('bias', (self.units,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint) if self.use_bias else None
        self.built = True

    def call(self, inputs):
        return self.activation(K.dense(inputs, self.kernel, self.bias))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)
