"""``Sequential``: a linear stack of layers.

>>> import numpy as np
>>> from kzoo.layers import Dense
>>> model = Sequential([Dense(4, input_dim=3), Dense(1)])
>>> model.predict(np.zeros((2, 3))).shape
(2, 1)
"""
from kzoo.engine.base_layer import Layer, register_layer
from kzoo.engine.input_layer import Input, InputLayer
from kzoo.engine.training import Model
from kzoo.errors import ConfigError


@register_layer()
class Sequential(Model):

    def __init__(self, layers=None, name=None, **kwargs):
        Model.__init__(self, name=name, **kwargs)
        self._stack = []          # layers added by the user, in order
        self.inputs, self.outputs = [], []
        self._layers, self._nodes_by_depth, self._layers_by_depth = [], {}, {}
        self.built = False
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        # Like Keras, the automatic InputLayer at the bottom is not listed.
        return [l for l in self._stack if not isinstance(l, InputLayer)]

    @property
    def flattened_layers(self):
        """Keras 1: the layers with a first ``Merge``'s branches expanded, in the order
        Keras 1 saved their weights."""
        out = []
        for layer in self.layers:
            branches = getattr(layer, 'layers', None) if not isinstance(layer, Model) else None
            for sub in (branches or [layer]):
                for flat in getattr(sub, 'flattened_layers', None) or [sub]:
                    if flat not in out:
                        out.append(flat)
        return out

    def add(self, layer):
        """Append ``layer``; the graph is connected as soon as the input shape is known."""
        if not isinstance(layer, Layer):
            raise ConfigError('Sequential.add() takes a layer, got %r' % (layer,))
        if any(l.name == layer.name for l in self._stack):
            raise ConfigError('Sequential model %r already has a layer named %r'
                              % (self.name, layer.name))
        if not self._stack and layer._inbound_nodes and layer._batch_input_shape is None \
                and not isinstance(layer, (InputLayer, Model)):
            # Keras 1/2.0: a first layer already connected (a Merge of Sequential branches)
            # brings its own output, and the model's inputs are that output's sources.
            if len(layer._inbound_nodes) != 1 or len(layer._inbound_nodes[0].output_tensors) != 1:
                raise ConfigError('layer %r is connected in several places; it cannot start '
                                  'Sequential model %r' % (layer.name, self.name))
            from kzoo.engine.network import get_source_inputs
            output = layer._inbound_nodes[0].output_tensors[0]
            self._preconnected = (layer, get_source_inputs(output), output)
        self._stack.append(layer)
        self._connect()

    def pop(self):
        """Remove the last layer."""
        if not self.layers:
            raise ConfigError('Sequential model %r has no layers to pop' % self.name)
        self._stack.pop()
        self._connect()

    def _input_tensor(self):
        first = self._stack[0]
        if isinstance(first, InputLayer):
            return first._inbound_nodes[0].output_tensors[0]
        if isinstance(first, Model) and getattr(first, 'inputs', None):
            shape, dtype = first.inputs[0].shape, first.inputs[0].dtype
        elif first._batch_input_shape is not None:
            shape, dtype = first._batch_input_shape, first.dtype
        else:
            return None
        return Input(batch_shape=shape, dtype=dtype, name=first.name + '_input')

    def _connect(self):
        """(Re)build the graph from the stack; layers are reused, never re-created."""
        self.inputs, self.outputs, self.built = [], [], False
        if not self._stack:
            return
        stack = self._stack
        if self._is_preconnected(self._stack[0]):
            _, inputs, x = self._preconnected
            stack = self._stack[1:]
        else:
            x = self._inputs_cache if self._stack_head_is(self._stack[0]) else None
            if x is None:
                x = self._input_tensor()
                self._inputs_cache, self._head = x, self._stack[0]
            if x is None:
                return  # input shape still unknown: connect on build() or the first predict()
            inputs = x
        for layer in stack:
            if isinstance(layer, InputLayer):
                continue
            x = self._call_once(layer, x)
            if isinstance(x, list):
                raise ConfigError('layer %r in Sequential model %r has several outputs; use '
                                  'the functional API' % (layer.name, self.name))
        self._init_graph(inputs, x)

    def _is_preconnected(self, layer):
        return getattr(self, '_preconnected', (None,))[0] is layer

    def _stack_head_is(self, layer):
        return getattr(self, '_head', None) is layer and getattr(self, '_inputs_cache', None)

    def _call_once(self, layer, x):
        # Re-connecting after add()/pop() must not add a new node per layer each time.
        for node in layer._inbound_nodes:
            if len(node.input_tensors) == 1 and node.input_tensors[0] is x:
                return node.output_tensors[0] if len(node.output_tensors) == 1 \
                    else node.output_tensors
        return layer(x)

    def build(self, input_shape=None):
        if self.inputs:
            return
        if input_shape is None or not self._stack:
            raise ConfigError('Sequential model %r cannot be built without an input shape'
                              % self.name)
        first = self._stack[0]
        self._inputs_cache = Input(batch_shape=tuple(input_shape), dtype=first.dtype,
                                   name=first.name + '_input')
        self._head = first
        self._connect()

    def _ensure_graph(self, arrays):
        if not self.inputs:
            self.build((None,) + tuple(arrays[0].shape[1:]))

    def get_config(self):
        """Keras 2.2+ layout: ``{'name': ..., 'layers': [...]}``; the first layer carries
        ``batch_input_shape`` so the model can be rebuilt."""
        configs = []
        for i, layer in enumerate(self.layers):
            config = layer.get_config()
            if i == 0 and self.inputs and 'batch_input_shape' not in config \
                    and not isinstance(layer, Model) and not self._is_preconnected(layer):
                config['batch_input_shape'] = tuple(self.inputs[0].shape)
            configs.append({'class_name': type(layer).__name__, 'config': config})
        return {'name': self.name, 'layers': configs}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from kzoo.engine.network import deserialize_layer
        if isinstance(config, list):  # Keras 1 and 2.0/2.1 wrote a bare list
            name, layer_configs = None, config
        elif isinstance(config, dict) and isinstance(config.get('layers'), list):
            name, layer_configs = config.get('name'), config['layers']
        else:
            raise ConfigError('a Sequential config must be a list of layers or a dict with '
                              '"layers", got %.200r' % (config,))
        model = cls(name=name)
        for layer_config in layer_configs:
            model.add(deserialize_layer(layer_config, custom_objects))
        return model
