"""``Embedding``: integer indices to dense vectors (Keras 1: ``init``, ``W_regularizer``...).

>>> import numpy as np
>>> layer = Embedding(3, 2, embeddings_initializer='ones', mask_zero=True)
>>> layer(np.array([[0, 2]])).tolist()
[[[1.0, 1.0], [1.0, 1.0]]]
>>> layer.compute_mask(np.array([[0, 2]])).tolist()
[[False, True]]
"""
import warnings

from kzoo import backend as K, constraints, initializers, regularizers
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['Embedding']

_KERAS1 = {'output_dim': 'output_dim', 'init': 'embeddings_initializer',
           'W_regularizer': 'embeddings_regularizer', 'W_constraint': 'embeddings_constraint'}


@register_layer()
class Embedding(Layer):
    """Look up row ``i`` of an ``(input_dim, output_dim)`` matrix for each index ``i``.

    With ``mask_zero`` the index 0 is padding: the output mask is ``inputs != 0``.
    ``input_length`` (Keras 2) fixes the input shape ``(batch, input_length)``.
    """
    config_fields = ('input_dim', 'output_dim', 'embeddings_initializer',
                     'embeddings_regularizer', 'activity_regularizer', 'embeddings_constraint',
                     'mask_zero', 'input_length')

    @keras1_kwargs(_KERAS1)
    def __init__(self, input_dim, output_dim, embeddings_initializer='uniform',
                 embeddings_regularizer=None, activity_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, input_length=None, **kwargs):
        dropout = kwargs.pop('dropout', 0.)
        if dropout:
            # Keras 1 dropped whole embeddings in training; inference is unchanged.
            warnings.warn('Embedding: the Keras 1 argument dropout=%r is ignored (it only '
                          'acted in training); add SpatialDropout1D after the layer for the '
                          'same effect' % (dropout,))
        for key in ('quantization_config', 'lora_rank', 'lora_alpha', 'sparse'):
            if kwargs.pop(key, None):
                raise ConfigError('Embedding %r: %s is not supported' % (kwargs.get('name'), key))
        # The weights are float whatever the dtype of the indices (Keras 1 wrote
        # input_dtype='int32' here, an input dtype).
        dtype = kwargs.pop('dtype', None)
        if isinstance(dtype, dict):
            dtype = dtype.get('config', {}).get('name')
        if dtype is not None and not str(dtype).startswith(('float', 'bfloat')):
            dtype = None
        if kwargs.get('input_shape') is None and kwargs.get('batch_input_shape') is None:
            lengths = tuple(input_length) if isinstance(input_length, (list, tuple)) \
                else (input_length,)
            kwargs['batch_input_shape'] = (None,) + lengths
        Layer.__init__(self, dtype=dtype, **kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        if self.input_dim <= 0 or self.output_dim <= 0:
            raise ConfigError('Embedding %r: input_dim and output_dim must be positive, got %r '
                              'and %r' % (self.name, input_dim, output_dim))
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.input_length = input_length
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        self.embeddings = self.add_weight('embeddings', (self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        indices = K.cast(inputs, 'int64')
        return K.gather(self.embeddings, indices)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return K.not_equal(K.convert_to_tensor(inputs), 0)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.input_length is None:
            return input_shape + (self.output_dim,)
        lengths = list(self.input_length) if isinstance(self.input_length, (list, tuple)) \
            else [self.input_length]
        if len(lengths) != len(input_shape) - 1:
            raise ShapeError('Embedding %r: input_length %r does not match input shape %s'
                             % (self.name, self.input_length, input_shape))
        dims = [s if s is not None else l for l, s in zip(lengths, input_shape[1:])]
        for l, s in zip(lengths, input_shape[1:]):
            if l is not None and s is not None and int(l) != int(s):
                raise ShapeError('Embedding %r: input_length %r does not match input shape %s'
                                 % (self.name, self.input_length, input_shape))
        return (input_shape[0],) + tuple(dims) + (self.output_dim,)

