"""IMDB movie reviews: 25,000 training and 25,000 test reviews as word indices, with
binary sentiment labels.

>>> FILE_NAME, WORD_INDEX_FILE
('imdb.npz', 'imdb_word_index.json')
"""
import numpy as np

from kzoo.datasets import safe_pickle, sequences
from kzoo.errors import ConfigError, FileFormatError
from kzoo.utils.data_utils import get_file

FILE_NAME = 'imdb.npz'
ORIGIN = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz'
FILE_HASH = '69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f'
WORD_INDEX_FILE = 'imdb_word_index.json'
WORD_INDEX_ORIGIN = ('https://storage.googleapis.com/tensorflow/tf-keras-datasets/'
                     'imdb_word_index.json')
WORD_INDEX_HASH = 'bfafd718b763782e994055a2d397834f'

__all__ = ['load_data', 'get_word_index']


def load_data(path=FILE_NAME, num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: object arrays of word-index lists and
    int64 labels, shuffled with ``seed``, as Keras 3's ``imdb.load_data`` (Keras 1:
    ``nb_words``)."""
    if kwargs:
        num_words = sequences.keras1_kwargs(dict(kwargs, num_words=num_words), 'imdb.load_data')
    path = get_file(path, ORIGIN, file_hash=FILE_HASH)
    f = safe_pickle.load_npz(path)
    try:
        x_train, labels_train = f['x_train'], f['y_train']
        x_test, labels_test = f['x_test'], f['y_test']
    except KeyError as e:
        raise FileFormatError('%s: not the IMDB archive (no %s)' % (path, e)) from e
    rng = np.random.RandomState(seed)
    x_train, labels_train = sequences.shuffle(rng, x_train, labels_train)
    x_test, labels_test = sequences.shuffle(rng, x_test, labels_test)
    x_train = sequences.offset(x_train, start_char, index_from)
    x_test = sequences.offset(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = sequences.remove_long_seq(maxlen, x_train, labels_train)
        x_test, labels_test = sequences.remove_long_seq(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ConfigError('imdb.load_data: no sequence is shorter than maxlen=%s; '
                              'increase maxlen' % maxlen)
    xs = sequences.clip_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    x_train, y_train = np.array(xs[:idx], dtype='object'), labels[:idx]
    x_test, y_test = np.array(xs[idx:], dtype='object'), labels[idx:]
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path=WORD_INDEX_FILE):
    """``{word: index}`` (index 1 is the most frequent word; ``load_data`` adds
    ``index_from``)."""
    return sequences.read_word_index(get_file(path, WORD_INDEX_ORIGIN,
                                              file_hash=WORD_INDEX_HASH))
