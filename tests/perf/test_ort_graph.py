"""The onnxruntime provider's own rewrites of kzoo's export (kzoo.engine.inference.ort_graph),
each against the plain path: folded where exact, left alone where not."""
import numpy as np
import pytest

from kzoo import backend as K
from kzoo.engine.inference.ort_graph import fold_zero_padding

from helpers import assert_matches
from perf_helpers import images, plain, randomize

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='the onnxruntime provider runs kzoo models on torch')


def _model(activation='relu', padding=1, pool=3, strides=2, pool_padding='valid',
           extra_reader=False):
    from kzoo.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D, ZeroPadding2D, add
    from kzoo.models import Model
    x = Input((11, 11, 3))
    y = Conv2D(6, 3, activation=activation)(x)
    padded = ZeroPadding2D(padding)(y)
    pooled = MaxPooling2D(pool, strides=strides, padding=pool_padding)(padded)
    out = Flatten()(pooled)
    if extra_reader:  # the padded tensor is read twice: the Pad must stay
        out = add([out, Flatten()(MaxPooling2D(pool, strides=strides,
                                               padding=pool_padding)(padded))])
    return randomize(Model(x, Dense(5)(out)))


def _folds(model):
    from kzoo.converters.onnx_export.export import build_graph
    graph = build_graph(model, dynamic_batch=True)
    pads = sum(n.op_type == 'Pad' for n in graph.nodes)
    folded = fold_zero_padding(graph)
    assert sum(n.op_type == 'Pad' for n in graph.nodes) == pads - folded
    used = {i for n in graph.nodes for i in n.inputs}
    assert set(graph.initializers) <= used  # no constant left behind
    return folded


def _check(model, folds):
    pytest.importorskip('onnxruntime')
    x = images((3, 11, 11, 3)) * 2
    with K.using('torch'):
        assert _folds(model) == folds
        expected = plain(model, x)
        assert_matches(model.predict(x, provider='onnxruntime'), expected, 1e-4)
        assert_matches(model.predict(x[:1], provider='onnxruntime'), expected[:1], 1e-4)


@pytest.mark.parametrize('padding', [1, ((0, 1), (1, 0)), ((2, 2), (1, 2))])
def test_zero_padding_after_relu_folds_into_max_pool(padding):
    with K.using('torch'):
        _check(_model(padding=padding), 1)


def test_fold_adds_to_the_pools_own_padding():
    with K.using('torch'):
        _check(_model(padding=1, pool_padding='same', strides=1), 1)


@pytest.mark.parametrize('options', [
    {'activation': None},          # negative values: zero padding can be the maximum
    {'activation': 'tanh'},
    {'padding': 2, 'pool': 2},     # a window of padding only
    {'extra_reader': True},        # the padded tensor has another reader
])
def test_zero_padding_kept_where_folding_is_not_exact(options):
    with K.using('torch'):
        model = _model(**options)
        _check(model, 0)
        if options.get('activation', 'relu') is None:
            x = images((2, 11, 11, 3)) * 2
            conv = model.layers[1]
            # the check above means something: the conv's outputs do go negative
            assert (np.asarray(K.to_numpy(conv(K.convert_to_tensor(x)))) < 0).any()
