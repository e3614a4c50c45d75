"""Every layer family exported to ONNX and run by onnxruntime, against kzoo.

Oracle: kzoo's own forward pass (itself tested against Keras in tests/layers) on the
same weights and inputs; onnxruntime runs the exported file. Tolerance 1e-4, scaled by
``max(1, max|expected|)`` (helpers.assert_matches), at opsets 13, 17 and the newest the
installed onnx package knows. Models come from ``export_cases.py``, built once.
"""
import functools

import numpy as np
import onnx
import pytest

from export_cases import CASES
from helpers import assert_matches
from kzoo import backend as K
from kzoo.converters.onnx_export.check import kzoo_outputs, onnxruntime_outputs, sample_inputs
from kzoo.converters.onnx_export.export import newest_opset, to_onnx

OPSETS = sorted({13, 17, newest_opset()})
TOLERANCE = 1e-4


@functools.lru_cache(maxsize=None)
def built(name):
    with K.using('numpy'):
        builder, _ = CASES[name]
        model, inputs = builder()
        if inputs is None:
            inputs = sample_inputs(model, batch_size=3, seed=7)
        return model, [np.asarray(a) for a in inputs], kzoo_outputs(model, inputs)


def export_and_compare(name, opset, tmp_path):
    model, inputs, expected = built(name)
    path = tmp_path / ('%s.onnx' % name)
    result = to_onnx(model, path, opset=opset, inputs=inputs, tolerance=TOLERANCE)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    actual = onnxruntime_outputs(path, inputs)
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_matches(a, e, TOLERANCE, what='%s output %d (opset %d)' % (name, i, opset))
    assert result.max_error <= TOLERANCE
    return proto


@pytest.mark.parametrize('opset', OPSETS)
@pytest.mark.parametrize('name', sorted(CASES))
def test_layer_export_matches_kzoo(name, opset, tmp_path):
    proto = export_and_compare(name, opset, tmp_path)
    assert proto.opset_import[0].version == opset
