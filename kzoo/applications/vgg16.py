"""``VGG16`` and its preprocessing (Keras path: ``keras.applications.vgg16``)."""
from kzoo.registry.vgg import VGG16, preprocess_input, decode_predictions  # noqa: F401

__all__ = ['VGG16', 'preprocess_input', 'decode_predictions']
