"""The node tests again, with every input but the first made a constant.

The onnx node tests feed weights as graph inputs, so the importer computes them with
its own ONNX layers. Real models carry constant weights: then ``Conv`` becomes kzoo's
``Conv2D``, ``Gemm`` a ``Dense``, ``LSTM`` an ``LSTM``, shapes become static and
constant subgraphs fold. Same expected outputs, same tolerances as onnx's runner.
"""
import numpy as np
import pytest

from onnx.backend.test.runner import Runner

from kzoo.converters.onnx_import.backend import KzooBackend
from onnx_import_cases import EXCLUDED, frozen, node_cases, selected_node_names

MULTI_INPUT = [name for name in selected_node_names()
               if name not in EXCLUDED and len(node_cases()[name].model.graph.input) > 1]


@pytest.mark.parametrize('name', MULTI_INPUT)
def test_node_case_with_constant_operands(name):
    model, inputs, outputs = frozen(node_cases()[name])
    got = KzooBackend.prepare(model).run(inputs)
    Runner.assert_similar_outputs(outputs, list(got), rtol=1e-3, atol=1e-7)


# frozen case -> the kzoo layer class that must carry its computation
KERAS_LAYERS = {
    'test_basic_conv_with_padding': 'Conv2D',
    'test_conv_with_strides_and_asymmetric_padding': 'Conv2D',
    'test_convtranspose': 'Conv2DTranspose',
    'test_convtranspose_1d': 'Conv1DTranspose',
    'test_convtranspose_3d': 'Conv3DTranspose',
    'test_gemm_default_vector_bias': 'Dense',
    'test_gemm_transposeB': 'Dense',
    'test_matmul_2d': 'Dense',
    'test_lstm_defaults': 'LSTM',
    'test_lstm_with_initial_bias': 'LSTM',
    'test_lstm_bidirectional': 'LSTM',
    'test_gru_defaults': 'GRU',
    'test_gru_with_initial_bias': 'GRU',
    'test_gru_reverse': 'GRU',
    'test_simple_rnn_defaults': 'SimpleRNN',
    'test_simple_rnn_batchwise': 'SimpleRNN',
    'test_batchnorm_example': 'BatchNormalization',
    'test_prelu_broadcast': 'PReLU',
    'test_reshape_reordered_last_dims': 'Reshape',
    'test_clip_default_min': 'ReLU',
}

# cases whose inputs are all data: the layer kzoo builds for them as they are
KERAS_LAYERS_AS_IS = {
    'test_leakyrelu': 'LeakyReLU',
    'test_elu': 'ELU',
    'test_softmax_axis_1': 'Softmax',
    'test_maxpool_2d_default': 'MaxPooling2D',
    'test_averagepool_2d_same_upper': 'AveragePooling2D',
    'test_maxpool_3d_default': 'MaxPooling3D',
    'test_globalaveragepool': 'GlobalAveragePooling2D',
    'test_globalmaxpool': 'GlobalMaxPooling2D',
    'test_concat_2d_axis_1': 'Concatenate',
    'test_add': 'Add',
    'test_sub': 'Subtract',
    'test_mul': 'Multiply',
    'test_transpose_all_permutations_1': 'Permute',
    'test_flatten_axis1': 'Flatten',
}


@pytest.mark.parametrize('name', sorted(KERAS_LAYERS))
def test_constant_weights_use_kzoo_layers(name):
    model, inputs, outputs = frozen(node_cases()[name])
    rep = KzooBackend.prepare(model)
    classes = {type(layer).__name__ for layer in rep.model.layers}
    assert KERAS_LAYERS[name] in classes, classes
    Runner.assert_similar_outputs(outputs, list(rep.run(inputs)), rtol=1e-3, atol=1e-7)


@pytest.mark.parametrize('name', sorted(KERAS_LAYERS_AS_IS))
def test_data_only_cases_use_kzoo_layers(name):
    case = node_cases()[name]
    rep = KzooBackend.prepare(case.model)
    classes = {type(layer).__name__ for layer in rep.model.layers}
    assert KERAS_LAYERS_AS_IS[name] in classes, classes


def test_relu_is_a_keras_activation():
    case = node_cases()['test_relu']
    rep = KzooBackend.prepare(case.model)
    assert [type(layer).__name__ for layer in rep.model.layers][1:] == ['Activation']
    x = np.asarray(case.data_sets[0][0][0])
    assert np.array_equal(rep.run([x])[0], np.maximum(x, 0))
