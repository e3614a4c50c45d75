"""Layer wrappers: ``TimeDistributed`` and ``Bidirectional``.

A wrapper's weights are its inner layers' weights, in Keras order (Bidirectional:
forward then backward), so Keras weight files load by position. Configs are Keras 2's:
``{'layer': {'class_name': ..., 'config': ...}, ...}``.

>>> import numpy as np
>>> from kzoo.layers import Dense, LSTM
>>> TimeDistributed(Dense(2))(np.zeros((4, 3, 5), 'float32')).shape
(4, 3, 2)
>>> Bidirectional(LSTM(3, return_sequences=True))(np.zeros((4, 6, 5), 'float32')).shape
(4, 6, 6)
"""
import copy

from kzoo import backend as K
from kzoo.engine.base_layer import Layer, register_layer, to_list
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.recurrent import SublayerWeights, call_with_initial_state, first_shape

__all__ = ['Wrapper', 'TimeDistributed', 'Bidirectional']


def _serialize(layer):
    return {'class_name': type(layer).__name__, 'config': layer.get_config()}


def _deserialize(config):
    from kzoo.engine.network import deserialize_layer
    if isinstance(config, Layer):
        return config
    return deserialize_layer(config)


class Wrapper(SublayerWeights, Layer):
    """Base of the wrappers: holds ``layer`` and serializes it inside its own config."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ConfigError('%s wraps a layer, got %r' % (type(self).__name__, layer))
        Layer.__init__(self, **kwargs)
        self.layer = layer

    def _sublayers(self):
        return [self.layer]

    def get_config(self):
        config = Layer.get_config(self)
        config['layer'] = _serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if 'layer' not in config:
            raise ConfigError('%s config %r has no "layer"' % (cls.__name__, config.get('name')))
        layer = _deserialize(config.pop('layer'))
        return cls(layer, **config)


@register_layer()
class TimeDistributed(Wrapper):
    """Apply ``layer`` to every timestep of ``(batch, timesteps, ...)`` inputs.

    The timesteps are folded into the batch, so any layer (Dense, Conv2D, a model)
    runs once on ``(batch * timesteps, ...)``; a mask ``(batch, timesteps)`` is folded
    the same way for layers that take one.
    """

    def __init__(self, layer, **kwargs):
        Wrapper.__init__(self, layer, **kwargs)
        self.supports_masking = True

    def _child_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) < 3:
            raise ShapeError('TimeDistributed layer %r expects inputs of at least 3 '
                             'dimensions (batch, timesteps, ...), got %s' % (self.name, shape))
        return (shape[0],) + shape[2:]

    def build(self, input_shape):
        self.layer._ensure_built([self._child_shape(input_shape)])
        self.built = True

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        child = tuple(self.layer.compute_output_shape(self._child_shape(shape)))
        return (child[0], shape[1]) + child[1:]

    def _fold(self, inputs, mask):
        shape = K.int_shape(inputs)
        inner = K.reshape(inputs, (shape[0] * shape[1],) + tuple(shape[2:]))
        inner_mask = None
        if mask is not None:
            mshape = K.int_shape(mask)
            inner_mask = K.reshape(mask, (mshape[0] * mshape[1],) + tuple(mshape[2:]))
        return inner, inner_mask

    @staticmethod
    def _unfold(x, batch, timesteps):
        return K.reshape(x, (batch, timesteps) + tuple(K.int_shape(x)[1:]))

    def call(self, inputs, mask=None, training=None):
        shape = K.int_shape(inputs)
        inner, inner_mask = self._fold(inputs, mask)
        output, _ = self.layer._run(inner, inner_mask, bool(training))
        return self._unfold(output, shape[0], shape[1])

    def compute_mask(self, inputs, mask=None):
        # As tf.keras: the inner layer's mask (Masking, Embedding), unfolded; else the
        # input mask reduced to (batch, timesteps).
        shape = K.int_shape(inputs)
        inner, inner_mask = self._fold(inputs, mask)
        output_mask = self.layer.compute_mask(inner, inner_mask)
        if output_mask is None:
            if mask is None:
                return None
            while K.ndim(mask) > 2:
                mask = K.any(mask, axis=-1)
            return mask
        return self._unfold(output_mask, shape[0], shape[1])


_MERGE_MODES = {
    'concat': lambda y, r: K.concatenate([y, r], axis=-1),
    'sum': lambda y, r: y + r,
    'ave': lambda y, r: (y + r) / 2,
    'mul': lambda y, r: y * r,
}


@register_layer()
class Bidirectional(Wrapper):
    """Run a recurrent layer forwards and backwards and merge the two outputs.

    ``merge_mode``: ``'concat'`` (default), ``'sum'``, ``'mul'``, ``'ave'`` or ``None``
    (a list of both outputs). Weights: the forward layer's, then the backward layer's.
    With ``return_state`` the outputs are followed by the forward then backward states.
    """

    def __init__(self, layer, merge_mode='concat', weights=None, backward_layer=None,
                 **kwargs):
        if merge_mode not in _MERGE_MODES and merge_mode is not None:
            raise ConfigError('Bidirectional: merge_mode must be one of concat, sum, mul, ave '
                              'or None, got %r' % (merge_mode,))
        if not hasattr(layer, 'go_backwards') or not hasattr(layer, 'return_sequences'):
            raise ConfigError('Bidirectional wraps a recurrent layer (with go_backwards and '
                              'return_sequences), got %r' % (layer,))
        Wrapper.__init__(self, layer, weights=weights, **kwargs)
        self.merge_mode = merge_mode
        self._user_backward = backward_layer is not None
        self.forward_layer = self._recreate(layer, 'forward_', layer.go_backwards)
        if backward_layer is None:
            backward_layer = self._recreate(layer, 'backward_', not layer.go_backwards)
        self.backward_layer = _deserialize(backward_layer)
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ConfigError('Bidirectional %r: the forward and backward layers must differ '
                              'in go_backwards' % self.name)
        for field in ('stateful', 'return_sequences', 'return_state'):
            if getattr(self.forward_layer, field) != getattr(self.backward_layer, field):
                raise ConfigError('Bidirectional %r: forward and backward layers differ in %s'
                                  % (self.name, field))
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, 'zero_output_for_mask'):
                # As Keras: masked steps of returned sequences are zeros, so that the two
                # directions line up.
                sub.zero_output_for_mask = sub.return_sequences
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self._source_weights = layer.get_weights() if layer.built else None

    @staticmethod
    def _recreate(layer, prefix, go_backwards):
        config = copy.deepcopy(layer.get_config())
        name = config.get('name') or layer.name
        for p in ('forward_', 'backward_'):
            if name.startswith(p):
                name = name[len(p):]
        config['name'] = prefix + name
        config['go_backwards'] = go_backwards
        return type(layer).from_config(config)

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def weight_names(self):
        return ['%s/%s' % (self.name, n) for n in
                self.forward_layer.weight_names() + self.backward_layer.weight_names()]

    @property
    def _n_states(self):
        return len(getattr(self.forward_layer, 'state_sizes', ()))

    def build(self, input_shape):
        shape = first_shape(input_shape)
        for sub in (self.forward_layer, self.backward_layer):
            sub._ensure_built([shape])
        if self._source_weights is not None:
            # the wrapped layer was built already: its weights become the forward ones
            self.forward_layer.set_weights(self._source_weights)
            self._source_weights = None
        self.built = True

    def __call__(self, inputs, initial_state=None, constants=None, **kwargs):
        return call_with_initial_state(self, inputs, initial_state, constants, kwargs)

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if isinstance(inputs, (list, tuple)):
            inputs = list(inputs)
            if initial_state is None and len(inputs) > 1:
                initial_state = inputs[1:]
            inputs = inputs[0]
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        forward_state = backward_state = None
        if initial_state is not None:
            initial_state = to_list(initial_state)
            if len(initial_state) % 2:
                raise ShapeError('Bidirectional %r: initial_state must list the forward then '
                                 'the backward states, got %d tensors'
                                 % (self.name, len(initial_state)))
            half = len(initial_state) // 2
            forward_state, backward_state = initial_state[:half], initial_state[half:]
        y = self.forward_layer.call(inputs, mask=mask, training=training,
                                    initial_state=forward_state)
        y_rev = self.backward_layer.call(inputs, mask=mask, training=training,
                                         initial_state=backward_state)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = K.reverse(y_rev, 1)
        if self.merge_mode is None:
            output = [y, y_rev]
        else:
            output = [_MERGE_MODES[self.merge_mode](y, y_rev)]
        if self.return_state or self.merge_mode is None:
            return output + states
        return output[0]

    def compute_output_shape(self, input_shape):
        shape = first_shape(input_shape)
        output = self.forward_layer.compute_output_shape(shape)
        states = []
        if self.return_state:
            output, states = output[0], list(output[1:])
        output = tuple(output)
        if self.merge_mode == 'concat':
            output = output[:-1] + (None if output[-1] is None else 2 * output[-1],)
        outputs = [output, output] if self.merge_mode is None else [output]
        if self.return_state or self.merge_mode is None:
            return outputs + states + states
        return outputs[0]

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] * (2 if self.merge_mode is None else 1)
        if self.return_state:
            masks += [None] * (2 * self._n_states)
        return masks if len(masks) > 1 else masks[0]

    @property
    def states(self):
        if self.forward_layer.states is None or self.backward_layer.states is None:
            return None
        return list(self.forward_layer.states) + list(self.backward_layer.states)

    def reset_states(self, states=None):
        if not self.stateful:
            raise ConfigError('Bidirectional %r is not stateful' % self.name)
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = to_list(states)
        half = len(states) // 2
        self.forward_layer.reset_states(states[:half])
        self.backward_layer.reset_states(states[half:])

    def get_config(self):
        config = Wrapper.get_config(self)
        config['merge_mode'] = self.merge_mode
        if self._user_backward:
            config['backward_layer'] = _serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if config.get('backward_layer') is not None:
            config['backward_layer'] = _deserialize(config['backward_layer'])
        return super(Bidirectional, cls).from_config(config)
