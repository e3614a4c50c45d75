"""Models and their (de)serialization: ``Sequential``, ``Model``, ``model_from_config``."""
from kzoo.engine.network import deserialize_layer
from kzoo.engine.sequential import Sequential
from kzoo.engine.training import Model
from kzoo.engine.network import Container

__all__ = ['Sequential', 'Model', 'Container', 'model_from_config']


def model_from_config(config, custom_objects=None):
    """A model (or layer) from ``{'class_name': ..., 'config': ...}``."""
    return deserialize_layer(config, custom_objects)
