"""Fetch a card's weight file (cached, hash-verified) and load it into a model."""
import os

from kzoo.errors import ConversionError, DownloadError, FileFormatError


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


def load_into(model, weights, card=None):
    """Load ``weights`` (a card or a path) into ``model``."""
    if card is None and hasattr(weights, 'file_name'):
        card = weights
    if card is not None and (card.kernels != 'tensorflow' or card.data_format != 'channels_last'):
        # Listed so that `kzoo list` and users can see them; the layout conversion of
        # whole Keras 1 files into channels_last models is not written yet.
        raise ConversionError('%s: %s-kernel, %s weight files cannot be loaded yet; use the '
                              'TensorFlow-kernel file instead' % (card.file_name, card.kernels,
                                                                  card.data_format))
    path = fetch(card) if card is not None else weights
    if not os.path.exists(path):
        raise FileFormatError('weights file %s does not exist' % path)
    model.load_weights(path)
    return path
