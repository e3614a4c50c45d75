"""Numpy helpers with Keras's names: ``convert_kernel``, ``to_categorical``, ...

``convert_kernel`` turns a convolution kernel written by Theano (a true convolution)
into one for TensorFlow and kzoo (a cross-correlation), and back: it reverses every
spatial axis. It is its own inverse.

>>> import numpy as np
>>> k = np.arange(4.).reshape(2, 2, 1, 1)          # (rows, cols, in, out)
>>> convert_kernel(k)[:, :, 0, 0].tolist()
[[3.0, 2.0], [1.0, 0.0]]
>>> np.array_equal(convert_kernel(convert_kernel(k)), k)
True
>>> to_categorical([0, 2], 3).tolist()
[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
"""
import numpy as np

from kzoo.errors import ShapeError

__all__ = ['convert_kernel', 'to_categorical', 'normalize', 'probas_to_classes',
           'categorical_probas_to_classes']

_CHANNELS_FIRST = ('th', 'channels_first')


def convert_kernel(kernel, dim_ordering=None):
    """Flip the spatial axes of a convolution kernel of any rank (Theano <-> TensorFlow).

    Kernels are in Keras 2 layout ``(*spatial, in, out)``. Keras 1's ``th`` layout
    ``(out, in, *spatial)`` is handled with ``dim_ordering='th'`` (or
    ``'channels_first'``), as Keras 1's ``convert_kernel(kernel, dim_ordering)`` did.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim < 3:
        raise ShapeError('convert_kernel: a kernel of shape %s has no spatial axes (expected '
                         'rank 3 or more: spatial axes, then input and output channels)'
                         % (kernel.shape,))
    if dim_ordering in _CHANNELS_FIRST:
        slices = (slice(None), slice(None)) + (slice(None, None, -1),) * (kernel.ndim - 2)
    else:
        slices = (slice(None, None, -1),) * (kernel.ndim - 2) + (slice(None), slice(None))
    return np.copy(kernel[slices])


def to_categorical(y, num_classes=None, dtype='float32'):
    """One-hot rows for integer labels (Keras 1 called the count ``nb_classes``)."""
    y = np.asarray(y, dtype='int64')
    shape = y.shape
    if shape and shape[-1] == 1 and len(shape) > 1:
        shape = shape[:-1]
    y = y.ravel()
    if y.size and y.min() < 0:
        raise ShapeError('to_categorical: labels must be >= 0, got %d' % y.min())
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ShapeError('to_categorical: label %d does not fit %d classes'
                         % (y.max(), num_classes))
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2):
    """``x`` divided by its ``order``-norm along ``axis`` (zero norms left as they are)."""
    x = np.asarray(x)
    norm = np.atleast_1d(np.linalg.norm(x, order, axis))
    norm[norm == 0] = 1
    return x / np.expand_dims(norm, axis)


def probas_to_classes(y_pred):
    """Class indices from probabilities (Keras 1): argmax, or a 0.5 threshold for one column."""
    y_pred = np.asarray(y_pred)
    if y_pred.ndim > 1 and y_pred.shape[1] > 1:
        return categorical_probas_to_classes(y_pred)
    return np.array([1 if p > 0.5 else 0 for p in y_pred.reshape(-1)])


def categorical_probas_to_classes(p):
    return np.argmax(np.asarray(p), axis=1)
