"""``Model``: a container that predicts and trains (``compile``, ``fit``, ... come from
:class:`kzoo.engine.trainers.model_api.TrainingMixin`)."""
import numpy as np

from kzoo import backend as K
from kzoo.engine.base_layer import register_layer, to_list
from kzoo.engine.network import Container
from kzoo.engine.trainers.model_api import TrainingMixin
from kzoo.errors import ShapeError


def standardize_inputs(model, x):
    """A list of arrays, one per model input, from an array, a list or a dict."""
    names = model.input_names
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise ShapeError('model %r: no data for input(s) %s; got keys %s'
                             % (model.name, missing, sorted(x)))
        arrays = [x[n] for n in names]
    elif isinstance(x, (list, tuple)) and (len(names) > 1 or (
            len(x) == 1 and hasattr(x[0], 'shape'))):  # Keras takes [array] for one input
        arrays = list(x)
    else:
        arrays = [x]
    if len(arrays) != len(names):
        raise ShapeError('model %r expects %d input arrays (%s), got %d'
                         % (model.name, len(names), ', '.join(names), len(arrays)))
    out = []
    for array, tensor, name in zip(arrays, model.inputs, names):
        array = np.asarray(array)
        if array.dtype.kind in 'fiub' and tensor.dtype:
            array = array.astype(tensor.dtype, copy=False)
        expected = tuple(tensor.shape)
        if array.ndim != len(expected) or any(
                e is not None and e != a for e, a in zip(expected[1:], array.shape[1:])):
            raise ShapeError('model %r: input %r expects arrays of shape %s, got %s'
                             % (model.name, name, expected, array.shape))
        out.append(array)
    lengths = {a.shape[0] for a in out}
    if len(lengths) > 1:
        raise ShapeError('model %r: input arrays have different numbers of samples: %s'
                         % (model.name, [a.shape[0] for a in out]))
    return out


@register_layer('Functional')
class Model(TrainingMixin, Container):
    """A functional model: ``Model(inputs=x, outputs=y)`` (or ``input=``/``output=``).

    >>> import numpy as np
    >>> from kzoo.layers import Input, Dense
    >>> x = Input(shape=(3,))
    >>> model = Model(inputs=x, outputs=Dense(2, kernel_initializer='ones')(x))
    >>> model.predict(np.ones((1, 3))).tolist()
    [[3.0, 3.0]]
    """

    def _ensure_graph(self, arrays):
        """Hook for models (Sequential) that learn their input shape from data."""

    def predict_on_batch(self, x, precision=None, provider=None):
        """Outputs for one batch; ``precision``/``provider``: see kzoo.engine.inference."""
        arrays = standardize_inputs(self, x) if getattr(self, 'inputs', None) else [
            np.asarray(a) for a in to_list(x)]
        self._ensure_graph(arrays)
        from kzoo.engine import inference
        results = inference.predict_batch(self, arrays, precision, provider)
        if results is not None:  # a compiled inference plan ran
            return results[0] if len(results) == 1 else results
        with K.no_grad():
            tensors = [K.convert_to_tensor(a) for a in arrays]
            outputs, _ = self._run_graph(tensors, None, False)
            results = [K.to_numpy(o) for o in outputs]
        return results[0] if len(results) == 1 else results

    def predict(self, x, batch_size=32, verbose=0, steps=None, precision=None, provider=None):
        """Outputs for ``x`` (array, list or dict of arrays), computed in batches.

        ``precision`` (``'float32'``, ``'bfloat16'``) and ``provider`` (``'auto'``, the
        default: the compiled plan or onnxruntime, whichever measured faster; ``'torch'``,
        ``'onnxruntime'``, ``'plain'``) choose how batches run (kzoo.engine.inference).
        """
        if self._lazy_inputs(x):  # HDF5Matrix, generators, Sequences: batch by batch
            return self._predict_lazy(x, batch_size, verbose, steps)
        if not getattr(self, 'inputs', None):
            self._ensure_graph([np.asarray(a) for a in to_list(x)])
        arrays = standardize_inputs(self, x)
        n = arrays[0].shape[0]
        batch_size = int(batch_size or 32)
        chunks = []
        for start in range(0, n, batch_size):
            out = self.predict_on_batch([a[start:start + batch_size] for a in arrays]
                                        if len(arrays) > 1 else arrays[0][start:start + batch_size],
                                        precision, provider)
            chunks.append(to_list(out))
        if not chunks:
            raise ShapeError('model %r: predict() got no samples' % self.name)
        if len(chunks) == 1:  # one batch: no copy, unless an output is a view of an input
            results = [np.array(r) if any(np.may_share_memory(r, a) for a in arrays) else r
                       for r in chunks[0]]
        else:
            results = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        return results[0] if len(results) == 1 else results

    def __call__(self, inputs, **kwargs):
        return Container.__call__(self, inputs, **kwargs)
