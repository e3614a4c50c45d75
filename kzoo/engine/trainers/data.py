"""Training data: inputs, targets and weights per model input/output, read in batches.

Arrays stay what they are until a batch is taken: a numpy array, an ``HDF5Matrix`` or
an h5py dataset is sliced per batch, so data larger than memory is never loaded
whole. Contiguous batches (no shuffling, or ``shuffle='batch'``) are read as one
slice; shuffled ones as sorted index reads.

>>> import numpy as np
>>> take(np.arange(10), np.array([3, 4, 5])).tolist()
[3, 4, 5]
"""
import numpy as np

from kzoo.errors import ShapeError

__all__ = ['is_array_like', 'as_list', 'standardize_arrays', 'take', 'split_at',
           'num_samples', 'class_weights_for', 'batch_indices']


def is_array_like(x):
    """Arrays and array views (``HDF5Matrix``, h5py datasets) that are read lazily."""
    return hasattr(x, 'shape') and hasattr(x, '__getitem__') and hasattr(x, '__len__') \
        and not isinstance(x, (list, tuple, dict, str))


def _lazy(x):
    return not isinstance(x, np.ndarray)


def as_list(x, names, what, model_name):
    """One entry per name, from an array, a list or a dict keyed by name."""
    if x is None:
        return [None] * len(names)
    if isinstance(x, dict):
        unknown = sorted(set(x) - set(names))
        if unknown:
            raise ShapeError('model %r: %s given for unknown name(s) %s; the model has %s'
                             % (model_name, what, unknown, names))
        return [x.get(n) for n in names]
    if isinstance(x, (list, tuple)) and (len(names) > 1 or (
            len(x) == 1 and is_array_like(x[0]))):
        if len(x) != len(names):
            raise ShapeError('model %r expects %d %s arrays (%s), got a list of %d'
                             % (model_name, len(names), what, ', '.join(names), len(x)))
        return list(x)
    return [x]


def standardize_arrays(arrays, names, shapes, dtypes, what, model_name, check_batch=True):
    """Check shapes (without loading lazy arrays) and make plain lists numpy arrays."""
    out = []
    for array, name, shape, dtype in zip(arrays, names, shapes, dtypes):
        if array is None:
            out.append(None)
            continue
        if not is_array_like(array):
            array = np.asarray(array)
        if isinstance(array, np.ndarray) and dtype and array.dtype.kind in 'fiub' \
                and np.dtype(dtype).kind == 'f' and array.dtype != np.dtype(dtype):
            array = array.astype(dtype)
        if shape is not None:
            actual = tuple(array.shape)
            if len(actual) == len(shape) - 1 and what == 'target' and shape[-1] == 1:
                pass  # (batch,) targets for a (batch, 1) output, as Keras accepts
            elif len(actual) != len(shape) and what != 'target':
                raise ShapeError('model %r: %s %r expects arrays of shape %s, got %s'
                                 % (model_name, what, name, tuple(shape), actual))
            elif what != 'target' and any(e is not None and e != a for e, a in
                                          zip(shape[1:], actual[1:])):
                raise ShapeError('model %r: %s %r expects arrays of shape %s, got %s'
                                 % (model_name, what, name, tuple(shape), actual))
        out.append(array)
    if check_batch:
        lengths = {len(a) for a in out if a is not None}
        if len(lengths) > 1:
            raise ShapeError('model %r: %s arrays have different numbers of samples: %s'
                             % (model_name, what, [len(a) for a in out if a is not None]))
    return out


def num_samples(arrays):
    for a in arrays:
        if a is not None:
            return len(a)
    return 0


def take(array, index_array):
    """The rows ``index_array`` (indices or a slice) of ``array`` as a numpy array (one
    read per batch)."""
    if array is None:
        return None
    if isinstance(index_array, slice):
        return np.asarray(array[index_array])
    index_array = np.asarray(index_array)
    n = len(index_array)
    if n and index_array[-1] - index_array[0] + 1 == n and np.all(np.diff(index_array) == 1):
        return np.asarray(array[int(index_array[0]):int(index_array[-1]) + 1])
    if not _lazy(array):
        return array[index_array]
    # h5py reads only increasing indices: read sorted, then restore the order.
    order = np.argsort(index_array, kind='stable')
    rows = np.asarray(array[index_array[order].tolist()])
    out = np.empty_like(rows)
    out[order] = rows
    return out


def split_at(array, at):
    """``(array[:at], array[at:])`` without loading lazy arrays (views stay views)."""
    if array is None:
        return None, None
    if not isinstance(array, np.ndarray) and hasattr(array, 'subset'):  # HDF5Matrix
        return array.subset(0, at), array.subset(at, len(array))
    return array[:at], array[at:]


def batch_indices(n, batch_size, shuffle, rng=np.random):
    """Index arrays of the batches of one epoch (``shuffle``: True, False or 'batch');
    slices when the batches are in order."""
    if not shuffle:
        return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    index = np.arange(n)
    if shuffle == 'batch':
        count = n // batch_size
        head = index[:count * batch_size].reshape((count, batch_size))
        rng.shuffle(head)
        index = np.append(head.ravel(), index[count * batch_size:])
    elif shuffle:
        rng.shuffle(index)
    return [index[i:i + batch_size] for i in range(0, n, batch_size)]


def class_weights_for(y, class_weight):
    """Per-sample weights from ``{class: weight}`` (one-hot, (n, 1) or (n,) targets)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        classes = np.argmax(y, axis=1)
    elif y.ndim == 2 and y.shape[1] == 1:
        classes = y.reshape(len(y))
    else:
        classes = y
    classes = classes.astype('int64')
    missing = sorted(set(classes.tolist()) - set(int(k) for k in class_weight))
    if missing:
        raise ShapeError('class_weight has no weight for class(es) %s found in the targets'
                         % missing)
    table = {int(k): float(v) for k, v in class_weight.items()}
    return np.array([table[c] for c in classes.tolist()], dtype='float32')
