"""Fetch a card's weight file (cached, hash-verified) and load it into a model."""
import os

from kzoo.errors import DownloadError, FileFormatError


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
    """Load ``weights`` (a card or a path) into ``model``, converting Theano kernels."""
    path = fetch(weights) if card is None and hasattr(weights, 'file_name') else weights
    if card is None and hasattr(weights, 'file_name'):
        card = weights
    if not os.path.exists(path):
        raise FileFormatError('weights file %s does not exist' % path)
    model.load_weights(path)
    if card is not None and card.kernels == 'theano':
        from kzoo.utils.layer_utils import convert_all_kernels_in_model
        convert_all_kernels_in_model(model)
    return path
