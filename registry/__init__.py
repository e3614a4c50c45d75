"""The zoo: applications registered with their weight cards (installed as kzoo.registry).

>>> from kzoo.registry import get_application
>>> get_application('resnet50').input_size
224
"""
from kzoo.registry.base import (Application, WeightCard, APPLICATIONS,  # noqa: F401
                                register_application, register_card, get_application,
                                applications)
from kzoo.registry import vgg, resnet, inception_v3  # noqa: F401,E402  (register themselves)
from kzoo.registry.vgg import VGG16, VGG19  # noqa: F401,E402
from kzoo.registry.resnet import ResNet50  # noqa: F401,E402
from kzoo.registry.inception_v3 import InceptionV3  # noqa: F401,E402
