"""``InceptionV3`` and its preprocessing (Keras path: ``keras.applications.inception_v3``)."""
from kzoo.registry.inception_v3 import InceptionV3, preprocess_input, decode_predictions  # noqa: F401

__all__ = ['InceptionV3', 'preprocess_input', 'decode_predictions']
