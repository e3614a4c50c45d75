"""Recurrent layers: the ``RNN`` base (a loop over a cell), ``SimpleRNN`` and its cell,
and ``StackedRNNCells``. ``LSTM``, ``GRU`` and ``ConvLSTM2D`` live in their own modules.

An RNN layer owns a *cell* (a layer computing one timestep); its weights are the cell's,
in Keras order, so Keras weight files load by position. Semantics follow Keras:
``return_sequences``, ``return_state``, ``go_backwards`` (outputs come back in
processing order), ``stateful`` with ``reset_states``, masks (a masked step repeats the
previous output and keeps the states), ``initial_state`` given at call time or, in a
functional graph, as extra inputs (Keras 2 stores them so), and dropout masks drawn
once per call and shared by all timesteps.

>>> import numpy as np
>>> layer = SimpleRNN(2, kernel_initializer='ones', recurrent_initializer='zeros',
...                   activation='linear')
>>> layer(np.ones((1, 3, 4), 'float32')).tolist()
[[4.0, 4.0]]
"""
import inspect

import numpy as np

from kzoo import activations, backend as K, constraints, initializers, regularizers
from kzoo.engine.base_layer import LAYERS, Layer, register_layer, serialize_value, to_list
from kzoo.engine.node import KTensor
from kzoo.errors import ConfigError, ShapeError
from kzoo.layers.legacy import keras1_kwargs

__all__ = ['RNN', 'SimpleRNN', 'SimpleRNNCell', 'StackedRNNCells']


# ---- helpers shared by the recurrent modules and the wrappers ------------------------

class SublayerWeights(object):
    """Mixin for layers that own layers (an RNN its cell, a wrapper its inner layer):
    their weights are the sublayers' weights, in order, as Keras lists them."""

    def _sublayers(self):
        return []

    def _ordered_specs(self):
        specs = Layer._ordered_specs(self)
        for layer in self._sublayers():
            specs = specs + layer._ordered_specs()
        return specs

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        weights = Layer.trainable_weights.fget(self)
        for layer in self._sublayers():
            weights = weights + layer.trainable_weights
        return weights

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]


def first_shape(shape):
    """The sequence's shape when ``shape`` lists the shapes of several inputs."""
    if shape and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def get_initializer(identifier):
    return initializers.get(identifier)


def add_cell_fields(cls, fields):
    """Expose ``fields`` of ``layer.cell`` as read-only attributes of the layer class,
    so the layer's flat (Keras 2) config is derived from its cell."""
    for field in fields:
        setattr(cls, field, property(lambda self, f=field: getattr(self.cell, f)))
    return cls


def flatten_cell_config(config):
    """Merge a nested ``cell`` config (as some Keras 3 files write) into a flat one."""
    cell = config.pop('cell', None)
    if isinstance(cell, dict):
        inner = dict(cell.get('config', cell))
        for key in ('name', 'trainable', 'dtype'):
            inner.pop(key, None)
        for key, value in inner.items():
            config.setdefault(key, value)
    return config


def call_with_initial_state(layer, inputs, initial_state, constants, kwargs):
    """``Layer.__call__`` for layers that take ``initial_state=``: symbolic initial
    states become extra inputs of the node (the Keras 2 layout of such a node), arrays
    are passed on to ``call``."""
    if constants is not None:
        raise ConfigError('layer %r: RNN constants are not supported' % layer.name)
    if initial_state is None:
        return Layer.__call__(layer, inputs, **kwargs)
    initial_state = to_list(initial_state)
    if any(isinstance(s, KTensor) for s in initial_state):
        return Layer.__call__(layer, to_list(inputs) + initial_state, **kwargs)
    return Layer.__call__(layer, inputs, initial_state=initial_state, **kwargs)


def _unit_interval(value, field, layer):
    value = float(value)
    if not 0. <= value <= 1.:
        raise ConfigError('%s: %s must be between 0 and 1, got %r' % (layer, field, value))
    return value


# ---- cells -------------------------------------------------------------------------

