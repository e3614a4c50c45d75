"""Imported models as kzoo models: NCHW and NHWC imports agree with onnxruntime, the
NHWC import really is NHWC (no transposes around its layers, the Dense after Flatten
permuted instead), imported models save and reload, constant subgraphs fold, and
errors name what is wrong. Oracle: onnxruntime, scaled max error 1e-4."""
import os

import numpy as np
import pytest

import onnx
from onnx import TensorProto, helper, numpy_helper

from helpers import assert_matches
from kzoo.converters import from_onnx
from kzoo.converters.onnx_import import UnsupportedOperatorError
from kzoo.converters.onnx_import.backend import run_model
from kzoo.errors import ConfigError, ConversionError, FileFormatError
from kzoo.models import model_from_json

TOLERANCE = 1e-4


def _init(rng, name, *shape, scale=0.3):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype('float32'), name)


def small_cnn(opset=13):
    """Conv (asymmetric pads) -> BatchNorm -> Relu -> MaxPool (ceil) -> residual Conv +
    Add -> Conv stride 2 -> Flatten -> Gemm -> Softmax; NCHW input (1, 3, 9, 9)."""
    rng = np.random.default_rng(0)
    inits = [_init(rng, 'w1', 8, 3, 3, 3), _init(rng, 'b1', 8),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype('float32'), 'gamma'),
             _init(rng, 'beta', 8), _init(rng, 'mean', 8),
             numpy_helper.from_array(rng.uniform(0.5, 1.5, 8).astype('float32'), 'var'),
             _init(rng, 'w2', 8, 8, 3, 3), _init(rng, 'w3', 4, 8, 2, 2), _init(rng, 'b3', 4),
             _init(rng, 'fc', 10, 4 * 2 * 2), _init(rng, 'fcb', 10),
             numpy_helper.from_array(np.asarray([1.5], 'float32'), 'scale')]
    nodes = [
        helper.make_node('Conv', ['x', 'w1', 'b1'], ['c1'], pads=[1, 0, 2, 1]),
        helper.make_node('BatchNormalization', ['c1', 'gamma', 'beta', 'mean', 'var'], ['bn']),
        helper.make_node('Relu', ['bn'], ['r1']),
        helper.make_node('MaxPool', ['r1'], ['p1'], kernel_shape=[2, 2], strides=[2, 2],
                         ceil_mode=1),
        helper.make_node('Conv', ['p1', 'w2'], ['c2'], pads=[1, 1, 1, 1]),
        helper.make_node('Mul', ['c2', 'scale'], ['c2s']),
        helper.make_node('Add', ['p1', 'c2s'], ['res']),
        helper.make_node('Conv', ['res', 'w3', 'b3'], ['c3'], strides=[2, 2]),
        helper.make_node('Flatten', ['c3'], ['flat']),
        helper.make_node('Gemm', ['flat', 'fc', 'fcb'], ['logits'], transB=1),
        helper.make_node('Softmax', ['logits'], ['y'], axis=1),
    ]
    graph = helper.make_graph(
        nodes, 'small_cnn', [helper.make_tensor_value_info('x', TensorProto.FLOAT,
                                                           [None, 3, 9, 9])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [None, 10])], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', opset)])


def ort_run(model, feeds):
    ort = pytest.importorskip('onnxruntime')
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    return session.run(None, feeds)


def test_small_cnn_matches_onnxruntime_in_both_layouts():
    proto = small_cnn()
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 9)).astype('float32')
    expected = ort_run(proto, {'x': x})[0]
    assert_matches(from_onnx(proto).predict(x), expected, TOLERANCE)
    nhwc = from_onnx(proto, data_format='channels_last')
    assert nhwc.input_shape == (None, 9, 9, 3)
    assert_matches(nhwc.predict(np.moveaxis(x, 1, -1)), expected, TOLERANCE)


def test_channels_last_import_has_no_transposes():
    nhwc = from_onnx(small_cnn(), data_format='channels_last')
    kinds = [type(layer).__name__ for layer in nhwc.layers]
    assert 'OnnxTranspose' not in kinds and 'OnnxGather' not in kinds, kinds
    assert [l.data_format for l in nhwc.layers if type(l).__name__ == 'Conv2D'] == [
        'channels_last'] * 3
    # the Dense after Flatten has its kernel rows in NHWC order
    nchw = from_onnx(small_cnn())
    dense_cf = [l for l in nchw.layers if type(l).__name__ == 'Dense'][0].get_weights()[0]
    dense_cl = [l for l in nhwc.layers if type(l).__name__ == 'Dense'][0].get_weights()[0]
    order = np.arange(16).reshape(4, 2, 2).transpose(1, 2, 0).ravel()
    assert np.array_equal(dense_cl, dense_cf[order])


