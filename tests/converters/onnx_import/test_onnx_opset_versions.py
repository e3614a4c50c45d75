"""Operator versions the onnx node tests do not reach (they are written at the newest
opset), each checked against onnxruntime: attributes that later became inputs (Slice,
Pad, Split, Squeeze, Clip, ReduceMean, Upsample), Softmax's 2-D coercion before opset
13, Resize-10, legacy broadcasting before opset 7, and the constant-weight paths (kzoo
``Conv2D``, ``Conv2DTranspose``, ``Dense``, ``LSTM``/``GRU``/``SimpleRNN``) with the
attributes real exporters write. Models before opset 7, which onnxruntime no longer
runs, are upgraded by onnx's version converter for the oracle only. Image models are
also imported channels_last and fed NHWC. Scaled max error 1e-4.
"""
import numpy as np
import pytest

import onnx
from onnx import helper, numpy_helper

from helpers import assert_matches
from kzoo.converters import from_onnx
from kzoo.converters.onnx_import.backend import run_model

TOLERANCE = 1e-4
RNG = np.random.default_rng(1234)


def arr(*shape, dtype='float32', low=None):
    if dtype.startswith('int'):
        return RNG.integers(low or 0, 4, size=shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def model(op, inputs, opset, attrs=None, constants=None, outputs=1, extra_nodes=()):
    """A one-node model: ``inputs`` (name -> array) are graph inputs, ``constants``
    (name -> array) initializers; operand order is inputs then constants unless the
    names say otherwise (a list of names in ``attrs['_order']``)."""
    attrs = dict(attrs or {})
    constants = constants or {}
    order = attrs.pop('_order', list(inputs) + list(constants))
    names = ['out%d' % i for i in range(outputs)]
    nodes = [helper.make_node(op, order, names, **attrs)] + list(extra_nodes)
    graph = helper.make_graph(
        nodes, op.lower(),
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
         for n, a in inputs.items()],
        [helper.make_empty_tensor_value_info(n) for n in names],
        initializer=[numpy_helper.from_array(a, n) for n, a in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid('', opset)],
                             ir_version=7)


def oracle(proto, feeds):
    proto = ORACLE_MODELS.get(proto.graph.name, proto)
    if any(a.name == 'layout' and a.i == 1 for n in proto.graph.node for a in n.attribute):
        # onnxruntime refuses batch-major recurrent layers; onnx's reference runs them
        from onnx.reference import ReferenceEvaluator
        return ReferenceEvaluator(proto).run(None, feeds)
    ort = pytest.importorskip('onnxruntime')
    if proto.opset_import[0].version < 7:
        from onnx import version_converter
        proto = version_converter.convert_version(proto, 7)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=['CPUExecutionProvider'])
    return session.run(None, feeds)


def check(proto, feeds, layouts=('channels_first',), uses=None):
    expected = oracle(proto, feeds)
    for data_format in layouts:
        kzoo_model = from_onnx(proto, data_format=data_format)
        arrays = [np.moveaxis(feeds[n], 1, -1) if nhwc else feeds[n]
                  for n, nhwc in zip(kzoo_model.onnx_input_names, kzoo_model.nhwc_inputs)]
        got = run_model(kzoo_model, arrays)
        assert len(got) == len(expected)
        for g, e, nhwc in zip(got, expected, kzoo_model.nhwc_outputs):
            g = np.moveaxis(g, -1, 1) if nhwc else g
            assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, e.shape, g.dtype)
            assert_matches(g, e, TOLERANCE, what='%s output (%s)' % (data_format,
                                                                    proto.graph.name))
        if uses:
            kinds = {type(layer).__name__ for layer in kzoo_model.layers}
            assert uses in kinds, kinds


X4 = arr(2, 3, 7, 6)


# graph name -> the model onnxruntime runs in its place
ORACLE_MODELS = {}


