"""The onnx package's backend test data, and the rule that picks the cases kzoo claims.

Rule: a test is selected when every node of its graph is an operator of the default
domain that kzoo's importer implements (``supported_operators()``), and every graph
input and output is a tensor of an element type kzoo computes with
(``importer.DTYPES``: no bfloat16, float8, 2/4-bit, string, sequence or optional
values). Every selected test must pass, except the few named in :data:`EXCLUDED`,
each with its reason.
"""
import functools
import os
import warnings

import numpy as np

import onnx
from onnx import numpy_helper

from kzoo.converters.onnx_import import supported_operators
from kzoo.converters.onnx_import.importer import DTYPES

DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data')
MODEL_SETS = ('pytorch-converted', 'pytorch-operator', 'simple')
LIGHT_MODELS = ('bvlc_alexnet', 'densenet121', 'inception_v1', 'inception_v2', 'resnet50',
                'shufflenet', 'squeezenet', 'vgg19', 'zfnet512')

# Selected by the rule, yet not expected to pass: name -> reason.
EXCLUDED = {
    'test_training_dropout': 'training-mode Dropout is random; the expected output is one '
                             'draw of NumPy\'s generator',
    'test_training_dropout_mask': 'training-mode Dropout is random (see above)',
    'test_training_dropout_default': 'training-mode Dropout is random (see above)',
    'test_training_dropout_default_mask': 'training-mode Dropout is random (see above)',
}


def _tensor_type_ok(info):
    if not info.type.HasField('tensor_type'):
        return False
    try:
        dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(info.type.tensor_type.elem_type))
    except Exception:  # noqa: BLE001
        return False
    return dtype.name in DTYPES


def selected(model):
    """Whether the rule selects a test model (see the module docstring)."""
    ops = set(supported_operators())
    graph = model.graph
    if any(n.domain not in ('', 'ai.onnx') or n.op_type not in ops for n in graph.node):
        return False
    initializers = {t.name for t in graph.initializer}
    values = [i for i in graph.input if i.name not in initializers] + list(graph.output)
    return all(_tensor_type_ok(v) for v in values)


@functools.lru_cache(maxsize=None)
def node_cases():
    """All node test cases (built in memory by onnx), by name."""
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return {case.name: case for case in collect_testcases()}


@functools.lru_cache(maxsize=None)
def selected_node_names():
    return sorted(name for name, case in node_cases().items() if selected(case.model))


def model_set_dirs(kind):
    root = os.path.join(DATA_DIR, kind)
    return sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d,
                                                                              'model.onnx')))


@functools.lru_cache(maxsize=None)
def selected_model_set_names():
    """``{kind: [test names the rule selects]}`` for the shipped model sets."""
    out = {}
    for kind in MODEL_SETS:
        names = []
        for name in model_set_dirs(kind):
            model = onnx.load(os.path.join(DATA_DIR, kind, name, 'model.onnx'))
            if selected(model):
                names.append(name)
        out[kind] = names
    return out


def light_model_path(name):
    return os.path.join(DATA_DIR, 'light', 'light_%s.onnx' % name)


def normalize(value):
    """A test-data value as a NumPy array (onnx stores some as TensorProto)."""
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return np.asarray(value)


def frozen(case):
    """``(model, inputs, outputs)``: the case with every input but the first made an
    initializer holding the test's data, so the importer sees constant weights."""
    inputs, outputs = case.data_sets[0]
    inputs = [normalize(v) for v in inputs]
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    keep = graph.input[0]
    for info, value in zip(list(graph.input[1:]), inputs[1:]):
        tensor = numpy_helper.from_array(value, info.name)
        graph.initializer.append(tensor)
    del graph.input[1:]
    assert graph.input[0].name == keep.name
    return model, inputs[:1], [normalize(v) for v in outputs]
