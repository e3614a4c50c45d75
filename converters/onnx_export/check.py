"""Numeric checks of an exported model: kzoo's outputs against another runtime's.

Inputs are random but valid: indices below ``input_dim`` for inputs that feed an
Embedding, standard-normal floats otherwise. The error is the one every kzoo oracle
test uses: ``max|actual - expected| / max(1, max|expected|)``.

>>> import numpy as np
>>> round(scaled_error([np.array([1.0, 2.0])], [np.array([1.0, 2.0002])]), 6)
0.0001
"""
import numpy as np

from kzoo.errors import ConversionError

DEFAULT_TOLERANCE = 1e-4


def scaled_error(actual, expected):
    """Largest ``|a - e| / max(1, max|e|)`` over pairs of arrays."""
    worst = 0.0
    for a, e in zip(actual, expected):
        a, e = np.asarray(a, 'float64'), np.asarray(e, 'float64')
        if a.shape != e.shape:
            raise ConversionError('converted model output has shape %s, kzoo computes %s'
                                  % (a.shape, e.shape))
        if e.size == 0:
            continue
        scale = max(1.0, float(np.max(np.abs(e))))
        diff = np.abs(a - e)
        if np.isnan(diff).any() and not np.array_equal(np.isnan(a), np.isnan(e)):
            return float('inf')
        worst = max(worst, float(np.nanmax(diff)) / scale if diff.size else 0.0)
    return worst


def _embedding_limit(model, tensor):
    """The smallest ``input_dim`` of the Embeddings ``tensor`` feeds, or None."""
    from kzoo.layers import Embedding
    limits = []
    layer = tensor._keras_history[0]
    for node in layer._outbound_nodes:
        consumer = node.outbound_layer
        inner = getattr(consumer, 'layer', consumer)
        if isinstance(inner, Embedding):
            limits.append(inner.input_dim)
        elif getattr(consumer, 'inputs', None):
            for sub in consumer.inputs:
                limit = _embedding_limit(consumer, sub)
                if limit:
                    limits.append(limit)
    return min(limits) if limits else None


def sample_inputs(model, batch_size=2, seed=0, shapes=None):
    """Random inputs for every model input (indices for Embedding inputs), of the model's
    input shapes or of ``shapes``."""
    rng = np.random.default_rng(seed)
    arrays = []
    for tensor, wanted in zip(model.inputs, shapes or [t.shape for t in model.inputs]):
        shape = tuple(batch_size if i == 0 and d is None else (d if d is not None else 5)
                      for i, d in enumerate(wanted))
        dtype = np.dtype(tensor.dtype or 'float32')
        limit = _embedding_limit(model, tensor)
        if limit or dtype.kind in 'iu':
            arrays.append(rng.integers(0, limit or 10, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def kzoo_outputs(model, arrays):
    """``model``'s outputs on ``arrays``, layer by layer on the active backend (the
    plain path: no compiled inference plan, which would import torch)."""
    from kzoo import backend as K
    tensors = [K.convert_to_tensor(np.asarray(a)) for a in arrays]
    with K.no_grad():
        outputs, _ = model._run_graph(tensors, None, False)
        return [np.asarray(K.to_numpy(o)) for o in outputs]


def onnxruntime_outputs(path, arrays):
    """Run the ONNX file at ``path`` (external data resolved beside it)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConversionError('checking an ONNX export needs onnxruntime (pip install '
                              'onnxruntime), or pass check=False') from None
    options = ort.SessionOptions()
    # the graph as written (no rewrites, no extra copies of the weights)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    # use the weights where they lie (mapped from external data) instead of repacking
    # a copy of every matrix: one copy of VGG16's 528 MB, not two
    options.add_session_config_entry('session.disable_prepacking', '1')
    # idle worker threads sleep instead of spinning: a check is one short run, and spin
    # waits doubled its CPU time (InceptionV3 at 107x107: 0.08 s, 0.04 s without)
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    try:
        session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    except Exception as e:
        raise ConversionError('onnxruntime cannot load the exported model %s: %s'
                              % (path, e)) from e
    feeds = {i.name: a for i, a in zip(session.get_inputs(), arrays)}
    outputs = session.run(None, feeds)
    del session
    return outputs


def check_outputs(actual, expected, tolerance, what):
    """The scaled error; a ConversionError naming ``what`` when over ``tolerance``."""
    error = scaled_error(actual, expected)
    if not error <= tolerance:
        raise ConversionError('%s disagrees with kzoo: largest scaled difference %.3g > '
                              'tolerance %.1g' % (what, error, tolerance))
    return error