class RNNCellBase(Layer):
    """What the cells share: regularized weights, dropout masks, initial states.

    Subclasses set ``state_size`` (an int or a list), ``output_size`` and implement
    ``call(inputs, states, training=False) -> (output, new_states)`` for one timestep.
    """
    #: How many dropout masks a step uses (one per gate with ``implementation=1``).
    dropout_mask_count = 1

    def __init__(self, dropout=0., recurrent_dropout=0., seed=None, **kwargs):
        Layer.__init__(self, **kwargs)
        name = type(self).__name__
        self.dropout = min(1., max(0., _unit_interval(dropout, 'dropout', name)))
        self.recurrent_dropout = _unit_interval(recurrent_dropout, 'recurrent_dropout', name)
        self.seed = seed
        self._dropout_mask = None
        self._recurrent_dropout_mask = None

    def _init_weight_args(self, kernel_initializer, recurrent_initializer, bias_initializer,
                          kernel_regularizer, recurrent_regularizer, bias_regularizer,
                          kernel_constraint, recurrent_constraint, bias_constraint):
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def _add_kernels(self, input_dim, width):
        self.kernel = self.add_weight('kernel', (input_dim, width),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight('recurrent_kernel', (self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)

    def _add_bias(self, shape, initializer=None):
        self.bias = self.add_weight('bias', shape,
                                    initializer=initializer or self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint)

    @property
    def state_sizes(self):
        return list(self.state_size) if isinstance(self.state_size, (list, tuple)) \
            else [self.state_size]

    def get_initial_state(self, inputs):
        """Zero states for a batch of sequences ``inputs`` (batch, time, ...)."""
        batch = K.int_shape(inputs)[0]
        return [K.zeros((batch, size), dtype=K.dtype(inputs)) for size in self.state_sizes]

    # Dropout masks are drawn once per sequence (the RNN layer asks before its loop)
    # and reused at every timestep, as Keras does.
    def prepare_dropout(self, step_input, state, training):
        self._dropout_mask = self._recurrent_dropout_mask = None
        if not training:
            return
        if 0. < self.dropout < 1.:
            self._dropout_mask = self._draw_masks(step_input, self.dropout)
        if 0. < self.recurrent_dropout < 1.:
            self._recurrent_dropout_mask = self._draw_masks(state, self.recurrent_dropout)

    def _draw_masks(self, like, rate):
        masks = [K.dropout(K.ones_like(like), rate) for _ in range(self.dropout_mask_count)]
        return masks if self.dropout_mask_count > 1 else masks[0]

    def clear_dropout(self):
        self._dropout_mask = self._recurrent_dropout_mask = None

    def get_config(self):
        config = Layer.get_config(self)
        config.pop('batch_input_shape', None)
        if config.get('seed') is None:
            config.pop('seed', None)
        return config


@register_layer()
class SimpleRNNCell(RNNCellBase):
    """One step of a fully-connected RNN: ``h = activation(x W + b + h_prev U)``.

    >>> cell = SimpleRNNCell(3)
    >>> cell.state_size
    3
    """
    config_fields = ('units', 'activation', 'use_bias', 'kernel_initializer',
                     'recurrent_initializer', 'bias_initializer', 'kernel_regularizer',
                     'recurrent_regularizer', 'bias_regularizer', 'kernel_constraint',
                     'recurrent_constraint', 'bias_constraint', 'dropout',
                     'recurrent_dropout', 'seed')

    @keras1_kwargs()
    def __init__(self, units, activation='tanh', use_bias=True,
                 kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',
                 bias_initializer='zeros', kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0., recurrent_dropout=0., seed=None, **kwargs):
        RNNCellBase.__init__(self, dropout=dropout, recurrent_dropout=recurrent_dropout,
                             seed=seed, **kwargs)
        self.units = _positive_units(units, type(self).__name__)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self._init_weight_args(kernel_initializer, recurrent_initializer, bias_initializer,
                               kernel_regularizer, recurrent_regularizer, bias_regularizer,
                               kernel_constraint, recurrent_constraint, bias_constraint)
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape):
        self._add_kernels(input_shape[-1], self.units)
        self.bias = None
        if self.use_bias:
            self._add_bias((self.units,))
        self.built = True

    def call(self, inputs, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        if self._dropout_mask is not None:
            inputs = inputs * self._dropout_mask
        h = K.dot(inputs, self.kernel)
        if self.bias is not None:
            h = h + self.bias
        if self._recurrent_dropout_mask is not None:
            prev = prev * self._recurrent_dropout_mask
        output = self.activation(h + K.dot(prev, self.recurrent_kernel))
        return output, [output]


def _positive_units(units, layer):
    try:
        units = int(units)
    except (TypeError, ValueError):
        raise ConfigError('%s: units must be a positive integer, got %r' % (layer, units)) \
            from None
    if units <= 0:
        raise ConfigError('%s: units must be a positive integer, got %r' % (layer, units))
    return units


@register_layer()
class StackedRNNCells(SublayerWeights, Layer):
    """Several cells run as one: each feeds its output to the next; states are the
    concatenation of the cells' states, in order.

    >>> StackedRNNCells([SimpleRNNCell(2), SimpleRNNCell(3)]).state_size
    [2, 3]
    """

    def __init__(self, cells, **kwargs):
        Layer.__init__(self, **kwargs)
        self.cells = list(cells)
        if not self.cells:
            raise ConfigError('StackedRNNCells needs at least one cell')

    def _sublayers(self):
        return self.cells

    @property
    def state_size(self):
        sizes = []
        for cell in self.cells:
            sizes.extend(_state_sizes(cell))
        return sizes

    @property
    def output_size(self):
        last = self.cells[-1]
        return getattr(last, 'output_size', None) or _state_sizes(last)[0]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for cell in self.cells:
            if not cell.built:
                cell.build(shape)
                cell.built = True
            shape = shape[:-1] + (getattr(cell, 'output_size', None) or _state_sizes(cell)[0],)
        self.built = True

    def get_initial_state(self, inputs):
        states = []
        for cell in self.cells:
            states.extend(_cell_initial_state(cell, inputs))
        return states

    def prepare_dropout(self, step_input, state, training):
        for cell in self.cells:
            if hasattr(cell, 'prepare_dropout'):
                size = getattr(cell, 'output_size', None) or _state_sizes(cell)[0]
                cell.prepare_dropout(step_input, K.zeros((K.int_shape(state)[0], _state_sizes(
                    cell)[0]), dtype=K.dtype(state)), training)
                step_input = K.zeros((K.int_shape(state)[0], size), dtype=K.dtype(state))

    def clear_dropout(self):
        for cell in self.cells:
            if hasattr(cell, 'clear_dropout'):
                cell.clear_dropout()

    def call(self, inputs, states, training=False):
        new_states, start = [], 0
        for cell in self.cells:
            n = len(_state_sizes(cell))
            inputs, cell_states = _call_cell(cell, inputs, list(states[start:start + n]),
                                             training)
            new_states.extend(cell_states)
            start += n
        return inputs, new_states

    def get_config(self):
        config = {'name': self.name, 'trainable': self.trainable, 'dtype': self.dtype}
        config['cells'] = [{'class_name': type(c).__name__, 'config': c.get_config()}
                           for c in self.cells]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cells = [_deserialize_cell(c, custom_objects) for c in config.pop('cells', [])]
        return cls(cells, **config)


def _state_sizes(cell):
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def _cell_initial_state(cell, inputs):
    if hasattr(cell, 'get_initial_state'):
        return list(cell.get_initial_state(inputs))
    batch = K.int_shape(inputs)[0]
    return [K.zeros((batch, s), dtype=K.dtype(inputs)) for s in _state_sizes(cell)]


def _call_cell(cell, inputs, states, training):
    if cell._call_accepts('training'):
        output, new_states = cell.call(inputs, states, training=training)
    else:
        output, new_states = cell.call(inputs, states)
    return output, to_list(new_states)


def _deserialize_cell(config, custom_objects=None):
    if isinstance(config, Layer):
        return config
    if isinstance(config, list):
        return StackedRNNCells([_deserialize_cell(c, custom_objects) for c in config])
    if not isinstance(config, dict) or 'class_name' not in config:
        raise ConfigError('an RNN cell config must be a dict with class_name and config, '
                          'got %.200r' % (config,))
    cls = LAYERS.get(config['class_name'], custom_objects, where='RNN cell')
    inner = dict(config.get('config') or {})
    if 'custom_objects' in inspect.signature(cls.from_config).parameters:
        return cls.from_config(inner, custom_objects=custom_objects)
    return cls.from_config(inner)


# ---- the RNN layer -------------------------------------------------------------------

_RNN_FIELDS = ('return_sequences', 'return_state', 'go_backwards', 'stateful', 'unroll')


@register_layer()
class RNN(SublayerWeights, Layer):
    """Loop a cell over the time axis of ``(batch, timesteps, ...)`` inputs.

    >>> import numpy as np
    >>> layer = RNN(SimpleRNNCell(2), return_sequences=True, return_state=True)
    >>> [a.shape for a in layer(np.zeros((4, 5, 3), 'float32'))]
    [(4, 5, 2), (4, 2)]
    """
    config_fields = _RNN_FIELDS
    _output_is_state = False  # any cell: its output may differ from its states

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, time_major=False,
                 input_length=None, input_dim=None, **kwargs):
        if time_major:
            raise ConfigError('%s: time_major=True is not supported; give inputs as '
                              '(batch, timesteps, ...)' % type(self).__name__)
        if input_dim is not None and 'input_shape' not in kwargs \
                and 'batch_input_shape' not in kwargs:
            # Keras 1/2 spelled the input shape of an RNN as input_length + input_dim.
            kwargs['input_shape'] = (input_length, input_dim)
        Layer.__init__(self, **kwargs)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not hasattr(cell, 'call') or not hasattr(cell, 'state_size'):
            raise ConfigError('%s: the cell must be a layer with call() and state_size, got '
                              '%r' % (type(self).__name__, cell))
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.input_length = input_length
        self.supports_masking = True
        self.states = None

    def _sublayers(self):
        return [self.cell]

    @property
    def state_sizes(self):
        return _state_sizes(self.cell)

    @property
    def output_size(self):
        return getattr(self.cell, 'output_size', None) or self.state_sizes[0]

    # ---- calling ---------------------------------------------------------------

    def __call__(self, inputs, initial_state=None, constants=None, **kwargs):
        return call_with_initial_state(self, inputs, initial_state, constants, kwargs)

    def _split_inputs(self, inputs, initial_state):
        if isinstance(inputs, (list, tuple)):
            inputs = list(inputs)
            if initial_state is None and len(inputs) > 1:
                initial_state = inputs[1:]
            inputs = inputs[0]
        if initial_state is not None:
            initial_state = to_list(initial_state)
            if len(initial_state) != len(self.state_sizes):
                raise ShapeError('layer %r (%s) has %d states, but %d initial states were '
                                 'given' % (self.name, type(self).__name__,
                                            len(self.state_sizes), len(initial_state)))
        return inputs, initial_state

    def build(self, input_shape):
        shape = first_shape(input_shape)
        if len(shape) < 3:
            raise ShapeError('layer %r (%s) expects inputs of shape (batch, timesteps, '
                             'features), got %s' % (self.name, type(self).__name__, shape))
        if self.unroll and shape[1] is None:
            raise ShapeError('layer %r: cannot unroll an RNN over an unknown number of '
                             'timesteps; give Input() a fixed sequence length' % self.name)
        if not self.cell.built:
            self.cell.build((shape[0],) + shape[2:])
            self.cell.built = True
        self.built = True

    def get_initial_state(self, inputs):
        return _cell_initial_state(self.cell, inputs)

    def _zero_states(self, inputs):
        """Initial states for one call (never kept): :meth:`get_initial_state`, with one
        zeros tensor for all states of a size when the cell's are plain zeros (nothing
        writes into initial states; this saves a tensor per step)."""
        cell = self.cell
        if type(self).get_initial_state is not RNN.get_initial_state or \
                not isinstance(cell, RNNCellBase) or \
                type(cell).get_initial_state is not RNNCellBase.get_initial_state:
            return self.get_initial_state(inputs)
        batch, dtype, zeros = K.int_shape(inputs)[0], K.dtype(inputs), {}
        for size in cell.state_sizes:
            if size not in zeros:
                zeros[size] = K.zeros((batch, size), dtype=dtype)
        return [zeros[size] for size in cell.state_sizes]

    def _stateful_states(self, inputs):
        batch = K.int_shape(inputs)[0]
        if self.states is None:
            self.states = self.get_initial_state(inputs)
        elif K.int_shape(self.states[0])[0] != batch:
            raise ShapeError('stateful layer %r keeps states for batches of %d samples, but '
                             'got a batch of %d; call reset_states() or use the same batch '
                             'size' % (self.name, K.int_shape(self.states[0])[0], batch))
        return self.states

    def reset_states(self, states=None):
        """Zero the states of a stateful layer, or set them to ``states`` (arrays)."""
        if not self.stateful:
            raise ConfigError('layer %r is not stateful; reset_states() needs stateful=True'
                              % self.name)
        if states is None:
            if self.states is not None:
                self.states = [K.zeros_like(s) for s in self.states]
            return
        states = to_list(states)
        if len(states) != len(self.state_sizes):
            raise ShapeError('layer %r expects %d states, got %d'
                             % (self.name, len(self.state_sizes), len(states)))
        self.states = [K.convert_to_tensor(np.asarray(s, dtype=self.dtype)) for s in states]

    reset_state = reset_states

    def call(self, inputs, mask=None, training=None, initial_state=None):
        inputs, initial_state = self._split_inputs(inputs, initial_state)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if initial_state is None:
            initial_state = self._stateful_states(inputs) if self.stateful \
                else self._zero_states(inputs)
        initial_state = [s if K.is_tensor(s) else K.convert_to_tensor(
            np.asarray(s, dtype=K.dtype(inputs))) for s in initial_state]
        if hasattr(self.cell, 'prepare_dropout'):
            self.cell.prepare_dropout(inputs[:, 0], initial_state[0], bool(training))
        try:
            last_output, outputs, states = self.inner_loop(inputs, initial_state, mask,
                                                           bool(training))
        finally:
            if hasattr(self.cell, 'clear_dropout'):
                self.cell.clear_dropout()
        if self.stateful:
            self.states = [K.stop_gradient(s) for s in states]
        if self.return_sequences:
            output = outputs
        elif mask is None and self._output_is_state:
            # The same values as the last output; its gradient flows into the final state
            # alone, not through a slice of every timestep's outputs (a cheaper backward).
            output = states[0]
        else:
            output = last_output
        if self.return_state:
            return [output] + list(states)
        return output

    def inner_loop(self, inputs, initial_state, mask, training):
        """``(last_output, outputs, states)``; subclasses override with fused ops."""
        cell = self.cell

        def step(x, states):
            return _call_cell(cell, x, list(states), training)

        return K.rnn(step, inputs, initial_state, go_backwards=self.go_backwards, mask=mask,
                     unroll=self.unroll, input_length=K.int_shape(inputs)[1],
                     zero_output_for_mask=self.zero_output_for_mask,
                     return_all_outputs=self.return_sequences)

    # ---- shapes and masks --------------------------------------------------------

    def _output_step_shape(self, shape):
        return (self.output_size,) if isinstance(self.output_size, int) \
            else tuple(self.output_size)

    def _state_shapes(self, shape):
        return [(shape[0], s) if isinstance(s, int) else (shape[0],) + tuple(s)
                for s in self.state_sizes]

    def compute_output_shape(self, input_shape):
        shape = first_shape(input_shape)
        step = self._output_step_shape(shape)
        output = (shape[0], shape[1]) + step if self.return_sequences else (shape[0],) + step
        if self.return_state:
            return [output] + self._state_shapes(shape)
        return output

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_sizes)
        return output_mask

    # ---- config ------------------------------------------------------------------

    def get_config(self):
        config = Layer.get_config(self)
        if self.zero_output_for_mask:
            config['zero_output_for_mask'] = True
        if type(self) is RNN:
            config['cell'] = {'class_name': type(self.cell).__name__,
                              'config': self.cell.get_config()}
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = _deserialize_cell(config.pop('cell'), custom_objects)
        return cls(cell, **config)


