"""The layer engine: layers, symbolic tensors and nodes, inputs, containers and models."""
from kzoo.engine.base_layer import Layer, LAYERS, register_layer, clear_session  # noqa: F401
from kzoo.engine.node import KTensor, Node, TensorShape  # noqa: F401
from kzoo.engine.input_layer import InputLayer, Input  # noqa: F401
from kzoo.engine.network import Container  # noqa: F401
from kzoo.engine.training import Model  # noqa: F401
