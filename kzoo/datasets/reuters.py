"""Reuters newswires: 11,228 texts as word indices, labelled with 46 topics.

>>> FILE_NAME, len(get_label_names())
('reuters.npz', 46)
"""
import numpy as np

from kzoo.datasets import safe_pickle, sequences
from kzoo.errors import FileFormatError
from kzoo.utils.data_utils import get_file

FILE_NAME = 'reuters.npz'
ORIGIN = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz'
FILE_HASH = 'd6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916'
WORD_INDEX_FILE = 'reuters_word_index.json'
WORD_INDEX_ORIGIN = ('https://storage.googleapis.com/tensorflow/tf-keras-datasets/'
                     'reuters_word_index.json')
WORD_INDEX_HASH = '4d44cc38712099c9e383dc6e5f11a921'

_LABELS = ('cocoa', 'grain', 'veg-oil', 'earn', 'acq', 'wheat', 'copper', 'housing',
           'money-supply', 'coffee', 'sugar', 'trade', 'reserves', 'ship', 'cotton',
           'carcass', 'crude', 'nat-gas', 'cpi', 'money-fx', 'interest', 'gnp', 'meal-feed',
           'alum', 'oilseed', 'gold', 'tin', 'strategic-metal', 'livestock', 'retail', 'ipi',
           'iron-steel', 'rubber', 'heat', 'jobs', 'lei', 'bop', 'zinc', 'orange', 'pet-chem',
           'dlr', 'gas', 'silver', 'wpi', 'hog', 'lead')

__all__ = ['load_data', 'get_word_index', 'get_label_names']


def load_data(path=FILE_NAME, num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-index lists and
    int64 topic labels; the last ``test_split`` of the shuffled texts is the test set
    (Keras 3's ``reuters.load_data``; Keras 1: ``nb_words``)."""
    if kwargs:
        num_words = sequences.keras1_kwargs(dict(kwargs, num_words=num_words),
                                            'reuters.load_data')
    path = get_file(path, ORIGIN, file_hash=FILE_HASH)
    f = safe_pickle.load_npz(path)
    try:
        xs, labels = f['x'], f['y']
    except KeyError as e:
        raise FileFormatError('%s: not the Reuters archive (no %s)' % (path, e)) from e
    xs, labels = sequences.shuffle(np.random.RandomState(seed), xs, labels)
    xs = sequences.offset(xs, start_char, index_from)
    if maxlen:
        xs, labels = sequences.remove_long_seq(maxlen, xs, labels)
    xs = sequences.clip_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    x_train, y_train = np.array(xs[:idx], dtype='object'), np.array(labels[:idx])
    x_test, y_test = np.array(xs[idx:], dtype='object'), np.array(labels[idx:])
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path=WORD_INDEX_FILE):
    """``{word: index}`` of the Reuters vocabulary."""
    return sequences.read_word_index(get_file(path, WORD_INDEX_ORIGIN,
                                              file_hash=WORD_INDEX_HASH))


def get_label_names():
    """The 46 topic names, in label order."""
    return _LABELS