def _legacy_add():
    """Add-6 with ``broadcast=1, axis=1``: B of shape (C,) aligned with axis 1. The
    version converter cannot upgrade it; the oracle is the spec's opset-7 spelling,
    B as (C, 1, 1)."""
    b = arr(3)
    proto = model('Add', {'x': X4}, 6, dict(broadcast=1, axis=1), constants={'b': b})
    proto.graph.name = 'add_legacy_broadcast'
    ORACLE_MODELS[proto.graph.name] = model('Add', {'x': X4}, 7,
                                            constants={'b': b.reshape(3, 1, 1)})
    return proto, {'x': X4}
BOTH = ('channels_first', 'channels_last')

CASES = {
    # attributes that became inputs
    'slice_9': lambda: (model('Slice', {'x': X4}, 9, dict(starts=[1, -5], ends=[3, 100],
                                                         axes=[1, 3])), {'x': X4}),
    'slice_13_steps': lambda: (model('Slice', {'x': X4}, 13, constants={
        'starts': np.array([6, 1], 'int64'), 'ends': np.array([0, -1], 'int64'),
        'axes': np.array([2, 3], 'int64'), 'steps': np.array([-2, 2], 'int64')}), {'x': X4}),
    'pad_2_reflect': lambda: (model('Pad', {'x': X4}, 2, dict(
        pads=[0, 0, 1, 2, 0, 0, 2, 1], mode='reflect')), {'x': X4}),
    'pad_2_constant': lambda: (model('Pad', {'x': X4}, 2, dict(
        pads=[0, 1, 1, 0, 0, 0, 2, 3], value=1.5)), {'x': X4}),
    'pad_11_edge': lambda: (model('Pad', {'x': X4}, 11, dict(mode='edge'), constants={
        'pads': np.array([0, 0, 2, 1, 0, 0, 0, 3], 'int64')}), {'x': X4}),
    'pad_18_axes_crop': lambda: (model('Pad', {'x': X4}, 18, constants={
        'pads': np.array([1, -1, 2, -2], 'int64'), 'value': np.array(0.5, 'float32'),
        'axes': np.array([2, 3], 'int64')}), {'x': X4}),
    'split_2': lambda: (model('Split', {'x': X4}, 2, dict(axis=2, split=[3, 4]), outputs=2),
                        {'x': X4}),
    'split_11_equal': lambda: (model('Split', {'x': X4}, 11, dict(axis=3), outputs=3),
                               {'x': X4}),
    'squeeze_11': lambda: (model('Squeeze', {'x': arr(2, 1, 3, 1)}, 11, dict(axes=[1, -1])),
                           None),
    'unsqueeze_11': lambda: (model('Unsqueeze', {'x': arr(2, 3)}, 11, dict(axes=[0, 3])),
                             None),
    'clip_6': lambda: (model('Clip', {'x': X4}, 6, dict(min=-0.5, max=0.7)), {'x': X4}),
    'clip_11_min_only': lambda: (model('Clip', {'x': X4}, 11, constants={
        'min': np.array(-0.2, 'float32')}), {'x': X4}),
    'clip_12_int': lambda: (model('Clip', {'x': arr(3, 4, dtype='int32')}, 12, constants={
        'min': np.array(1, 'int32'), 'max': np.array(2, 'int32')}), None),
    'reduce_mean_11': lambda: (model('ReduceMean', {'x': X4}, 11, dict(axes=[2, 3],
                                                                      keepdims=0)), {'x': X4}),
    'reduce_mean_11_keep': lambda: (model('ReduceMean', {'x': X4}, 11, dict(axes=[1])),
                                    {'x': X4}),
    'reduce_mean_18': lambda: (model('ReduceMean', {'x': X4}, 18, constants={
        'axes': np.array([-1, 1], 'int64')}), {'x': X4}),
    'reduce_sum_11': lambda: (model('ReduceSum', {'x': X4}, 11, dict(axes=[0, 2])),
                              {'x': X4}),
    # Softmax before opset 13 normalizes the 2-D view [:axis] x [axis:]
    'softmax_11_axis1': lambda: (model('Softmax', {'x': X4}, 11, dict(axis=1)), {'x': X4}),
    'softmax_11_axis2': lambda: (model('Softmax', {'x': X4}, 11, dict(axis=2)), {'x': X4}),
    'log_softmax_11': lambda: (model('LogSoftmax', {'x': X4}, 11), {'x': X4}),
    'softmax_13_axis1': lambda: (model('Softmax', {'x': X4}, 13, dict(axis=1)), {'x': X4}),
    # legacy broadcasting (opset < 7): the second operand aligned from `axis`
    'add_6_broadcast_axis': lambda: _legacy_add(),
    'mul_6_broadcast_suffix': lambda: (model('Mul', {'x': X4}, 6, dict(broadcast=1),
                                             constants={'b': arr(7, 6)}), {'x': X4}),
    'sub_7_numpy': lambda: (model('Sub', {'x': X4}, 7, constants={'b': arr(3, 1, 1)}),
                            {'x': X4}),
    'div_13_int': lambda: (model('Div', {'x': arr(3, 4, dtype='int64') - 2}, 13, constants={
        'b': np.array([3, -2, 1, 2], 'int64')}), None),
    'prelu_7': lambda: (model('PRelu', {'x': X4}, 7, constants={'s': arr(3, 1, 1)}),
                        {'x': X4}),
    # Upsample and Resize-10 (asymmetric coordinates)
    'upsample_7_nearest': lambda: (model('Upsample', {'x': X4}, 7, dict(
        scales=[1., 1., 2., 3.], mode='nearest')), {'x': X4}),
    'upsample_9_linear': lambda: (model('Upsample', {'x': X4}, 9, dict(mode='linear'),
                                        constants={'s': np.array([1, 1, 2, 2], 'float32')}),
                                  {'x': X4}),
    'resize_10_nearest_down': lambda: (model('Resize', {'x': X4}, 10, constants={
        's': np.array([1, 1, 0.6, 0.5], 'float32')}), {'x': X4}),
    'resize_10_linear': lambda: (model('Resize', {'x': X4}, 10, dict(mode='linear'),
                                       constants={'s': np.array([1, 1, 1.5, 2], 'float32')}),
                                 {'x': X4}),
    'resize_11_sizes_cubic': lambda: (model('Resize', {'x': X4}, 11, dict(
        mode='cubic', _order=['x', 'roi', 'scales', 'sizes']), constants={
        'roi': np.zeros(0, 'float32'), 'scales': np.zeros(0, 'float32'),
        'sizes': np.array([2, 3, 11, 4], 'int64')}), {'x': X4}),
    'resize_13_align_corners': lambda: (model('Resize', {'x': X4}, 13, dict(
        mode='linear', coordinate_transformation_mode='align_corners',
        _order=['x', '', 'scales']), constants={'scales': np.array([1, 1, 2, 1.5],
                                                                   'float32')}), {'x': X4}),
    'resize_19_nearest_ceil': lambda: (model('Resize', {'x': X4}, 19, dict(
        mode='nearest', nearest_mode='ceil', coordinate_transformation_mode='half_pixel',
        _order=['x', '', 'scales']), constants={'scales': np.array([1, 1, 1.7, 0.8],
                                                                   'float32')}), {'x': X4}),
    # normalization and others
    'batchnorm_7': lambda: (model('BatchNormalization', {'x': X4}, 7, dict(epsilon=1e-3),
                                  constants={'s': arr(3), 'b': arr(3), 'm': arr(3),
                                             'v': np.abs(arr(3)) + 0.5}), {'x': X4}),
    'batchnorm_9_2d': lambda: (model('BatchNormalization', {'x': arr(4, 3)}, 9, constants={
        's': arr(3), 'b': arr(3), 'm': arr(3), 'v': np.abs(arr(3)) + 0.5}), None),
    'instancenorm_6': lambda: (model('InstanceNormalization', {'x': X4}, 6, constants={
        's': arr(3), 'b': arr(3)}), {'x': X4}),
    'layernorm_17': lambda: (model('LayerNormalization', {'x': X4}, 17, dict(axis=2),
                                   constants={'s': arr(7, 6), 'b': arr(7, 6)}), None),
    'lrn_13': lambda: (model('LRN', {'x': X4}, 13, dict(size=3, alpha=1e-2, beta=0.6,
                                                       bias=1.5)), {'x': X4}),
    'dropout_7': lambda: (model('Dropout', {'x': X4}, 7, dict(ratio=0.3)), None),
    'dropout_12_mask': lambda: (model('Dropout', {'x': X4}, 12, outputs=2), None),
    'depth_to_space_11_crd': lambda: (model('DepthToSpace', {'x': arr(2, 8, 3, 2)}, 11, dict(
        blocksize=2, mode='CRD')), {'x': arr(2, 8, 3, 2)}),
    'space_to_depth_13': lambda: (model('SpaceToDepth', {'x': arr(2, 3, 4, 6)}, 13, dict(
        blocksize=2)), {'x': arr(2, 3, 4, 6)}),
    'flatten_9_axis2': lambda: (model('Flatten', {'x': X4}, 9, dict(axis=2)), {'x': X4}),
    'concat_4_nhwc': lambda: (model('Concat', {'x': X4}, 4, dict(axis=1), constants={
        'c': arr(2, 2, 7, 6)}), {'x': X4}),
    'gather_11_negative': lambda: (model('Gather', {'x': X4}, 11, dict(axis=3), constants={
        'i': np.array([[-1, 0], [2, -3]], 'int64')}), {'x': X4}),
    'transpose_13': lambda: (model('Transpose', {'x': X4}, 13, dict(perm=[0, 2, 3, 1])),
                             {'x': X4}),
    'global_max_pool_1': lambda: (model('GlobalMaxPool', {'x': X4}, 1), {'x': X4}),
    # pooling versions
    'maxpool_8_indices': lambda: (model('MaxPool', {'x': X4}, 8, dict(
        kernel_shape=[3, 2], strides=[2, 1]), outputs=2), None),
    'maxpool_10_ceil_pads': lambda: (model('MaxPool', {'x': X4}, 10, dict(
        kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 1], ceil_mode=1)), {'x': X4}),
    'maxpool_12_dilations': lambda: (model('MaxPool', {'x': X4}, 12, dict(
        kernel_shape=[2, 2], dilations=[2, 1], pads=[1, 0, 1, 1])), {'x': X4}),
    'maxpool_12_same_upper': lambda: (model('MaxPool', {'x': X4}, 12, dict(
        kernel_shape=[3, 2], strides=[2, 2], auto_pad='SAME_UPPER')), {'x': X4}),
    'avgpool_7_count_pad': lambda: (model('AveragePool', {'x': X4}, 7, dict(
        kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)), {'x': X4}),
    'avgpool_11_same_lower': lambda: (model('AveragePool', {'x': X4}, 11, dict(
        kernel_shape=[2, 3], strides=[2, 2], auto_pad='SAME_LOWER')), {'x': X4}),
    'avgpool_19_dilations_ceil': lambda: (model('AveragePool', {'x': X4}, 19, dict(
        kernel_shape=[2, 2], dilations=[2, 2], strides=[2, 2], ceil_mode=1,
        pads=[1, 1, 0, 0])), {'x': X4}),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_operator_version_matches_onnxruntime(name):
    proto, nhwc_feeds = CASES[name]()
    feeds = {i.name: RNG.standard_normal([d.dim_value for d in i.type.tensor_type.shape.dim]
                                         ).astype('float32')
             if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT else None
             for i in proto.graph.input}
    for i in proto.graph.input:
        if feeds[i.name] is None:
            feeds[i.name] = arr(*[d.dim_value for d in i.type.tensor_type.shape.dim],
                                dtype=np.dtype(helper.tensor_dtype_to_np_dtype(
                                    i.type.tensor_type.elem_type)).name)
    check(proto, feeds, BOTH if nhwc_feeds is not None else ('channels_first',))