def test_channels_first_import_uses_keras_layers():
    kinds = {type(layer).__name__ for layer in from_onnx(small_cnn()).layers}
    assert {'Conv2D', 'Dense', 'Activation', 'Flatten'} <= kinds


def _roundtrip_json(model):
    clone = model_from_json(model.to_json())
    clone.set_weights(model.get_weights())
    return clone


@pytest.mark.parametrize('data_format', ['channels_first', 'channels_last'])
def test_imported_model_saves_and_reloads(tmp_path, data_format):
    from kzoo.models import load_model
    model = from_onnx(small_cnn(), data_format=data_format)
    x = np.random.default_rng(2).standard_normal((1,) + model.input_shape[1:]).astype('float32')
    expected = model.predict(x)
    assert np.array_equal(_roundtrip_json(model).predict(x), expected)
    path = str(tmp_path / 'imported.h5')
    model.save(path)
    assert np.array_equal(load_model(path).predict(x), expected)


def test_onnx_layers_with_constant_weights_reload(tmp_path):
    """Generic ONNX layers keep large constants as weights (saved in the weight file)."""
    rng = np.random.default_rng(3)
    table = rng.standard_normal((100, 4)).astype('float32')
    nodes = [helper.make_node('Gather', ['table', 'ids'], ['emb']),
             helper.make_node('ReduceMean', ['emb'], ['y'], axes=[1], keepdims=0)]
    graph = helper.make_graph(
        nodes, 'embed', [helper.make_tensor_value_info('ids', TensorProto.INT64, [2, 3])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [2, 4])],
        initializer=[numpy_helper.from_array(table, 'table')])
    proto = helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', 13)])
    model = from_onnx(proto)
    ids = np.array([[1, 5, 99], [0, 0, 7]], 'int64')
    expected = ort_run(proto, {'ids': ids})[0]
    assert_matches(run_model(model, [ids])[0], expected, TOLERANCE)
    gather = [l for l in model.layers if type(l).__name__ == 'OnnxGather'][0]
    assert [w.shape for w in gather.get_weights()] == [(100, 4)]
    clone = _roundtrip_json(model)
    assert np.array_equal(run_model(clone, [ids])[0], run_model(model, [ids])[0])
    from kzoo.models import load_model
    path = str(tmp_path / 'embed.h5')
    model.save(path)
    assert np.array_equal(run_model(load_model(path), [ids])[0], run_model(model, [ids])[0])


def test_static_shape_chains_fold_to_constants():
    """PyTorch's Shape -> Gather -> Unsqueeze -> Concat -> Reshape flatten folds away."""
    nodes = [
        helper.make_node('Shape', ['x'], ['s']),
        helper.make_node('Gather', ['s', 'zero'], ['n'], axis=0),
        helper.make_node('Unsqueeze', ['n', 'axes'], ['n1']),
        helper.make_node('Concat', ['n1', 'minus_one'], ['shape'], axis=0),
        helper.make_node('Reshape', ['x', 'shape'], ['y'])]
    inits = [numpy_helper.from_array(np.asarray(0, 'int64'), 'zero'),
             numpy_helper.from_array(np.asarray([0], 'int64'), 'axes'),
             numpy_helper.from_array(np.asarray([-1], 'int64'), 'minus_one')]
    graph = helper.make_graph(
        nodes, 'flat', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [2, 12])], initializer=inits)
    proto = helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', 13)])
    model = from_onnx(proto)
    assert [type(l).__name__ for l in model.layers] == ['InputLayer', 'Reshape']
    x = np.arange(24, dtype='float32').reshape(2, 3, 4)
    assert np.array_equal(model.predict(x), x.reshape(2, 12))


def test_dynamic_shapes_stay_symbolic():
    """With an unknown batch the Shape is computed at run time (None dimensions)."""
    nodes = [helper.make_node('Shape', ['x'], ['s']),
             helper.make_node('Reshape', ['x', 's'], ['y'])]
    graph = helper.make_graph(
        nodes, 'dyn', [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['n', 3])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, ['n', 3])])
    model = from_onnx(helper.make_model(graph, opset_imports=[
        helper.make_operatorsetid('', 13)]))
    assert 'OnnxShape' in [type(l).__name__ for l in model.layers]
    assert model.output_shape == (None, None)
    x = np.ones((5, 3), 'float32')
    assert model.predict(x).shape == (5, 3)


