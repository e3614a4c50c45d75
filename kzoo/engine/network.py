"""``Container``: a graph of layers from input tensors to output tensors.

A container is itself a layer, so a model can be called on new inputs inside another
model. The graph is walked once at construction (iteratively, so deep graphs cannot
overflow the stack) into an execution plan ordered by depth, as Keras orders it.
"""
import collections

from kzoo import backend as K
from kzoo.engine.base_layer import Layer, LAYERS, register_layer, to_list, unpack_singleton
from kzoo.engine.input_layer import InputLayer
from kzoo.engine.node import KTensor
from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import CustomObjectScope, deserialize_object


def _node_key(layer, node_index):
    return '%s_ib-%d' % (layer.name, node_index)


def _walk(outputs):
    """Nodes reachable from ``outputs`` in post-order, and first-visit layer order.

    Mirrors Keras's recursive ``build_map`` with an explicit stack; a node met again
    while it is being expanded means the graph has a cycle.
    """
    finished, in_progress = set(), set()
    ordered_nodes, layer_indices = [], {}
    for tensor in outputs:
        layer, node_index, _ = tensor._keras_history
        stack = [(layer._inbound_nodes[node_index], None)]
        while stack:
            node, children = stack.pop()
            if children is None:
                if node in finished:
                    continue
                if node in in_progress:
                    raise ConfigError('the graph has a cycle through layer %r'
                                      % node.outbound_layer.name)
                layer_indices.setdefault(node.outbound_layer, len(layer_indices))
                in_progress.add(node)
                children = iter([l._inbound_nodes[i] for l, i in
                                 zip(node.inbound_layers, node.node_indices)])
            child = next(children, None)
            if child is None:
                finished.add(node)
                in_progress.discard(node)
                ordered_nodes.append(node)
                continue
            stack.append((node, children))
            if child not in finished:
                if child in in_progress:
                    raise ConfigError('the graph has a cycle through layer %r'
                                      % child.outbound_layer.name)
                stack.append((child, None))
    return ordered_nodes, layer_indices


def skips_first_node(layer):
    """True for a nested model whose config node indices count from 1, as in Keras 2
    (``_should_skip_first_node``): a functional model, or a Sequential that is connected."""
    return isinstance(layer, Container) and bool(getattr(layer, 'inputs', None))


def get_source_inputs(tensor):
    """The ``Input()`` tensors that ``tensor`` is computed from, in Keras's order."""
    ordered_nodes, _ = _walk(to_list(tensor))
    return [n.output_tensors[0] for n in ordered_nodes if not n.inbound_layers]


