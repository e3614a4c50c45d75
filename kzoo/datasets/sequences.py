"""Shared steps of the word-index datasets (IMDB, Reuters), as Keras 3 does them."""
import json

import numpy as np

from kzoo.errors import ConfigError, FileFormatError

__all__ = ['shuffle', 'offset', 'remove_long_seq', 'clip_vocabulary', 'read_word_index']


def shuffle(rng, xs, labels):
    indices = np.arange(len(xs))
    rng.shuffle(indices)
    return xs[indices], labels[indices]


def offset(xs, start_char, index_from):
    """Prepend ``start_char`` and shift word indices by ``index_from``."""
    if start_char is not None:
        return [[start_char] + [w + index_from for w in x] for x in xs]
    if index_from:
        return [[w + index_from for w in x] for x in xs]
    return [[w for w in x] for x in xs]


def remove_long_seq(maxlen, seq, label):
    """Keep the sequences shorter than ``maxlen`` (and their labels)."""
    new_seq, new_label = [], []
    for x, y in zip(seq, label):
        if len(x) < maxlen:
            new_seq.append(x)
            new_label.append(y)
    return new_seq, new_label


def clip_vocabulary(xs, num_words, skip_top, oov_char):
    """Words outside ``[skip_top, num_words)`` become ``oov_char`` (or are dropped)."""
    if not num_words:
        num_words = max(max(x) for x in xs if x) if any(xs) else 0
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def keras1_kwargs(kwargs, where):
    if 'nb_words' in kwargs:
        kwargs['num_words'] = kwargs.pop('nb_words')
    num_words = kwargs.pop('num_words', None)
    if kwargs:
        raise ConfigError('%s: keyword argument(s) not understood: %s'
                          % (where, ', '.join(sorted(kwargs))))
    return num_words


def read_word_index(path):
    with open(path, encoding='utf-8') as f:
        try:
            index = json.load(f)
        except ValueError as e:
            raise FileFormatError('%s: not a JSON word index: %s' % (path, e)) from e
    if not isinstance(index, dict):
        raise FileFormatError('%s: a word index is a JSON object {word: index}' % path)
    return index
