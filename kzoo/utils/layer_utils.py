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


# Layers whose first weight is a convolution kernel that Theano stored flipped.
_CONV_KERNEL_CLASSES = ('Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose')


def convert_all_kernels_in_model(model):
    """Flip every convolution kernel of ``model`` (Theano <-> TensorFlow), in place.

    Keras 2's function of the same name: Conv1D/2D/3D and Conv2DTranspose kernels (Keras 1
    legacy classes included) have their spatial axes reversed with
    :func:`kzoo.utils.np_utils.convert_kernel`. Applying it twice restores the model.
    """
    from kzoo.utils.np_utils import convert_kernel
    pairs = []
    for layer in _all_layers(model):
        names = {cls.__name__ for cls in type(layer).__mro__}
        if names.intersection(_CONV_KERNEL_CLASSES) and layer.weights:
            kernel = layer.weights[0]
            pairs.append((kernel, convert_kernel(K.get_value(kernel))))
    K.batch_set_value(pairs)


def _all_layers(model):
    """Every layer of ``model``, descending into nested models and wrappers."""
    out, stack, seen = [], [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(getattr(layer, 'layers', None) or [])
        for attr in ('layer', 'forward_layer', 'backward_layer'):
            inner = getattr(layer, attr, None)
            if inner is not None and hasattr(inner, 'weights'):
                stack.append(inner)
    return out