@register_layer()
class Container(Layer):
    """A directed acyclic graph of layers (the seed's ``Container``; Keras's Network).

    >>> from kzoo.layers import Input, Dense
    >>> x = Input(shape=(4,))
    >>> net = Container(x, Dense(2)(x), name='tiny')
    >>> [layer.name for layer in net.layers][0].startswith('input')
    True
    """

    def __init__(self, inputs=None, outputs=None, name=None, input=None, output=None,
                 **kwargs):
        # Keras 1 spelled these Model(input=..., output=...).
        inputs = input if inputs is None else inputs
        outputs = output if outputs is None else outputs
        Layer.__init__(self, name=name, **kwargs)
        self.supports_masking = True
        if inputs is not None and outputs is not None:
            self._init_graph(inputs, outputs)

    # ---- graph construction -------------------------------------------------------

    def _init_graph(self, inputs, outputs):
        inputs, outputs = to_list(inputs), to_list(outputs)
        for where, tensors in (('inputs', inputs), ('outputs', outputs)):
            for x in tensors:
                if not isinstance(x, KTensor) or x._keras_history is None:
                    raise ConfigError('model %r: %s must be symbolic tensors from Input() '
                                      'or layer calls, got %r' % (self.name, where, x))
        self.inputs, self.outputs = inputs, outputs
        self._input_coordinates = [x._keras_history for x in inputs]
        self._output_coordinates = [x._keras_history for x in outputs]
        self.input_layers = [c[0] for c in self._input_coordinates]
        self.output_layers = [c[0] for c in self._output_coordinates]
        for layer in self.input_layers:
            if not isinstance(layer, InputLayer):
                raise ConfigError('model %r: input tensors must come from Input(); %r comes '
                                  'from layer %r' % (self.name, layer.name, layer.name))

        ordered_nodes, layer_indices = _walk(outputs)
        node_depths, layer_depths = {}, {}
        for node in reversed(ordered_nodes):
            depth = max(node_depths.setdefault(node, 0),
                        layer_depths.get(node.outbound_layer, 0))
            layer_depths[node.outbound_layer] = depth
            node_depths[node] = depth
            for layer, index in zip(node.inbound_layers, node.node_indices):
                inbound = layer._inbound_nodes[index]
                node_depths[inbound] = max(depth + 1, node_depths.get(inbound, 0))

        nodes_by_depth = collections.defaultdict(list)
        for node, depth in node_depths.items():
            nodes_by_depth[depth].append(node)
        layers_by_depth = collections.defaultdict(list)
        for layer, depth in layer_depths.items():
            layers_by_depth[depth].append(layer)
        layers = []
        for depth in sorted(layers_by_depth, reverse=True):
            layers_by_depth[depth].sort(key=lambda l: layer_indices[l])
            layers.extend(layers_by_depth[depth])
        self._nodes_by_depth = dict(nodes_by_depth)
        self._layers_by_depth = dict(layers_by_depth)
        self._layers = layers
        self._network_nodes = {_node_key(n.outbound_layer, n.index) for n in node_depths}
        # Execution plan: deepest nodes first, so every input is ready when needed.
        self._plan = [n for d in sorted(nodes_by_depth, reverse=True)
                      for n in nodes_by_depth[d] if n.inbound_layers]

        names = [l.name for l in layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError('model %r: layer names must be unique; %s appear more than once'
                              % (self.name, ', '.join(repr(n) for n in duplicates)))
        for x in inputs:
            if x not in [t for n in node_depths for t in n.output_tensors]:
                raise ConfigError('model %r: input %r is not connected to the outputs'
                                  % (self.name, x.name))
        known = {id(t) for layer in self.input_layers for t in
                 layer._inbound_nodes[0].output_tensors}
        for node in self._plan:
            for t in node.input_tensors:
                if id(t) not in known:
                    raise ConfigError(
                        'model %r: graph disconnected: layer %r needs tensor %r, which does not '
                        'come from the model inputs %s' % (
                            self.name, node.outbound_layer.name, t.name,
                            [l.name for l in self.input_layers]))
            known.update(id(t) for t in node.output_tensors)
        self.built = True

    # ---- inspection --------------------------------------------------------------------

    @property
    def layers(self):
        return list(self._layers)

    @property
    def layers_by_depth(self):
        return self._layers_by_depth

    @property
    def nodes_by_depth(self):
        return self._nodes_by_depth

    @property
    def input_names(self):
        return [layer.name for layer in self.input_layers]

    @property
    def output_names(self):
        return [layer.name for layer in self.output_layers]

    @property
    def input(self):
        return unpack_singleton(list(self.inputs))

    @property
    def output(self):
        return unpack_singleton(list(self.outputs))

    @property
    def input_shape(self):
        return unpack_singleton([x.shape for x in self.inputs])

    @property
    def output_shape(self):
        return unpack_singleton([x.shape for x in self.outputs])

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in ``layers``; the error lists what exists."""
        if index is not None:
            if name is not None:
                raise ConfigError('get_layer takes a name or an index, not both')
            if not -len(self.layers) <= index < len(self.layers):
                raise ConfigError('model %r has %d layers; index %d is out of range'
                                  % (self.name, len(self.layers), index))
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ConfigError('model %r has no layer named %r; its layers are: %s'
                          % (self.name, name, ', '.join(l.name for l in self.layers)))

    def _ordered_specs(self):
        specs, seen = [], set()
        for layer in self.layers:
            for spec in layer._ordered_specs():
                if id(spec.variable) not in seen:
                    seen.add(id(spec.variable))
                    specs.append(spec)
        return specs

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        out, seen = [], set()
        for layer in self.layers:
            for w in layer.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def weights(self):
        return [s.variable for s in self._ordered_specs()]

    def get_weights(self):
        return K.batch_get_value(self.weights)

    def set_weights(self, weights):
        weights = list(weights)
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ConfigError('model %r expects %d weight arrays, but %d were given'
                              % (self.name, expected, len(weights)))
        for layer in self.layers:
            n = len(layer.weights)
            if n:
                layer.set_weights(weights[:n])
                weights = weights[n:]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, line_length=None, positions=None, print_fn=None):
        from kzoo.utils.layer_utils import print_summary
        return print_summary(self, line_length=line_length, positions=positions,
                             print_fn=print_fn)

    # ---- files (the work is done in kzoo.converters) -----------------------------------

    def save(self, filepath, overwrite=True, include_optimizer=True):
        """``.keras`` -> Keras 3 archive; other names -> legacy HDF5 (Keras 2 layout)."""
        from kzoo.converters import formats
        formats.save_model(self, filepath, overwrite, include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """``*.weights.h5`` -> Keras 3 layout; other names -> legacy weights layout."""
        from kzoo.converters import formats
        formats.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False):
        """Weights from a legacy or Keras 3 weights file (or a whole-model file)."""
        from kzoo.converters import formats
        return formats.load_weights(self, filepath, by_name, skip_mismatch)

    def to_json(self, **kwargs):
        from kzoo.converters.text_config import to_json
        return to_json(self, **kwargs)

    def to_yaml(self, **kwargs):
        from kzoo.converters.text_config import to_yaml
        return to_yaml(self, **kwargs)

    # ---- computation -------------------------------------------------------------------

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, mask=None, training=False):
        outputs, _ = self._run_graph(to_list(inputs), mask, training)
        return unpack_singleton(outputs)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in to_list(mask)):
            return None
        _, masks = self._run_graph(to_list(inputs), mask, False)
        return unpack_singleton(masks)

    def _run_graph(self, inputs, masks=None, training=False):
        """Execute the plan on backend tensors; returns (outputs, output masks)."""
        if len(inputs) != len(self.inputs):
            raise ConfigError('model %r expects %d inputs, but got %d'
                              % (self.name, len(self.inputs), len(inputs)))
        masks = to_list(masks) if masks is not None else [None] * len(inputs)
        values = {}
        for x, value, mask in zip(self.inputs, inputs, masks):
            values[id(x)] = (value, mask)
        for node in self._plan:
            xs = [values[id(t)] for t in node.input_tensors]
            tensors = unpack_singleton([v for v, _ in xs])
            in_masks = [m for _, m in xs]
            in_masks = None if all(m is None for m in in_masks) else unpack_singleton(in_masks)
            out, out_mask = node.outbound_layer._run(tensors, in_masks, training, node.arguments)
            out = to_list(out)
            out_masks = to_list(out_mask) if out_mask is not None else [None] * len(out)
            for t, value, mask in zip(node.output_tensors, out, out_masks):
                values[id(t)] = (value, mask)
        results = [values[id(x)] for x in self.outputs]
        return [v for v, _ in results], [m for _, m in results]

    def compute_output_shape(self, input_shape):
        input_shapes = to_list(input_shape) if len(self.inputs) > 1 else [input_shape]
        shapes = {}
        for x, shape in zip(self.inputs, input_shapes):
            shapes[id(x)] = tuple(shape)
        for node in self._plan:
            in_shapes = unpack_singleton([shapes[id(t)] for t in node.input_tensors])
            out = node.outbound_layer.compute_output_shape(in_shapes)
            out = out if isinstance(out, list) else [out]
            for t, s in zip(node.output_tensors, out):
                shapes[id(t)] = tuple(s)
        return unpack_singleton([shapes[id(x)] for x in self.outputs])

    # ---- serialization -----------------------------------------------------------------

    def get_config(self):
        """Keras 2 functional config: layers with inbound nodes, input and output layers."""
        node_index_map = {}
        for layer in self.layers:
            # Keras 2/3 count a nested model's nodes from 1 (node 0 is the one it was
            # built with); kzoo's nested models have no such node, so shift by one.
            kept = int(skips_first_node(layer))
            for original_index, node in enumerate(layer._inbound_nodes):
                if _node_key(layer, original_index) in self._network_nodes:
                    node_index_map[(layer.name, original_index)] = kept
                    kept += 1
        layer_configs = []
        for layer in self.layers:
            inbound = []
            for original_index, node in enumerate(layer._inbound_nodes):
                if _node_key(layer, original_index) not in self._network_nodes:
                    continue
                if node.inbound_layers:
                    inbound.append([
                        [l.name, node_index_map.get((l.name, i), 0), t, node.arguments]
                        for l, i, t in zip(node.inbound_layers, node.node_indices,
                                           node.tensor_indices)])
            layer_configs.append({'name': layer.name, 'class_name': type(layer).__name__,
                                  'config': layer.get_config(), 'inbound_nodes': inbound})
        coords = lambda cs: [[l.name, node_index_map[(l.name, i)], t] for l, i, t in cs]
        return {'name': self.name, 'layers': layer_configs,
                'input_layers': coords(self._input_coordinates),
                'output_layers': coords(self._output_coordinates)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from kzoo.engine.functional_config import build_graph_from_config
        inputs, outputs, name = build_graph_from_config(config, custom_objects)
        return cls(inputs=inputs, outputs=outputs, name=name)


def deserialize_layer(config, custom_objects=None):
    """A layer from ``{'class_name': ..., 'config': ...}`` through the layer registry."""
    if not isinstance(config, dict) or 'class_name' not in config:
        raise ConfigError('a layer config must be a dict with class_name and config, got %.200r'
                          % (config,))
    layer_config = config.get('config') or {}
    name = layer_config.get('name') if isinstance(layer_config, dict) else None
    cls = LAYERS.get(config['class_name'], custom_objects, where='layer %r' % (name,))
    if isinstance(cls, type) and issubclass(cls, Container):
        # Keras 1 and 2.0/2.1 wrote a Sequential's config as a bare list of layers.
        return cls.from_config(layer_config, custom_objects=custom_objects)
    if not isinstance(layer_config, dict):
        raise ConfigError('config of layer class %r must be a dict' % config['class_name'])
    try:
        # Layers that name functions (Lambda, Merge) find custom objects through the scope.
        with CustomObjectScope(custom_objects or {}):
            return cls.from_config(dict(layer_config))
    except TypeError as e:
        raise ConfigError('cannot build layer %r (%s) from its config: %s'
                          % (layer_config.get('name'), config['class_name'], e)) from e


__all__ = ['Container', 'deserialize_layer', 'deserialize_object', 'get_source_inputs',
           'skips_first_node']
