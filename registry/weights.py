"""Fetch a card's weight file (cached, hash-verified) and load it into a model.

Keras 1 also published files for Theano (``*_th_dim_ordering_th_kernels*.h5``): kernels
flipped (true convolutions), stored ``(out, in, rows, cols)``, and Dense rows after a
Flatten in the raw channels-first order. kzoo loads them into a model of either data
format: the weights go into a channels_first twin of the model whose Flatten layers
flatten as Keras 1's did, are converted there by the Keras 1 loader, and come back to
the model through the layout conversion (:mod:`kzoo.converters.layouts`).

>>> file_layout('vgg16_weights_th_dim_ordering_th_kernels.h5')
('theano', 'channels_first')
"""
import os

from kzoo.errors import DownloadError, FileFormatError

# How Keras 1 named its Theano-layout files; used when no card describes a file.
TH_FILE_MARK = '_th_dim_ordering_th_kernels'


def fetch(card):
    """Local path of the card's file: from the cache, or downloaded and verified."""
    from kzoo.utils.data_utils import get_file
    last_error = None
    for url in card.urls:
        try:
            return get_file(card.file_name, url, file_hash=card.file_hash,
                            cache_subdir=card.cache_subdir)
        except DownloadError as e:  # includes hash mismatches: try the next mirror
            last_error = e
    raise last_error


def file_layout(path, card=None):
    """``(kernels, data_format)`` of a weight file: from its card, else from its name."""
    if card is not None:
        return card.kernels, card.data_format
    if TH_FILE_MARK in os.path.basename(os.fspath(path)):
        return 'theano', 'channels_first'
    return 'tensorflow', 'channels_last'


def load_into(model, weights, card=None):
    """Load ``weights`` into ``model``; returns the file's path.

    ``weights`` is a card (its file is fetched) or a path; ``card``, with a path, says
    how that file is laid out."""
    if hasattr(weights, 'file_name'):
        card = weights
        path = fetch(card)
    else:
        path = os.fspath(weights)
    if not os.path.exists(path):
        raise FileFormatError('weights file %s does not exist' % path)
    kernels, data_format = file_layout(path, card)
    if kernels == 'theano' or data_format == 'channels_first':
        load_keras1_layout(model, path, kernels)
    else:
        # Keras 2+ files store kernels alike for both data formats, and a channels_first
        # model's Flatten reorders its features to the channels_last order the file's
        # Dense rows read: nothing to convert.
        model.load_weights(path)
    return path


def load_keras1_layout(model, path, kernels='theano'):
    """Weights of a Keras 1 channels_first (``th``) file, into ``model`` of any format."""
    from kzoo.converters import hdf5_legacy
    from kzoo.converters.layouts import convert_data_format, model_data_format
    fmt = model_data_format(model)
    if fmt is None:  # no image layers: the layout cannot matter
        hdf5_legacy.load_weights(model, path, kernels=kernels)
        return
    channels_last = convert_data_format(model, 'channels_last')
    twin = convert_data_format(channels_last, 'channels_first', raw_flatten=True)
    hdf5_legacy.load_weights(twin, path, kernels=kernels)
    # back through channels_last: the twin's Flatten keeps Keras 1's raw order, which a
    # channels_first model of today does not use
    converted = convert_data_format(convert_data_format(twin, 'channels_last'), fmt)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(converted.get_layer(layer.name).get_weights())


def _card_for(application, weights, include_top):
    """The card ``weights=`` means: the one a published name picks, or the one whose
    file name a path has (names decide the layout: only Keras 1 wrote ``th`` files; the
    old and new ResNet50 ``tf`` files share a name, read as the current file as Keras
    does); None for None or an unpublished file."""
    if weights is None:
        return None
    if isinstance(weights, str) and weights in application.weights_names:
        return application.card(weights, include_top)
    return application.card_for_file(weights)


def load_pretrained(model, application, weights, include_top):
    """What an application builder does with ``weights=``: a published name, a path or
    None. A path with a published file's name is read as that card describes."""
    if weights is None:
        return None
    card = _card_for(application, weights, include_top)
    named = isinstance(weights, str) and weights in application.weights_names
    return load_into(model, card if named else weights, card=card)


def architecture(application, weights, include_top):
    """``'keras1'`` when ``weights`` are files that fit Keras 1's graph, else ``'keras2'``."""
    card = _card_for(application, weights, include_top)
    return card.architecture if card is not None else 'keras2'
