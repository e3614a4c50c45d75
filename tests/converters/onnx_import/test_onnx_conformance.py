"""The onnx package's own backend tests, run on kzoo (``KzooBackend``) by onnx's runner.

The runner compares every output with ``rtol=1e-3, atol=1e-7`` (its defaults) and
checks shapes and dtypes exactly. Sets: the per-operator node tests (built in memory
by onnx), ``pytorch-converted``, ``pytorch-operator``, ``simple`` and the ``light``
models (real architectures with constant weights; marked slow). Node tests also run
on kzoo's NumPy reference backend. Tests of operators kzoo does not claim are
skipped by the rule of ``onnx_import_cases`` ("no matched include pattern"), and the
few exclusions are listed there with their reasons.
"""
import re

import pytest

from onnx.backend.test import BackendTest

from kzoo.converters.onnx_import.backend import KzooBackend, KzooNumpyBackend
from onnx_import_cases import (EXCLUDED, LIGHT_MODELS, selected_model_set_names,
                               selected_node_names)


def _pattern(names):
    return r'^(%s)_cpu$' % '|'.join(re.escape(n) for n in names)


def _backend_test(backend, names):
    runner = BackendTest(backend, __name__)
    runner.include(_pattern(names))
    for name in EXCLUDED:
        runner.exclude(r'^%s_cpu$' % re.escape(name))
    return runner.test_cases


_ALL = list(selected_node_names()) + ['test_%s' % m for m in LIGHT_MODELS]
for _names in selected_model_set_names().values():
    _ALL += _names

_cases = _backend_test(KzooBackend, _ALL)
# the light models import real architectures (VGG19: 550 MB of weights)
_cases['OnnxBackendRealModelTest'].pytestmark = [pytest.mark.slow]
globals().update(_cases)

# the node tests again on the NumPy reference backend
globals().update({'Numpy' + name: case for name, case in _backend_test(
    KzooNumpyBackend, selected_node_names()).items() if name == 'OnnxBackendNodeModelTest'})


def test_the_rule_selects_the_operators_of_the_issue():
    claimed = ('Conv ConvTranspose MaxPool AveragePool GlobalAveragePool GlobalMaxPool '
               'BatchNormalization InstanceNormalization LayerNormalization Gemm MatMul Add Sub '
               'Mul Div Relu LeakyRelu PRelu Elu Selu Sigmoid HardSigmoid Tanh Softmax '
               'LogSoftmax Softplus Softsign Clip Concat Flatten Reshape Transpose Squeeze '
               'Unsqueeze Pad Dropout Identity Constant ConstantOfShape Shape Gather Slice Split '
               'ReduceMean LSTM GRU RNN Upsample Resize DepthToSpace SpaceToDepth').split()
    from onnx_import_cases import node_cases
    names = set(selected_node_names())
    for op in claimed:
        tests = [n for n, c in node_cases().items()
                 if any(node.op_type == op for node in c.model.graph.node)
                 and len(c.model.graph.node) == 1]
        assert tests, op
        missing = [n for n in tests if n not in names and not _exotic(node_cases()[n])]
        assert not missing, '%s: node tests left out by the rule: %s' % (op, missing)


def _exotic(case):
    from onnx_import_cases import _tensor_type_ok
    graph = case.model.graph
    return not all(_tensor_type_ok(v) for v in list(graph.input) + list(graph.output))
