"""Dense attention: Keras's dot-product ``Attention`` (Luong) and ``AdditiveAttention``
(Bahdanau).

Called on ``[query, value]`` or ``[query, value, key]`` (key defaults to value), shapes
``(batch, Tq, dim)`` and ``(batch, Tv, dim)``; returns ``(batch, Tq, value_dim)``, and
the attention distribution ``(batch, Tq, Tv)`` too with
``return_attention_scores=True``. A value mask keeps masked positions out of the
softmax, a query mask zeroes the masked outputs, and causal masking
(``use_causal_mask=True`` at call time, Keras 3; ``causal=True`` in the constructor,
tf.keras 2) lets position ``i`` attend only to positions ``<= i``.

>>> import numpy as np
>>> q = np.ones((1, 2, 3), 'float32'); v = np.arange(12, dtype='float32').reshape(1, 4, 3)
>>> Attention()([q, v]).shape
(1, 2, 3)
"""
import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.errors import ConfigError, ShapeError

__all__ = ['Attention', 'AdditiveAttention']

# Keras subtracts this from the scores of masked positions before the softmax.
_MASK_PENALTY = 1.0e9


class BaseDenseAttention(Layer):
    """Masking, softmax, dropout and the weighted sum shared by both attentions."""
    config_fields = ('use_scale', 'dropout')

    def __init__(self, use_scale=False, dropout=0., causal=False, seed=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.use_scale = bool(use_scale)
        self.dropout = float(dropout)
        if not 0. <= self.dropout <= 1.:
            raise ConfigError('%s: dropout must be between 0 and 1, got %r'
                              % (type(self).__name__, dropout))
        self.causal = bool(causal)
        self.seed = seed
        self.supports_masking = True
        self._return_scores = False

    def _validate(self, inputs, mask=None):
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or not 2 <= len(inputs) <= 3:
            raise ShapeError('%s layer %r must be called on a list [query, value] or '
                             '[query, value, key], got %r' % (name, self.name, inputs))
        if mask is not None and (not isinstance(mask, (list, tuple)) or len(mask) < 2):
            raise ShapeError('%s layer %r: mask must be a list [query_mask, value_mask], got '
                             '%r' % (name, self.name, mask))

    def __call__(self, inputs, **kwargs):
        # Remember whether scores are returned: the output count depends on it.
        self._return_scores = bool(kwargs.get('return_attention_scores', False))
        return Layer.__call__(self, inputs, **kwargs)

    def build(self, input_shape):
        self._validate(input_shape)
        self.built = True

    def _calculate_scores(self, query, key):
        raise NotImplementedError

    def call(self, inputs, mask=None, training=None, return_attention_scores=False,
             use_causal_mask=False):
        self._validate(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._calculate_scores(query, key)
        keep = self._score_mask(scores, v_mask, self.causal or use_causal_mask)
        if keep is not None:
            scores = K.where(keep, scores, scores - _MASK_PENALTY)
        weights = K.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = K.dropout(weights, self.dropout)
        output = K.einsum('...qk,...kd->...qd', weights, value)
        if q_mask is not None:
            q_mask = K.expand_dims(K.cast(q_mask, 'bool'), -1)
            output = K.where(q_mask, output, K.zeros_like(output))
        if return_attention_scores:
            return [output, weights]
        return output

    @staticmethod
    def _score_mask(scores, v_mask, causal):
        """Boolean ``(…, Tq, Tv)``-broadcastable mask of the scores to keep, or None."""
        keep = None
        if v_mask is not None:
            keep = K.expand_dims(K.cast(v_mask, 'bool'), -2)
        if causal:
            tq, tv = K.int_shape(scores)[-2:]
            # row >= column, as Keras's cumsum construction gives
            lower = np.tril(np.ones((tq, tv), dtype=bool))
            lower = K.convert_to_tensor(lower)
            keep = lower if keep is None else K.greater(
                K.cast(keep, 'int32') + K.cast(lower, 'int32'), 1)
        return keep

    def compute_output_shape(self, input_shape):
        self._validate(input_shape)
        query, value = tuple(input_shape[0]), tuple(input_shape[1])
        key = tuple(input_shape[2]) if len(input_shape) > 2 else value
        output = query[:-1] + value[-1:]
        if self._return_scores:
            return [output, query[:-1] + key[-2:-1]]
        return output

    def compute_mask(self, inputs, mask=None):
        q_mask = mask[0] if isinstance(mask, (list, tuple)) and mask else None
        if self._return_scores:
            return [q_mask, None]
        return q_mask

    def get_config(self):
        config = Layer.get_config(self)
        if self.causal:
            config['causal'] = True  # tf.keras 2 spelling of use_causal_mask
        if self.seed is not None:
            config['seed'] = self.seed
        return config


@register_layer()
class Attention(BaseDenseAttention):
    """Dot-product attention: ``scores = query . key`` (times a learned ``scale`` with
    ``use_scale``), or with ``score_mode='concat'``
    ``scores = w * sum(tanh(scale * (query + key)))``.

    Weights: ``scale`` ``()`` with ``use_scale``, then ``concat_score_weight`` ``()``
    with ``score_mode='concat'``.
    """
    config_fields = ('use_scale', 'score_mode', 'dropout')

    def __init__(self, use_scale=False, score_mode='dot', dropout=0., **kwargs):
        if score_mode not in ('dot', 'concat'):
            raise ConfigError("Attention: score_mode must be 'dot' or 'concat', got %r"
                              % (score_mode,))
        BaseDenseAttention.__init__(self, use_scale=use_scale, dropout=dropout, **kwargs)
        self.score_mode = score_mode

    def build(self, input_shape):
        self._validate(input_shape)
        self.scale = self.add_weight('scale', (), initializer='ones') if self.use_scale \
            else None
        self.concat_score_weight = self.add_weight(
            'concat_score_weight', (), initializer='ones') if self.score_mode == 'concat' \
            else None
        self.built = True

    def _calculate_scores(self, query, key):
        if self.score_mode == 'dot':
            scores = K.einsum('...qd,...kd->...qk', query, key)
            return scores * self.scale if self.scale is not None else scores
        pairs = K.expand_dims(query, -2) + K.expand_dims(key, -3)
        if self.scale is not None:
            pairs = self.scale * pairs
        return self.concat_score_weight * K.sum(K.tanh(pairs), axis=-1)


@register_layer()
class AdditiveAttention(BaseDenseAttention):
    """Additive (Bahdanau) attention: ``scores = sum(scale * tanh(query + key))``.

    Weight: ``scale`` ``(dim,)`` with ``use_scale`` (the default).
    """

    def __init__(self, use_scale=True, dropout=0., **kwargs):
        BaseDenseAttention.__init__(self, use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape):
        self._validate(input_shape)
        dim = input_shape[0][-1]
        self.scale = self.add_weight('scale', (dim,), initializer='glorot_uniform') \
            if self.use_scale else None
        self.built = True

    def _calculate_scores(self, query, key):
        pairs = K.tanh(K.expand_dims(query, -2) + K.expand_dims(key, -3))
        if self.scale is not None:
            pairs = self.scale * pairs
        return K.sum(pairs, axis=-1)