# ---- constant weights: kzoo's Keras layers ---------------------------------------------

def test_layer_normalization_single_output_is_keras():
    x = arr(2, 3, 4, 5)
    proto = model('LayerNormalization', {'x': x}, 17, dict(axis=1, epsilon=1e-3),
                  constants={'s': arr(4, 5), 'b': arr(3, 4, 5)})
    check(proto, {'x': x}, uses='LayerNormalization')


def conv_case(opset=11, **attrs):
    w = arr(*attrs.pop('w_shape', (4, 3, 3, 3)))
    constants = {'w': w}
    if attrs.pop('bias', True):
        constants['b'] = arr(w.shape[0])
    return model('Conv', {'x': X4}, opset, attrs, constants)


CONV_CASES = {
    'same_upper_stride2': dict(auto_pad='SAME_UPPER', strides=[2, 2]),
    'same_lower': dict(auto_pad='SAME_LOWER', strides=[2, 1]),
    'valid': dict(auto_pad='VALID'),
    'symmetric_same': dict(pads=[1, 1, 1, 1]),
    'asymmetric': dict(pads=[0, 2, 1, 0], strides=[1, 2]),
    'dilated': dict(pads=[2, 1, 2, 1], dilations=[2, 1], bias=False),
    'depthwise': dict(group=3, w_shape=(6, 1, 3, 3), pads=[1, 1, 1, 1]),
    'grouped_1x1': dict(group=3, w_shape=(3, 1, 1, 1)),
}