class FlatRNN(RNN):
    """An RNN layer whose config is flat (Keras 2 layout): the cell's fields are the
    layer's. Subclasses name their cell class and the cell's fields."""
    cell_class = None
    cell_fields = ()
    _output_is_state = True  # the cells' output is their first state (h)
    #: cell arguments that are not config fields (accepted for Keras 3 configs)
    cell_only_args = ('seed',)

    def __init__(self, units, activity_regularizer=None, use_cudnn='auto', implementation=None,
                 return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, time_major=False,
                 input_length=None, input_dim=None, name=None, trainable=True, dtype=None,
                 **kwargs):
        cell_kwargs = {k: kwargs.pop(k) for k in list(kwargs)
                       if k in self.cell_fields or k in self.cell_only_args}
        if implementation is not None and 'implementation' in self.cell_fields:
            cell_kwargs['implementation'] = implementation  # else a Keras 1 leftover
        cell = self.cell_class(units, dtype=dtype, trainable=trainable,
                               name=self._cell_name(), **cell_kwargs)
        RNN.__init__(self, cell, return_sequences=return_sequences, return_state=return_state,
                     go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                     zero_output_for_mask=zero_output_for_mask, time_major=time_major,
                     input_length=input_length, input_dim=input_dim, name=name,
                     trainable=trainable, dtype=dtype, **kwargs)
        self.activity_regularizer = regularizers.get(activity_regularizer)

    @classmethod
    def _cell_name(cls):
        from kzoo.engine.base_layer import to_snake_case
        return to_snake_case(cls.cell_class.__name__)

    def get_config(self):
        config = RNN.get_config(self)
        for field in self.cell_fields:
            config[field] = serialize_value(getattr(self.cell, field))
        config['activity_regularizer'] = serialize_value(self.activity_regularizer)
        if config.get('seed') is None:
            config.pop('seed', None)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = flatten_cell_config(dict(config))
        return cls(**config)


