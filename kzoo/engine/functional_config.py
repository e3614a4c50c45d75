"""Rebuild a functional graph from its config (Keras 1, 2 and 3 layouts).

Inbound nodes come in three spellings:

- Keras 1/2: ``[[layer_name, node_index, tensor_index(, kwargs)], ...]`` per node;
- Keras 3: ``{'args': [<__keras_tensor__ with keras_history>...], 'kwargs': {...}}``.

Layers are created first, then their nodes are applied in order; a node whose inputs
do not exist yet waits for a later pass (shared layers make that order matter).
"""
from kzoo.errors import ConfigError


def _history(item, layer_name):
    """``(name, node_index, tensor_index, kwargs)`` from any spelling of one input."""
    if isinstance(item, dict) and item.get('class_name') == '__keras_tensor__':
        history = item.get('config', {}).get('keras_history')
        if not isinstance(history, (list, tuple)) or len(history) != 3:
            raise ConfigError('layer %r: malformed keras_history %r' % (layer_name, history))
        return history[0], history[1], history[2], {}
    if isinstance(item, (list, tuple)) and len(item) in (3, 4):
        kwargs = item[3] if len(item) == 4 and isinstance(item[3], dict) else {}
        return item[0], item[1], item[2], kwargs
    raise ConfigError('layer %r: cannot read inbound node entry %.200r' % (layer_name, item))


def _flatten_args(args):
    out = []
    for a in args:
        if isinstance(a, (list, tuple)) and a and not (
                isinstance(a, dict) or isinstance(a[0], str)):
            out.extend(_flatten_args(a))
        else:
            out.append(a)
    return out


def to_list_arg(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def parse_node(node_data, layer_name):
    """List of input coordinates and the call kwargs of one inbound node."""
    if isinstance(node_data, dict):  # Keras 3
        args = node_data.get('args', [])
        kwargs = dict(node_data.get('kwargs') or {})
        entries = [_history(a, layer_name) for a in _flatten_args(args)
                   if isinstance(a, dict) and a.get('class_name') == '__keras_tensor__']
        # keep only plain call arguments we understand (masks are recomputed)
        kwargs.pop('mask', None)
        # An RNN's initial states are extra inputs after the sequence (Keras 2 layout).
        states = kwargs.pop('initial_state', None) or []
        entries += [_history(a, layer_name) for a in _flatten_args(to_list_arg(states))
                    if isinstance(a, dict) and a.get('class_name') == '__keras_tensor__']
        kwargs = {k: v for k, v in kwargs.items()
                  if not (isinstance(v, dict) and v.get('class_name') == '__keras_tensor__')}
        return [e[:3] for e in entries], kwargs
    if not isinstance(node_data, (list, tuple)):
        raise ConfigError('layer %r: inbound node must be a list, got %.200r'
                          % (layer_name, node_data))
    entries = [_history(item, layer_name) for item in node_data]
    kwargs = {}
    for e in entries:
        kwargs.update(e[3])
    kwargs.pop('mask', None)
    return [e[:3] for e in entries], kwargs


def _coordinates(value, field):
    """``input_layers`` may be one ``[name, i, j]`` (Keras 3) or a list of them."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError('model config field %r must be a list, got %.200r' % (field, value))
    if len(value) == 3 and isinstance(value[0], str):
        return [value]
    return [list(v) for v in value]


def build_graph_from_config(config, custom_objects=None):
    """Create layers and connect them; returns ``(inputs, outputs, name)``."""
    from kzoo.engine.network import deserialize_layer, skips_first_node
    if not isinstance(config, dict) or not isinstance(config.get('layers'), list):
        raise ConfigError('a functional model config needs a "layers" list')
    created = {}
    pending = []
    for layer_data in config['layers']:
        if not isinstance(layer_data, dict):
            raise ConfigError('model layer entry must be a dict, got %.200r' % (layer_data,))
        layer = deserialize_layer(layer_data, custom_objects)
        name = layer_data.get('name') or (layer_data.get('config') or {}).get('name') or layer.name
        if name in created:
            raise ConfigError('model config has two layers named %r' % name)
        created[name] = layer
        nodes = layer_data.get('inbound_nodes') or []
        if not isinstance(nodes, list):
            raise ConfigError('layer %r: inbound_nodes must be a list' % name)
        for node_data in nodes:
            # Keras 3 node args hold raw node indices; Keras 1/2 lists count a nested
            # model's nodes from 1 (see network.skips_first_node).
            pending.append((layer, parse_node(node_data, name) + (isinstance(node_data, dict),)))

    # Apply nodes in order; one that waits for a later node is retried on the next pass.
    while pending:
        waiting = []
        for layer, (coords, kwargs, raw) in pending:
            if waiting and waiting[-1][0] is layer:
                waiting.append((layer, (coords, kwargs, raw)))  # keep a layer's nodes in order
                continue
            tensors = []
            for in_name, node_index, tensor_index in coords:
                if in_name not in created:
                    raise ConfigError('layer %r takes input from unknown layer %r'
                                      % (layer.name, in_name))
                inbound = created[in_name]
                if not isinstance(node_index, int) or not isinstance(tensor_index, int):
                    raise ConfigError('layer %r: node and tensor indices must be integers'
                                      % layer.name)
                if not raw and skips_first_node(inbound):
                    node_index -= 1
                if node_index < 0:
                    raise ConfigError('layer %r: input from node %r of %r, which does not exist'
                                      % (layer.name, coords, in_name))
                if node_index >= len(inbound._inbound_nodes):
                    tensors = None
                    break
                outputs = inbound._inbound_nodes[node_index].output_tensors
                if not 0 <= tensor_index < len(outputs):
                    raise ConfigError('layer %r: layer %r has no output %d'
                                      % (layer.name, in_name, tensor_index))
                tensors.append(outputs[tensor_index])
            if tensors is None:
                waiting.append((layer, (coords, kwargs, raw)))
                continue
            if tensors:
                layer(tensors[0] if len(tensors) == 1 else tensors, **kwargs)
        if len(waiting) == len(pending):
            raise ConfigError('model config cannot be connected: layers %s wait for inputs that '
                              'never appear (a cycle or a missing node)'
                              % sorted({l.name for l, _ in waiting}))
        pending = waiting

    def tensors_for(field):
        result = []
        for coord in _coordinates(config.get(field, []), field):
            if len(coord) != 3 or coord[0] not in created:
                raise ConfigError('model config %s names unknown layer %r' % (field, coord))
            layer = created[coord[0]]
            try:
                index = coord[1] - 1 if skips_first_node(layer) else coord[1]
                if index < 0:
                    raise IndexError(index)
                result.append(layer._inbound_nodes[index].output_tensors[coord[2]])
            except (IndexError, TypeError):
                raise ConfigError('model config %s: layer %r has no node %r / tensor %r'
                                  % (field, coord[0], coord[1], coord[2])) from None
        return result

    return tensors_for('input_layers'), tensors_for('output_layers'), config.get('name')
