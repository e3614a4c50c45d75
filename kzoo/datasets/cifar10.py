"""CIFAR-10: 50,000 training and 10,000 test colour images in 10 classes.

>>> FILE_NAME
'cifar-10-python.tar.gz'
"""
import os

import numpy as np

from kzoo import backend as K
from kzoo.datasets.cifar import load_batch
from kzoo.utils.data_utils import get_file

FILE_NAME = 'cifar-10-python.tar.gz'
ORIGIN = 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz'
FILE_HASH = '6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce'
FOLDER = 'cifar-10-batches-py'

__all__ = ['load_data']


def load_data():
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(N, 32, 32, 3)``
    (``(N, 3, 32, 32)`` when the image data format is channels_first) and uint8 labels
    ``(N, 1)``."""
    path = os.path.join(get_file(FILE_NAME, ORIGIN, extract=True, file_hash=FILE_HASH), FOLDER)
    parts = [load_batch(os.path.join(path, 'data_batch_%d' % i)) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts]).astype('uint8')
    y_train = np.concatenate([np.asarray(p[1]) for p in parts]).astype('uint8')
    x_test, y_test = load_batch(os.path.join(path, 'test_batch'))
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1)).astype(y_train.dtype)
    if K.image_data_format() == 'channels_last':
        x_train = x_train.transpose(0, 2, 3, 1)
        x_test = x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test.astype(x_train.dtype), y_test)