def test_huge_constant_is_not_computed_at_import():
    nodes = [helper.make_node('ConstantOfShape', ['shape'], ['big']),
             helper.make_node('Add', ['x', 'big'], ['y'])]
    graph = helper.make_graph(
        nodes, 'bomb', [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.asarray([2 ** 40], 'int64'), 'shape')])
    with pytest.raises(ConversionError, match='ConstantOfShape.*bytes'):
        from_onnx(helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', 13)]))


def _one_node(op_type, opset=13, domain='', **attrs):
    graph = helper.make_graph(
        [helper.make_node(op_type, ['x'], ['y'], domain=domain, **attrs)], 'one',
        [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 4])])
    opsets = [helper.make_operatorsetid('', opset)]
    if domain:
        opsets.append(helper.make_operatorsetid(domain, 1))
    return helper.make_model(graph, opset_imports=opsets)


def test_unsupported_operator_is_named():
    with pytest.raises(UnsupportedOperatorError, match="'Hardmax'.*not supported"):
        from_onnx(_one_node('Hardmax'))
    with pytest.raises(UnsupportedOperatorError, match="'Foo' of domain 'com.example'"):
        from_onnx(_one_node('Foo', domain='com.example'))


def test_missing_file_and_bad_options():
    with pytest.raises(FileFormatError, match='cannot be read'):
        from_onnx(os.path.join(os.sep, 'nonexistent', 'model.onnx'))
    with pytest.raises(ConfigError, match='data_format'):
        from_onnx(_one_node('Relu'), data_format='nhwc')


def test_graph_of_constants_only_is_refused():
    graph = helper.make_graph(
        [helper.make_node('Constant', [], ['y'], value=numpy_helper.from_array(
            np.ones(2, 'float32')))], 'consts', [],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [2])])
    with pytest.raises(ConversionError, match='no inputs'):
        from_onnx(helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', 13)]))


def test_registry_refuses_duplicates_and_picks_the_schema_version():
    from kzoo.converters.onnx_import.registry import find_handler, onnx_op
    with pytest.raises(ValueError, match='registered twice'):
        onnx_op('Relu', 14)(lambda ctx, node, inputs: inputs)
    # opset 12 selects Relu's schema of opset 6; opset 20 the one of 14
    assert find_handler('', 'Relu', 12).since_version == 6
    assert find_handler('ai.onnx', 'Relu', 20).since_version == 14
    assert find_handler('', 'Softmax', 12).since_version == 11


@pytest.mark.slow
@pytest.mark.parametrize('name', ['squeezenet', 'resnet50', 'inception_v2'])
def test_light_model_imported_channels_last(name):
    """Real architectures of onnx's light set, imported NHWC: the shipped expected
    output on onnx's own dummy input (fed NHWC), onnx's runner tolerances, and no
    transposes inside the model."""
    from onnx.backend.test.runner import Runner
    from onnx_import_cases import light_model_path
    path = light_model_path(name)
    proto = onnx.load(path)
    initializers = {t.name for t in proto.graph.initializer}
    feeds = {i.name: Runner.generate_dummy_data(i, seed=0, name=name, random=False)
             for i in proto.graph.input if i.name not in initializers}
    expected = numpy_helper.to_array(onnx.load_tensor(path[:-5] + '_output_0.pb'))
    model = from_onnx(path, data_format='channels_last')
    assert model.nhwc_inputs == [True]
    kinds = [type(layer).__name__ for layer in model.layers]
    assert 'OnnxTranspose' not in kinds and 'Permute' not in kinds
    got = run_model(model, [np.moveaxis(feeds[n], 1, -1) for n in model.onnx_input_names])
    got = [np.moveaxis(g, -1, 1) if nhwc else g for g, nhwc in zip(got, model.nhwc_outputs)]
    Runner.assert_similar_outputs([expected], got, rtol=1e-3, atol=1e-7)


def test_saved_import_reloads_in_a_fresh_process(tmp_path):
    """The ONNX layers register when kzoo.converters loads (no onnx import needed)."""
    import subprocess
    import sys
    model = from_onnx(small_cnn())
    assert any(type(l).__name__.startswith('Onnx') for l in model.layers)
    path = str(tmp_path / 'imported.h5')
    model.save(path)
    x = np.random.default_rng(4).standard_normal((1, 3, 9, 9)).astype('float32')
    np.save(str(tmp_path / 'x.npy'), x)
    code = ('import sys, numpy as np\nfrom kzoo.models import load_model\n'
            'm = load_model(%r)\nnp.save(%r, m.predict(np.load(%r)))\n'
            'assert "onnx" not in sys.modules\n'
            % (path, str(tmp_path / 'y.npy'), str(tmp_path / 'x.npy')))
    subprocess.run([sys.executable, '-c', code], check=True)
    assert np.array_equal(np.load(str(tmp_path / 'y.npy')), model.predict(x))
