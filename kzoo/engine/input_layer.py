"""``Input`` and ``InputLayer``: where a graph starts."""
from kzoo import backend as K
from kzoo.engine.base_layer import Layer, register_layer, shape_tuple, unique_name
from kzoo.engine.node import KTensor, Node
from kzoo.errors import ConfigError


@register_layer()
class InputLayer(Layer):
    """The layer behind :func:`Input`; it owns the graph's input tensor."""

    def __init__(self, input_shape=None, batch_size=None, batch_input_shape=None, dtype=None,
                 input_tensor=None, sparse=False, name=None, batch_shape=None, ragged=False,
                 input_dtype=None, **kwargs):
        kwargs.pop('optional', None)  # Keras 3 fields with no meaning here
        kwargs.pop('trainable', None)
        if batch_shape is not None:
            batch_input_shape = batch_shape
        if batch_input_shape is None:
            if input_shape is None:
                raise ConfigError('InputLayer %r needs input_shape or batch_input_shape'
                                  % (name,))
            batch_input_shape = (batch_size,) + tuple(input_shape)
        Layer.__init__(self, name=name or unique_name('input'), dtype=dtype or input_dtype,
                       batch_input_shape=batch_input_shape, **kwargs)
        self.sparse = sparse
        self.built = True
        tensor = KTensor(self._batch_input_shape, self.dtype, name=self.name)
        tensor._keras_history = (self, 0, 0)
        Node(self, [], [], [], [tensor], [tensor], [tensor.shape], [tensor.shape])

    def get_config(self):
        return {'batch_input_shape': self._batch_input_shape, 'dtype': self.dtype,
                'sparse': self.sparse, 'name': self.name}


def Input(shape=None, batch_shape=None, name=None, dtype=None, sparse=False, tensor=None,
          batch_size=None):
    """A symbolic input tensor: ``x = Input(shape=(784,))``.

    >>> Input(shape=(28, 28, 1), name='image').shape
    (None, 28, 28, 1)
    """
    if shape is None and batch_shape is None:
        raise ConfigError('Input() needs shape= (without the batch axis) or batch_shape=')
    if isinstance(shape, int):
        shape = (shape,)
    layer = InputLayer(input_shape=shape, batch_input_shape=batch_shape, name=name,
                       dtype=dtype or K.floatx(), sparse=sparse, batch_size=batch_size)
    return layer._inbound_nodes[0].output_tensors[0]


__all__ = ['InputLayer', 'Input', 'shape_tuple']
