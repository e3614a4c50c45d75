"""``Layer``: the unit of computation, with Keras's lifecycle.

``build(input_shape)`` creates weights on first call, ``call(inputs)`` computes,
``compute_output_shape`` gives shapes for symbolic calls, ``get_config`` describes
the layer so ``from_config`` rebuilds it. Layer classes register themselves in
:data:`LAYERS` by class name (and Keras 1 aliases) so that configs find them.

>>> import numpy as np
>>> from kzoo.layers import Dense
>>> layer = Dense(2, kernel_initializer='ones')
>>> layer(np.ones((1, 3), 'float32')).tolist()
[[3.0, 3.0]]
"""
import collections
import contextlib
import inspect
import re
import threading

import numpy as np

from kzoo import backend as K
from kzoo.engine.node import KTensor, Node
from kzoo.errors import ConfigError, ShapeError
from kzoo.utils.generic_utils import Registry, serialize_object

LAYERS = Registry('layer')
register_layer = LAYERS.register

_UIDS = collections.defaultdict(int)

WeightSpec = collections.namedtuple('WeightSpec', 'variable name regularizer constraint')


class _LossScope(threading.local):
    active = False


_LOSS_SCOPE = _LossScope()


class _InitScope(threading.local):
    skip = False
    budget = None   # bytes the weights still to be created may take (weights_budget)
    budget_of = ''


_INIT_SCOPE = _InitScope()


@contextlib.contextmanager
def skipping_initializers():
    """Inside, ``add_weight`` does not run initializers: weights start as zeros that the
    numpy backend allocates lazily. For loaders that set every weight right after (a
    large model then never holds its random initial values)."""
    previous, _INIT_SCOPE.skip = _INIT_SCOPE.skip, True
    try:
        yield
    finally:
        _INIT_SCOPE.skip = previous


@contextlib.contextmanager
def weights_budget(nbytes, source):
    """Inside, the weights ``add_weight`` creates may total at most ``nbytes``; one
    more raises :class:`~kzoo.errors.UnsafeInputError` naming ``source``. For loaders
    whose weights come from a file: a config cannot make kzoo allocate more than the
    file could hold (a few KB declaring a 16 GB layer)."""
    previous = _INIT_SCOPE.budget, _INIT_SCOPE.budget_of
    _INIT_SCOPE.budget, _INIT_SCOPE.budget_of = int(nbytes), source
    try:
        yield
    finally:
        _INIT_SCOPE.budget, _INIT_SCOPE.budget_of = previous


def _charge_weight(layer, name, shape, dtype):
    from kzoo.errors import UnsafeInputError
    nbytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    if nbytes > _INIT_SCOPE.budget:
        raise UnsafeInputError(
            '%s: refused: layer %r declares a weight %r of shape %s (%d bytes), more than '
            'the file can hold; a config that would make kzoo allocate unbounded memory'
            % (_INIT_SCOPE.budget_of, layer.name, name, shape, nbytes))
    _INIT_SCOPE.budget -= nbytes


@contextlib.contextmanager
def collecting_losses():
    """While active (a training or test step), layers with an ``activity_regularizer``
    append its penalty to ``layer.losses``; the step resets and reads them."""
    previous, _LOSS_SCOPE.active = _LOSS_SCOPE.active, True
    try:
        yield
    finally:
        _LOSS_SCOPE.active = previous


def _activity_loss(regularizer, output):
    loss = regularizer(output)
    if K.ndim(output):
        loss = loss / float(max(K.int_shape(output)[0] or 1, 1))
    return loss


def unique_name(prefix):
    """``dense_1``, ``dense_2``, ... (Keras 1/2 numbering)."""
    _UIDS[prefix] += 1
    return '%s_%d' % (prefix, _UIDS[prefix])


def clear_session():
    """Reset automatic layer-name counters (``K.clear_session()`` in Keras)."""
    _UIDS.clear()