@pytest.mark.parametrize('name', sorted(CONV_CASES))
def test_conv_with_constant_weights(name):
    check(conv_case(**dict(CONV_CASES[name])), {'x': X4}, BOTH, uses='Conv2D')


CONV_T_CASES = {
    'stride2': dict(strides=[2, 2]),
    'pads_output_padding': dict(strides=[3, 2], pads=[1, 0, 1, 1], output_padding=[1, 0]),
    'output_shape': dict(strides=[2, 2], output_shape=[15, 12]),
    'same_upper': dict(strides=[2, 2], auto_pad='SAME_UPPER'),
    'dilated': dict(dilations=[2, 2], pads=[1, 1, 1, 1]),
}


@pytest.mark.parametrize('name', sorted(CONV_T_CASES))
def test_conv_transpose_with_constant_weights(name):
    proto = model('ConvTranspose', {'x': X4}, 11, CONV_T_CASES[name],
                  {'w': arr(3, 5, 3, 3), 'b': arr(5)})
    # output_padding past the full output gets the bias too: OnnxConvTranspose then
    uses = None if name == 'pads_output_padding' else 'Conv2DTranspose'
    check(proto, {'x': X4}, BOTH, uses=uses)


def test_conv_transpose_grouped():
    proto = model('ConvTranspose', {'x': arr(2, 4, 5, 5)}, 11, dict(group=2, strides=[2, 1]),
                  {'w': arr(4, 3, 2, 3)})
    check(proto, {'x': arr(2, 4, 5, 5)}, BOTH)


