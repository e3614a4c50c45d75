"""Applications and their weight cards.

An :class:`Application` is a builder (``VGG16(include_top=True, weights='imagenet',
...)``) plus the facts a user needs to pick and trust its weights: one
:class:`WeightCard` per published file. Cards are data, not code: file name, URLs,
hash, the kernel convention and data format the file was written in, input size,
preprocessing mode and parameter count.

>>> from kzoo.registry import get_application
>>> get_application('VGG16').card('imagenet', include_top=False).file_name
'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5'
"""
import dataclasses
from typing import Callable, Optional, Tuple

from kzoo.errors import ConfigError
from kzoo.utils.generic_utils import Registry

APPLICATIONS = Registry('application')


@dataclasses.dataclass(frozen=True)
class WeightCard:
    """One published weight file and how to read it."""
    weights: str                 # the name users pass as weights=..., e.g. 'imagenet'
    include_top: bool
    file_name: str
    urls: Tuple[str, ...]        # tried in order (mirrors after the primary)
    file_hash: str               # md5 (32 hex) or sha256 (64 hex)
    parameters: int
    kernels: str = 'tensorflow'  # 'tensorflow' (cross-correlation) or 'theano' (flipped)
    data_format: str = 'channels_last'
    cache_subdir: str = 'models'
    # The graph the file's weights fit: 'keras2' (today's applications) or 'keras1' (the
    # deep-learning-models v0.2 graphs of Keras 1, e.g. InceptionV3's conv-ReLU-BN).
    architecture: str = 'keras2'

    @property
    def download_mb(self):
        # float32 weights dominate the file size
        return self.parameters * 4 / 2 ** 20


@dataclasses.dataclass(frozen=True)
class Application:
    """A zoo entry: builder, default input size, preprocessing mode, cards."""
    name: str
    builder: Callable
    input_size: int
    preprocessing: str           # 'caffe', 'tf' or 'torch' (see registry.imagenet)
    module: str                  # kzoo.applications.<module>
    cards: Tuple[WeightCard, ...] = ()
    notes: str = ''

    def card(self, weights='imagenet', include_top=True, data_format='channels_last'):
        """The card for ``weights``/``include_top``, preferring ``data_format`` files."""
        matches = [c for c in self.cards if c.weights == weights and c.include_top == include_top]
        if not matches:
            raise ConfigError('%s has no %r weights%s; known: %s' % (
                self.name, weights, '' if include_top else ' without top',
                ', '.join(sorted({c.weights for c in self.cards})) or 'none'))
        preferred = [c for c in matches if c.data_format == data_format
                     and c.kernels == 'tensorflow']
        return (preferred or matches)[0]

    @property
    def weights_names(self):
        """The names users can pass as ``weights=`` (``'imagenet'``, ...)."""
        return tuple(dict.fromkeys(c.weights for c in self.cards))

    def card_for_file(self, path):
        """The card whose published file name ``path`` has, or None."""
        import os
        base = os.path.basename(os.fspath(path))
        return next((c for c in self.cards if c.file_name == base), None)

    @property
    def parameters(self):
        tops = [c.parameters for c in self.cards if c.include_top]
        return tops[0] if tops else None


def register_application(application):
    """Add an application to the zoo (a duplicate name is refused)."""
    APPLICATIONS.add(application.name, application)
    return application


def register_card(application_name, card):
    """Add ``card`` to an application, ahead of its published cards (private mirrors,
    fine-tuned weights, tests). Returns the updated application."""
    app = get_application(application_name)
    updated = dataclasses.replace(app, cards=(card,) + tuple(app.cards))
    APPLICATIONS.replace(app.name, updated)
    return updated


def get_application(name):
    """The application called ``name`` (case-insensitive), or a clear error."""
    for known in APPLICATIONS.names():
        if known.lower() == str(name).lower():
            return APPLICATIONS.get(known)
    raise ConfigError('unknown application %r; kzoo has: %s'
                      % (name, ', '.join(APPLICATIONS.names())))


def applications():
    return [APPLICATIONS.get(n) for n in APPLICATIONS.names()]


__all__ = ['Application', 'WeightCard', 'register_application', 'get_application',
           'applications', 'register_card', 'APPLICATIONS', 'Optional']
