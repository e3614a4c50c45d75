"""Every ONNX file of the shared corpus (written by PyTorch, CNTK, keras2onnx and
tf2onnx, corpus/MANIFEST.md) imports into kzoo and computes what onnxruntime computes
on the same seeded inputs: scaled max error at most 1e-4 (``helpers.assert_matches``).
A file using an operator kzoo lacks must fail with an error naming that operator.
Both layouts are checked: ONNX's own and ``data_format='channels_last'``.
"""
import os

import numpy as np
import pytest

import onnx

from helpers import assert_matches
from kzoo.converters import from_onnx
from kzoo.converters.onnx_import import UnsupportedOperatorError, supported_operators
from kzoo.converters.onnx_import.backend import run_model

ONNX_DIR = '/work/shared/corpus/onnx'
FILES = sorted(os.listdir(ONNX_DIR)) if os.path.isdir(ONNX_DIR) else []
TOLERANCE = 1e-4


def sample_inputs(model, seed=0):
    """Seeded arrays for the graph inputs: symbolic dimensions are 2; integer inputs
    (indices) are drawn small enough for any table they index."""
    rng = np.random.default_rng(seed)
    initializers = {t.name for t in model.graph.initializer}
    arrays = {}
    for info in model.graph.input:
        if info.name in initializers:
            continue
        tensor_type = info.type.tensor_type
        shape = [d.dim_value if d.HasField('dim_value') else 2 for d in tensor_type.shape.dim]
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
        if dtype.kind in 'iu':
            arrays[info.name] = rng.integers(0, 3, size=shape).astype(dtype)
        else:
            arrays[info.name] = rng.standard_normal(shape).astype(dtype)
    return arrays


def onnxruntime_outputs(path, feeds):
    """onnxruntime's outputs; for an opset onnxruntime no longer runs (BatchNormalization-6
    of PyTorch 0.3), on the model upgraded to opset 7 by onnx's version converter."""
    ort = pytest.importorskip('onnxruntime')
    try:
        session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    except Exception:  # noqa: BLE001  (onnxruntime's NotImplemented)
        from onnx import version_converter
        upgraded = version_converter.convert_version(onnx.load(path), 7)
        session = ort.InferenceSession(upgraded.SerializeToString(),
                                       providers=['CPUExecutionProvider'])
    return session.run(None, {k: v for k, v in feeds.items()
                              if k in {i.name for i in session.get_inputs()}})


def _unsupported(model):
    ops = set(supported_operators())
    return sorted({n.op_type for n in model.graph.node if n.op_type not in ops})


@pytest.mark.parametrize('name', FILES)
def test_corpus_file_matches_onnxruntime(name):
    path = os.path.join(ONNX_DIR, name)
    proto = onnx.load(path, load_external_data=False)
    missing = _unsupported(proto)
    if missing:
        with pytest.raises(UnsupportedOperatorError, match=missing[0]):
            from_onnx(path)
        return
    model = from_onnx(path)
    feeds = sample_inputs(proto)
    expected = onnxruntime_outputs(path, feeds)
    got = run_model(model, [feeds[n] for n in model.onnx_input_names])
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        assert_matches(g, e, TOLERANCE)


def _to_last(array):
    return np.moveaxis(array, 1, -1) if 3 <= array.ndim <= 5 else array


@pytest.mark.parametrize('name', FILES)
def test_corpus_file_channels_last(name):
    """Imported NHWC, fed NHWC images, the model computes the same function."""
    path = os.path.join(ONNX_DIR, name)
    proto = onnx.load(path, load_external_data=False)
    if _unsupported(proto):
        pytest.skip('uses operators kzoo lacks')
    model = from_onnx(path, data_format='channels_last')
    feeds = sample_inputs(proto)
    expected = onnxruntime_outputs(path, feeds)
    arrays = [_to_last(feeds[n]) if nhwc else feeds[n]
              for n, nhwc in zip(model.onnx_input_names, model.nhwc_inputs)]
    got = run_model(model, arrays)
    for g, e, nhwc in zip(got, expected, model.nhwc_outputs):
        assert_matches(np.moveaxis(g, -1, 1) if nhwc else g, e, TOLERANCE)
