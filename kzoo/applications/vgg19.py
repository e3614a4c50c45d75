"""``VGG19`` and its preprocessing (Keras path: ``keras.applications.vgg19``)."""
from kzoo.registry.vgg import VGG19, preprocess_input, decode_predictions  # noqa: F401

__all__ = ['VGG19', 'preprocess_input', 'decode_predictions']
