"""Keras's datasets: ``mnist``, ``cifar10``, ``cifar100``, ``imdb``, ``reuters``.

Each module's ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)`` with
Keras's shapes and dtypes. Files come from the origins Keras uses, through
:func:`kzoo.utils.data_utils.get_file` (verified by hash, cached under
``$KZOO_HOME/datasets``, resumable, mirrors via ``KZOO_MIRROR``). Pickled contents
(the CIFAR batches, the ragged IMDB/Reuters arrays) are read by a restricted
unpickler that rebuilds numpy arrays and nothing else.

>>> from kzoo.datasets import mnist
>>> mnist.FILE_NAME
'mnist.npz'
"""
from kzoo.datasets import cifar10, cifar100, imdb, mnist, reuters  # noqa: F401

__all__ = ['mnist', 'cifar10', 'cifar100', 'imdb', 'reuters']
