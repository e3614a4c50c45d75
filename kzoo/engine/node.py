"""Symbolic tensors and the nodes that connect layers into a graph.

Calling a layer on :class:`KTensor` objects records a :class:`Node` on that layer (its
``inbound_nodes``) and returns new symbolic tensors whose ``_keras_history`` points
back at it: ``(layer, node_index, tensor_index)``, as in Keras.
"""


class TensorShape(tuple):
    """A shape tuple (``None`` for unknown dimensions) with TensorFlow's ``as_list()``."""

    def as_list(self):
        return list(self)

    @property
    def ndims(self):
        return len(self)

    @property
    def dims(self):
        return list(self)


class KTensor(object):
    """A symbolic tensor: a shape, a dtype and the layer call that produced it.

    >>> from kzoo.layers import Input
    >>> x = Input(shape=(3,))
    >>> x.shape, x.get_shape().as_list()
    ((None, 3), [None, 3])
    """

    def __init__(self, shape, dtype, name=None):
        self.shape = TensorShape(None if d is None else int(d) for d in shape)
        self.dtype = dtype
        self.name = name
        self._keras_history = None

    @property
    def _keras_shape(self):  # seed-era attribute
        return self.shape

    @property
    def ndim(self):
        return len(self.shape)

    def get_shape(self):
        return self.shape

    def __repr__(self):
        return '<KTensor %s shape=%s dtype=%s>' % (self.name, tuple(self.shape), self.dtype)

    def __bool__(self):
        return True

    def __len__(self):
        raise TypeError('a symbolic tensor has no length; use .shape')

    def __iter__(self):
        raise TypeError('a symbolic tensor cannot be iterated; call layers on it instead')


class Node(object):
    """One call of ``outbound_layer`` on tensors produced by ``inbound_layers``."""

    def __init__(self, outbound_layer, inbound_layers, node_indices, tensor_indices,
                 input_tensors, output_tensors, input_shapes, output_shapes, arguments=None):
        self.outbound_layer = outbound_layer
        self.inbound_layers = list(inbound_layers)
        self.node_indices = list(node_indices)
        self.tensor_indices = list(tensor_indices)
        self.input_tensors = list(input_tensors)
        self.output_tensors = list(output_tensors)
        self.input_shapes = list(input_shapes)
        self.output_shapes = list(output_shapes)
        self.arguments = dict(arguments or {})
        for layer in self.inbound_layers:
            if layer is not None:
                layer._outbound_nodes.append(self)
        outbound_layer._inbound_nodes.append(self)

    @property
    def index(self):
        return self.outbound_layer._inbound_nodes.index(self)

    def __repr__(self):
        return '<Node %s[%d] <- %s>' % (self.outbound_layer.name, self.index,
                                         [l.name for l in self.inbound_layers])