@register_layer()
class SimpleRNN(FlatRNN):
    """Fully-connected RNN whose output is fed back as its input.

    >>> import numpy as np
    >>> SimpleRNN(4, return_sequences=True)(np.zeros((2, 3, 5), 'float32')).shape
    (2, 3, 4)
    """
    cell_class = SimpleRNNCell
    cell_fields = ('units', 'activation', 'use_bias', 'kernel_initializer',
                   'recurrent_initializer', 'bias_initializer', 'kernel_regularizer',
                   'recurrent_regularizer', 'bias_regularizer', 'kernel_constraint',
                   'recurrent_constraint', 'bias_constraint', 'dropout', 'recurrent_dropout',
                   'seed')

    @keras1_kwargs()
    def __init__(self, units, **kwargs):
        FlatRNN.__init__(self, units, **kwargs)

    def inner_loop(self, inputs, initial_state, mask, training):
        cell = self.cell
        if cell._recurrent_dropout_mask is not None:
            return RNN.inner_loop(self, inputs, initial_state, mask, training)
        return K.simple_rnn(_drop_inputs(inputs, cell), initial_state[0], mask, cell.kernel,
                            cell.recurrent_kernel, cell.bias, cell.activation,
                            return_sequences=self.return_sequences,
                            go_backwards=self.go_backwards, unroll=self.unroll,
                            zero_output_for_mask=self.zero_output_for_mask)


def _drop_inputs(inputs, cell):
    """Apply the cell's input dropout mask (one per sample and feature) to all steps."""
    mask = cell._dropout_mask
    if mask is None:
        return inputs
    if isinstance(mask, list):
        mask = mask[0]
    return inputs * K.expand_dims(mask, 1)


add_cell_fields(SimpleRNN, SimpleRNN.cell_fields)
