"""Reading a CIFAR batch file (a pickled dict), as Keras's ``cifar.load_batch``."""
import numpy as np

from kzoo.datasets import safe_pickle
from kzoo.errors import FileFormatError

__all__ = ['load_batch']


def load_batch(fpath, label_key='labels'):
    """``(data, labels)``: uint8 ``(N, 3, 32, 32)`` images and a list of labels."""
    with open(fpath, 'rb') as f:
        d = safe_pickle.load(f, source=fpath, encoding='bytes')
    if not isinstance(d, dict):
        raise FileFormatError('%s: a CIFAR batch is a dict, got %s' % (fpath, type(d).__name__))
    d = {(k.decode('utf8') if isinstance(k, bytes) else k): v for k, v in d.items()}
    if 'data' not in d or label_key not in d:
        raise FileFormatError('%s: a CIFAR batch needs "data" and %r; it has %s'
                              % (fpath, label_key, sorted(d)))
    data = np.asarray(d['data'])
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise FileFormatError('%s: CIFAR data must be (N, 3072), got %s' % (fpath, data.shape))
    return data.reshape(data.shape[0], 3, 32, 32), d[label_key]
