"""``ResNet50`` and its preprocessing (Keras path: ``keras.applications.resnet50``)."""
from kzoo.registry.resnet import ResNet50, preprocess_input, decode_predictions  # noqa: F401

__all__ = ['ResNet50', 'preprocess_input', 'decode_predictions']
