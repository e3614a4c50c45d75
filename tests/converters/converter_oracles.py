"""Helpers shared by the converter tests: corpus paths, seeded inputs for any model,
and eager predictions from kzoo, tf-keras and Keras 3 models."""
import os

import numpy as np
import pytest

CORPUS = '/work/shared/corpus'


def corpus_path(*parts):
    path = os.path.join(CORPUS, *parts)
    if not os.path.exists(path):
        pytest.skip('corpus file %s is not available' % path)
    return path


def _embedding_limit(tensor):
    """The smallest input_dim of Embeddings that read ``tensor`` (None when none do)."""
    layer = tensor._keras_history[0]
    limits = []
    for node in layer._outbound_nodes:
        consumer = node.outbound_layer
        names = {c.__name__ for c in type(consumer).__mro__}
        if 'Embedding' in names:
            limits.append(int(consumer.input_dim))
    return min(limits) if limits else None


def sample_inputs(model, seed=0, batch=3, steps=4):
    """Seeded inputs fitting a kzoo model: integer ids for Embedding inputs (below the
    vocabulary size), floats in [-1, 1) otherwise; unknown dimensions get ``steps``."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor in model.inputs:
        shape = list(tensor.shape)
        shape[0] = batch if shape[0] is None else shape[0]
        shape = [steps if d is None else d for d in shape]
        limit = _embedding_limit(tensor)
        dtype = np.dtype(tensor.dtype or 'float32')
        if limit is not None or dtype.kind in 'iu':
            arrays.append(rng.integers(0, limit or 3, size=shape).astype(dtype))
        else:
            arrays.append(rng.uniform(-1, 1, size=shape).astype('float32'))
    return arrays


def as_list(outputs):
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return [np.asarray(outputs)]


def keras_predict(model, arrays):
    """Predictions of a tf-keras / Keras 3 model, computed eagerly (no tracing)."""
    x = arrays[0] if len(arrays) == 1 else list(arrays)
    return [np.asarray(o) for o in as_list(model(x, training=False))]


def kzoo_predict(model, arrays):
    return as_list(model.predict(arrays[0] if len(arrays) == 1 else list(arrays)))
