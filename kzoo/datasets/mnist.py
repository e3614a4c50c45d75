"""MNIST digits: 60,000 training and 10,000 test images, 28x28 grey levels.

>>> FILE_NAME, ORIGIN.rsplit('/', 1)[-1]
('mnist.npz', 'mnist.npz')
"""
import numpy as np

from kzoo.errors import FileFormatError
from kzoo.utils.data_utils import get_file

FILE_NAME = 'mnist.npz'
ORIGIN = 'https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz'
FILE_HASH = '731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1'

__all__ = ['load_data']


def load_data(path=FILE_NAME):
    """``(x_train, y_train), (x_test, y_test)``: uint8 arrays of shape ``(N, 28, 28)`` and
    ``(N,)``. ``path`` names the file in the cache (``$KZOO_HOME/datasets``)."""
    path = get_file(path, ORIGIN, file_hash=FILE_HASH)
    try:
        with np.load(path, allow_pickle=False) as f:
            return (f['x_train'], f['y_train']), (f['x_test'], f['y_test'])
    except (KeyError, ValueError, OSError) as e:
        raise FileFormatError('%s: not the MNIST archive (x_train, y_train, x_test, '
                              'y_test): %s' % (path, e)) from e
