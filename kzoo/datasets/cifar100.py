"""CIFAR-100: 50,000 training and 10,000 test colour images, 100 fine / 20 coarse classes.

>>> FILE_NAME
'cifar-100-python.tar.gz'
"""
import os

import numpy as np

from kzoo import backend as K
from kzoo.datasets.cifar import load_batch
from kzoo.errors import ConfigError
from kzoo.utils.data_utils import get_file

FILE_NAME = 'cifar-100-python.tar.gz'
ORIGIN = 'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz'
FILE_HASH = '85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7'
FOLDER = 'cifar-100-python'

__all__ = ['load_data']


def load_data(label_mode='fine'):
    """``(x_train, y_train), (x_test, y_test)``: uint8 images ``(N, 32, 32, 3)`` and int64
    labels ``(N, 1)``, fine (100 classes) or coarse (20 superclasses)."""
    if label_mode not in ('fine', 'coarse'):
        raise ConfigError('cifar100.load_data: label_mode must be "fine" or "coarse", got %r'
                          % (label_mode,))
    path = os.path.join(get_file(FILE_NAME, ORIGIN, extract=True, file_hash=FILE_HASH), FOLDER)
    key = '%s_labels' % label_mode
    x_train, y_train = load_batch(os.path.join(path, 'train'), label_key=key)
    x_test, y_test = load_batch(os.path.join(path, 'test'), label_key=key)
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    if K.image_data_format() == 'channels_last':
        x_train = x_train.transpose(0, 2, 3, 1)
        x_test = x_test.transpose(0, 2, 3, 1)
    return (x_train, y_train), (x_test, y_test)