def to_snake_case(name):
    intermediate = re.sub('(.)([A-Z][a-z0-9]+)', r'\1_\2', name)
    snake = re.sub('([a-z])([A-Z])', r'\1_\2', intermediate).lower()
    return snake if snake[0] != '_' else 'private' + snake


def to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def unpack_singleton(x):
    return x[0] if isinstance(x, list) and len(x) == 1 else x


def shape_tuple(shape):
    return tuple(None if d is None else int(d) for d in shape)


def serialize_value(value):
    """Config value for a layer field: objects by config, functions by name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(serialize_value(v) for v in value)
    if isinstance(value, dict):
        return {k: serialize_value(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return serialize_object(value)


_BASE_KWARGS = ('name', 'trainable', 'dtype', 'input_shape', 'batch_input_shape',
                'batch_size', 'input_dim', 'weights', 'batch_shape', 'input_dtype')


class Layer(object):
    """Base class of all layers.

    Subclasses list the constructor arguments that form their config in
    ``config_fields``; each is stored as an attribute of the same name, so
    ``get_config`` cannot drift from ``__init__``.
    """
    config_fields = ()

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None, weights=None,
                 batch_shape=None, input_dtype=None, **kwargs):
        if kwargs:
            raise ConfigError('%s: keyword argument(s) not understood: %s'
                              % (type(self).__name__, ', '.join(sorted(kwargs))))
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        if not isinstance(self.name, str):
            raise ConfigError('layer name must be a string, got %r' % (self.name,))
        self.trainable = trainable
        if isinstance(dtype, dict):  # Keras 3 DTypePolicy config
            dtype = dtype.get('config', {}).get('name', None)
        self.dtype = dtype or input_dtype or K.floatx()
        if batch_shape is not None:
            batch_input_shape = batch_shape
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size,) + tuple(input_shape)
        # `is not None`: () is the valid shape of a scalar input (ONNX graphs have them)
        self._batch_input_shape = (shape_tuple(batch_input_shape)
                                   if batch_input_shape is not None else None)
        self._initial_weights = weights
        self._weight_specs = []
        self._inbound_nodes = []
        self._outbound_nodes = []
        self.built = False
        self.supports_masking = getattr(self, 'supports_masking', False)
        self.losses = []

    # ---- weights -----------------------------------------------------------------

    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None,
                   trainable=True, constraint=None):
        """Create a weight from ``initializer(shape)`` and track it on this layer."""
        from kzoo import initializers, regularizers, constraints
        initializer = initializers.get(initializer or 'glorot_uniform')
        shape = tuple(int(d) for d in shape)
        if _INIT_SCOPE.budget is not None:
            _charge_weight(self, name, shape, dtype or self.dtype)
        if _INIT_SCOPE.skip:
            value = np.broadcast_to(np.zeros((), dtype or self.dtype), shape)
        else:
            value = np.asarray(initializer(shape, dtype or self.dtype), dtype=dtype or self.dtype)
        variable = K.variable(value, dtype=dtype or self.dtype, name='%s/%s' % (self.name, name),
                              trainable=trainable and self.trainable)
        spec = WeightSpec(variable, name, regularizers.get(regularizer),
                          constraints.get(constraint))
        self._weight_specs.append((spec, trainable))
        return variable

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [s.variable for s, trainable in self._weight_specs if trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return [s.variable for s, _ in self._weight_specs]
        return [s.variable for s, trainable in self._weight_specs if not trainable]

    def _ordered_specs(self):
        # Keras orders weights as trainable ones first, then the others.
        specs = [s for s, t in self._weight_specs if t] + [s for s, t in self._weight_specs if not t]
        return specs if self.trainable else [s for s, _ in self._weight_specs]

    @property
    def weights(self):
        return [s.variable for s in self._ordered_specs()]

    def weight_names(self):
        """Names as Keras 2 writes them in HDF5: ``['dense_1/kernel:0', ...]``."""
        return ['%s/%s:0' % (self.name, s.name) for s in self._ordered_specs()]

    def get_weights(self):
        return K.batch_get_value(self.weights)

    def set_weights(self, weights):
        params = self.weights
        weights = list(weights)
        if len(params) != len(weights):
            raise ShapeError('layer %r (%s) expects %d weight arrays, but %d were given'
                             % (self.name, type(self).__name__, len(params), len(weights)))
        for param, value, name in zip(params, weights, self.weight_names()):
            value = np.asarray(value)
            if tuple(K.int_shape(param)) != tuple(value.shape):
                raise ShapeError('layer %r (%s): weight %s has shape %s, but the value given '
                                 'has shape %s' % (self.name, type(self).__name__, name,
                                                   tuple(K.int_shape(param)), value.shape))
        K.batch_set_value(zip(params, weights))

    def count_params(self):
        if not self.built:
            raise ConfigError('layer %r is not built yet, so it has no parameters to count; '
                              'call it on an input first' % self.name)
        return int(sum(np.prod(K.int_shape(w)) for w in self.weights))

    # ---- lifecycle ---------------------------------------------------------------

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, **kwargs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def _ensure_built(self, input_shapes):
        if not self.built:
            self.build(unpack_singleton(input_shapes))
            self.built = True
            if self._initial_weights is not None:
                self.set_weights(self._initial_weights)
                self._initial_weights = None

    @classmethod
    def _call_accepts(cls, argument):
        cache = cls.__dict__.get('_accepts_cache')
        if cache is None:
            cache = {}
            setattr(cls, '_accepts_cache', cache)
        if argument not in cache:
            params = inspect.signature(cls.call).parameters
            cache[argument] = argument in params or any(
                p.kind == p.VAR_KEYWORD for p in params.values())
        return cache[argument]

    def _run(self, inputs, masks=None, training=False, arguments=None):
        """Compute on backend tensors: ``(outputs, output_masks)``, both unpacked."""
        kwargs = dict(arguments or {})
        if masks is not None and self._call_accepts('mask') and 'mask' not in kwargs:
            kwargs['mask'] = masks
        if self._call_accepts('training') and 'training' not in kwargs:
            kwargs['training'] = training
        previous_losses = getattr(self, 'losses', [])
        outputs = self.call(inputs, **kwargs)
        if getattr(self, 'activity_regularizer', None) is not None and _LOSS_SCOPE.active:
            # Keras 3: a training/evaluation step adds each output's activity penalty,
            # divided by the batch size, to the layer's losses.
            self.losses = list(previous_losses) + [
                _activity_loss(self.activity_regularizer, o) for o in to_list(outputs)]
        out_masks = self.compute_mask(inputs, masks)
        return outputs, out_masks

    def __call__(self, inputs, **kwargs):
        flat = to_list(inputs)
        if any(isinstance(x, KTensor) for x in flat):
            return self._call_symbolic(flat, kwargs)
        return self._call_eager(inputs, kwargs)

    def _call_symbolic(self, flat, kwargs):
        for x in flat:
            if not isinstance(x, KTensor) or x._keras_history is None:
                raise ConfigError('layer %r was called on %r, which is not the output of a '
                                  'kzoo layer (use Input() to start a graph)' % (self.name, x))
        input_shapes = [x.shape for x in flat]
        self._ensure_built(input_shapes)
        output_shapes = self.compute_output_shape(unpack_singleton(input_shapes))
        multi = isinstance(output_shapes, list)
        output_shapes = output_shapes if multi else [output_shapes]
        node_index = len(self._inbound_nodes)
        outputs = []
        for i, shape in enumerate(output_shapes):
            out = KTensor(shape, self.dtype, name='%s/%d:%d' % (self.name, node_index, i))
            out._keras_history = (self, node_index, i)
            outputs.append(out)
        Node(self,
             inbound_layers=[x._keras_history[0] for x in flat],
             node_indices=[x._keras_history[1] for x in flat],
             tensor_indices=[x._keras_history[2] for x in flat],
             input_tensors=flat, output_tensors=outputs,
             input_shapes=input_shapes, output_shapes=[o.shape for o in outputs],
             arguments=kwargs)
        return outputs if multi else outputs[0]

    def _call_eager(self, inputs, kwargs):
        flat = to_list(inputs)
        as_numpy = not any(K.is_tensor(x) and not isinstance(x, np.ndarray) for x in flat)
        tensors = [x if K.is_tensor(x) else K.convert_to_tensor(
            np.asarray(x, dtype=self.dtype if np.asarray(x).dtype.kind == 'f' else None))
            for x in flat]
        self._ensure_built([(None,) + tuple(K.int_shape(t))[1:] for t in tensors])
        mask = kwargs.pop('mask', None)
        training = kwargs.pop('training', False)
        with K.no_grad() if as_numpy else _nullcontext():
            outputs, _ = self._run(unpack_singleton(tensors) if not isinstance(inputs, list)
                                   else tensors, mask, training, kwargs)
        if as_numpy:
            if isinstance(outputs, (list, tuple)):
                return [K.to_numpy(o) for o in outputs]
            return K.to_numpy(outputs)
        return outputs

    # ---- graph inspection -----------------------------------------------------------

    @property
    def inbound_nodes(self):
        return self._inbound_nodes

    @property
    def outbound_nodes(self):
        return self._outbound_nodes

    def _node_attribute(self, node_index, attr, what):
        if not self._inbound_nodes:
            raise ConfigError('layer %r has never been called and thus has no defined %s'
                              % (self.name, what))
        if node_index >= len(self._inbound_nodes):
            raise ConfigError('layer %r has only %d inbound nodes; asked for node %d'
                              % (self.name, len(self._inbound_nodes), node_index))
        return unpack_singleton(list(getattr(self._inbound_nodes[node_index], attr)))

    def _single_node_attribute(self, attr, what):
        if len(self._inbound_nodes) > 1:
            values = [getattr(n, attr) for n in self._inbound_nodes]
            if attr.endswith('shapes') and all(v == values[0] for v in values):
                return unpack_singleton(list(values[0]))
            raise ConfigError('layer %r has multiple inbound nodes, hence the notion of '
                              '"layer %s" is ill-defined; use get_%s_at(node_index)'
                              % (self.name, what, what.replace(' ', '_')))
        return self._node_attribute(0, attr, what)

    def get_input_at(self, node_index):
        return self._node_attribute(node_index, 'input_tensors', 'input')

    def get_output_at(self, node_index):
        return self._node_attribute(node_index, 'output_tensors', 'output')

    def get_input_shape_at(self, node_index):
        return self._node_attribute(node_index, 'input_shapes', 'input shape')

    def get_output_shape_at(self, node_index):
        return self._node_attribute(node_index, 'output_shapes', 'output shape')

    @property
    def input(self):
        return self._single_node_attribute('input_tensors', 'input')

    @property
    def output(self):
        return self._single_node_attribute('output_tensors', 'output')

    @property
    def input_shape(self):
        if not self._inbound_nodes and self._batch_input_shape is not None:
            return self._batch_input_shape
        return self._single_node_attribute('input_shapes', 'input shape')

    @property
    def output_shape(self):
        return self._single_node_attribute('output_shapes', 'output shape')

    # ---- serialization ----------------------------------------------------------------

    def get_config(self):
        config = {'name': self.name, 'trainable': self.trainable, 'dtype': self.dtype}
        if self._batch_input_shape is not None:
            config['batch_input_shape'] = self._batch_input_shape
        for field in type(self).config_fields:
            config[field] = serialize_value(getattr(self, field))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return '<%s name=%s>' % (type(self).__name__, self.name)


class _nullcontext(object):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
