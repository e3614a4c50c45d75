"""Keras-compatible import path for the zoo: ``from kzoo.applications import VGG16``.

Each model also has a module with its preprocessing, as in Keras:
``kzoo.applications.vgg16.preprocess_input``, ``...inception_v3.decode_predictions``.
"""
from kzoo.registry import VGG16, VGG19, ResNet50, InceptionV3  # noqa: F401
from kzoo.applications import vgg16, vgg19, resnet50, inception_v3  # noqa: F401

__all__ = ['VGG16', 'VGG19', 'ResNet50', 'InceptionV3']
