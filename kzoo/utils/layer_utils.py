"""``print_summary`` (Keras's table) and whole-model kernel conversions."""
import numpy as np

from kzoo import backend as K


def count_params(weights):
    return int(sum(np.prod(K.int_shape(w)) for w in weights))


def _is_sequential_like(model):
    if type(model).__name__ == 'Sequential':
        return True
    relevant = []
    for nodes in model.nodes_by_depth.values():
        if len(nodes) > 1 or (len(nodes) == 1 and len(nodes[0].inbound_layers) > 1):
            return False
        relevant.extend(nodes)
    # As Keras 2: a layer called twice (a shared layer) is not sequential-like either.
    return all(sum(1 for n in layer._inbound_nodes if n in relevant) <= 1
               for layer in model.layers)


def print_summary(model, line_length=None, positions=None, print_fn=None):
    """Print Keras's summary table: layer (type), output shape, param #, connected to."""
    print_fn = print_fn or print
    if _is_sequential_like(model):
        line_length = line_length or 65
        positions = positions or [.45, .85, 1.]
        headers = ['Layer (type)', 'Output Shape', 'Param #']
    else:
        line_length = line_length or 98
        positions = positions or [.33, .55, .67, 1.]
        headers = ['Layer (type)', 'Output Shape', 'Param #', 'Connected to']
    positions = [int(line_length * p) if p <= 1 else int(p) for p in positions]
    relevant = set()
    for nodes in model.nodes_by_depth.values():
        relevant.update(nodes)

    def row(fields):
        line = ''
        for i, field in enumerate(fields):
            line = (line + ' ' if i else line) + str(field)
            line = line[:positions[i]].ljust(positions[i])
        print_fn(line.rstrip())

    print_fn('Model: "%s"' % model.name)
    print_fn('_' * line_length)
    row(headers)
    print_fn('=' * line_length)
    layers = model.layers
    for i, layer in enumerate(layers):
        try:
            shape = layer.output_shape
        except Exception:
            shape = 'multiple'
        fields = ['%s (%s)' % (layer.name, type(layer).__name__), shape,
                  layer.count_params() if layer.built else 0]
        if len(headers) == 4:
            connections = []
            for node in layer._inbound_nodes:
                if node not in relevant:
                    continue
                for l, n, t in zip(node.inbound_layers, node.node_indices, node.tensor_indices):
                    connections.append('%s[%d][%d]' % (l.name, n, t))
            row(fields + [connections[0] if connections else ''])
            for extra in connections[1:]:
                row(['', '', '', extra])
        else:
            row(fields)
        print_fn(('=' if i == len(layers) - 1 else '_') * line_length)
    trainable = count_params(model.trainable_weights)
    total = count_params(model.weights)
    print_fn('Total params: {:,}'.format(total))
    print_fn('Trainable params: {:,}'.format(trainable))
    print_fn('Non-trainable params: {:,}'.format(total - trainable))
    print_fn('_' * line_length)