@pytest.mark.parametrize('opset, attrs, c_shape', [(7, {}, (5,)), (9, dict(transB=1), (1, 5)),
                                                   (11, dict(alpha=0.5, beta=2.), (4, 5)),
                                                   (13, dict(transA=1), None)])
def test_gemm_versions(opset, attrs, c_shape):
    x = arr(4, 3)
    b = arr(5, 3) if attrs.get('transB') else arr(3, 5)
    constants = {'b': b}
    if c_shape is not None:
        constants['c'] = arr(*c_shape)
    if attrs.get('transA'):
        x = arr(3, 4)
    check(model('Gemm', {'x': x}, opset, attrs, constants), {'x': x})


def _rnn(op, opset, hidden, attrs, x, bias=True, lens=None, h0=None, c0=None, dirs=1):
    gates = {'LSTM': 4, 'GRU': 3, 'RNN': 1}[op]
    constants = {'W': arr(dirs, gates * hidden, x.shape[-1]) * 0.5,
                 'R': arr(dirs, gates * hidden, hidden) * 0.5}
    order = ['x', 'W', 'R']
    optional = [('B', arr(dirs, 2 * gates * hidden) if bias else None), ('lens', lens),
                ('h0', h0)] + ([('c0', c0)] if op == 'LSTM' else [])
    for name, value in optional:
        if value is not None:
            constants[name] = value
        order.append(name if value is not None else '')
    while order and order[-1] == '':
        order.pop()
    attrs = dict(attrs, hidden_size=hidden, _order=order)
    outputs = 3 if op == 'LSTM' else 2
    return model(op, {'x': x}, opset, attrs, constants, outputs=outputs)


RNN_CASES = {
    'lstm_7_forward': ('LSTM', 7, {}, {}),
    'lstm_7_reverse_h0c0': ('LSTM', 7, dict(direction='reverse'), dict(h0=True, c0=True)),
    'lstm_14_bidirectional': ('LSTM', 14, dict(direction='bidirectional'), {}),
    'lstm_14_batch_major': ('LSTM', 14, dict(layout=1), dict(h0=True)),
    'lstm_7_seq_lens': ('LSTM', 7, dict(direction='bidirectional'), dict(lens=True)),
    'lstm_7_clip_peephole_free': ('LSTM', 7, dict(clip=0.6), {}),
    'lstm_7_input_forget': ('LSTM', 7, dict(input_forget=1), {}),
    'gru_7_linear_before_reset': ('GRU', 7, dict(linear_before_reset=1), {}),
    'gru_7_reset_before': ('GRU', 7, {}, dict(h0=True)),
    'gru_14_bidirectional_relu': ('GRU', 14, dict(
        direction='bidirectional', activations=['Sigmoid', 'Relu'] * 2), {}),
    'rnn_7_tanh_no_bias': ('RNN', 7, {}, dict(no_bias=True)),
    'rnn_14_reverse_relu': ('RNN', 14, dict(direction='reverse', activations=['Relu']), {}),
    'rnn_7_hardsigmoid_alpha': ('RNN', 7, dict(activations=['HardSigmoid'],
                                               activation_alpha=[0.3],
                                               activation_beta=[0.4]), {}),
}


@pytest.mark.parametrize('name', sorted(RNN_CASES))
def test_recurrent_versions(name):
    op, opset, attrs, extras = RNN_CASES[name]
    hidden, batch, steps = 4, 3, 5
    dirs = 2 if attrs.get('direction') == 'bidirectional' else 1
    batch_major = attrs.get('layout', 0)
    x = arr(batch, steps, 2) if batch_major else arr(steps, batch, 2)
    state_shape = (batch, dirs, hidden) if batch_major else (dirs, batch, hidden)
    proto = _rnn(op, opset, hidden, attrs, x, bias=not extras.get('no_bias'),
                 lens=np.array([5, 2, 4], 'int32') if extras.get('lens') else None,
                 h0=arr(*state_shape) if extras.get('h0') else None,
                 c0=arr(*state_shape) if extras.get('c0') else None, dirs=dirs)
    keras = {'LSTM': 'LSTM', 'GRU': 'GRU', 'RNN': 'SimpleRNN'}[op]
    generic = extras.get('lens') or 'clip' in attrs or attrs.get('input_forget') or \
        'activation_alpha' in attrs
    check(proto, {'x': x}, uses='OnnxRecurrent' if generic else keras)
