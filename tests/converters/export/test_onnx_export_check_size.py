"""Checking an ONNX export at a smaller input size (``check_size``) proves what the
check at the model's own size proves, or is not used.

Oracles: the written file run by onnxruntime at the model's own input size against
kzoo's plain forward pass (tolerance 1e-4 scaled by ``max(1, max|expected|)``), and
the graph the exporter builds for the model's size.
"""
import os

import numpy as np
import pytest

from export_cases import damage_layer_loading, randomize
from helpers import assert_matches
from kzoo import layers as L
from kzoo.converters import convert
from kzoo.converters.onnx_export.check import kzoo_outputs, onnxruntime_outputs, sample_inputs
from kzoo.converters.onnx_export.check_size import (CheckSize, _taps, same_graph,
                                                    smaller_check_size)
from kzoo.converters.onnx_export.export import build_graph
from kzoo.errors import ConversionError
from kzoo.models import Model

TOLERANCE = 1e-4


def residual_cnn(size=64, name='residual'):
    """Strided valid and same windows, a residual sum and global pooling."""
    x = L.Input(shape=(size, size, 3), name='image')
    y = L.ZeroPadding2D(1)(x)
    y = L.Conv2D(8, 3, strides=2, activation='relu')(y)
    y = L.MaxPooling2D(3, strides=2, padding='same')(y)
    z = L.Conv2D(8, 3, padding='same')(y)
    z = L.BatchNormalization()(z)
    y = L.Activation('relu')(L.Add()([y, z]))
    y = L.Conv2D(16, 3, strides=2, padding='same')(y)
    y = L.DepthwiseConv2D(3, padding='same')(y)
    y = L.AveragePooling2D(2)(y)
    y = L.GlobalAveragePooling2D()(y)
    return randomize(Model(x, L.Dense(5, activation='softmax')(y), name=name))


def flatten_cnn():
    x = L.Input(shape=(64, 64, 3))
    y = L.Conv2D(4, 3, strides=4)(x)
    return randomize(Model(x, L.Dense(3)(L.Flatten()(y)), name='flat'))


def full_size_matches(model, path):
    inputs = sample_inputs(model, 2, seed=5)
    for a, e in zip(onnxruntime_outputs(path, inputs), kzoo_outputs(model, inputs)):
        assert_matches(a, e, TOLERANCE)


def test_resnet_like_model_is_checked_smaller_and_the_file_is_right(tmp_path):
    model = residual_cnn()
    src, dst = str(tmp_path / 'm.h5'), str(tmp_path / 'm.onnx')
    model.save(src)
    result = convert(src, dst)
    assert any('checked at input size 32x32x3' in n for n in result.notes), result.notes
    assert result.max_error <= TOLERANCE
    assert sorted(os.listdir(tmp_path)) == ['m.h5', 'm.onnx']   # no view left behind
    import onnx
    dims = [d.dim_value for d in onnx.load(dst).graph.input[0].type.tensor_type.shape.dim[1:]]
    assert dims == [64, 64, 3]   # the written file keeps the model's size
    full_size_matches(model, dst)


def test_smaller_graph_has_the_written_nodes():
    model = residual_cnn()
    graph = build_graph(model)
    size = smaller_check_size(model, graph, 17, True)
    assert isinstance(size, CheckSize) and size.shapes == [(None, 32, 32, 3)]
    assert same_graph(graph, size.graph)
    assert [n.attributes for n in graph.nodes] == [n.attributes for n in size.graph.nodes]
    assert size.graph.inputs[0][2] == ['batch', 32, 32, 3]


def test_same_graph_at_the_models_own_size():
    model = residual_cnn()
    assert same_graph(build_graph(model), build_graph(model, input_shapes=[(None, 64, 64, 3)]))


def test_remainder_modulo_32_is_kept():
    """A 'same' strided window pads by the size's remainder: 70 is checked at 38."""
    model = residual_cnn(70)
    size = smaller_check_size(model, build_graph(model), 17, True)
    assert size.shapes == [(None, 38, 38, 3)]


def test_flatten_into_dense_is_checked_at_full_size(tmp_path):
    model = flatten_cnn()
    assert smaller_check_size(model, build_graph(model), 17, True) is None
    src, dst = str(tmp_path / 'f.h5'), str(tmp_path / 'f.onnx')
    model.save(src)
    result = convert(src, dst)
    assert not any('checked at input size' in n for n in result.notes)
    full_size_matches(model, dst)


def test_full_size_check_option(tmp_path):
    model = residual_cnn()
    src, dst = str(tmp_path / 'm.h5'), str(tmp_path / 'm.onnx')
    model.save(src)
    result = convert(src, dst, full_size_check=True)
    assert not any('checked at input size' in n for n in result.notes)
    assert result.max_error <= TOLERANCE


def test_unused_kernel_taps_rule_a_size_out():
    # a 7-wide 'same' window on 3 cells leaves its outer taps on padding only
    assert _taps(3, 7, 1, 1, 'same') == {1, 2, 3, 4, 5}
    assert _taps(5, 7, 1, 1, 'same') == set(range(7))
    assert _taps(2, 3, 1, 1, 'same') == {0, 1, 2}
    assert _taps(1, 3, 1, 1, 'same') == {1}
    x = L.Input(shape=(40, 40, 3))
    y = L.Conv2D(4, 3, strides=2, padding='same')(x)      # 20
    y = L.Conv2D(4, 3, strides=2, padding='same')(y)      # 10
    y = L.Conv2D(4, 7, padding='same')(y)                 # 7 taps need 4+ cells at 10
    model = randomize(Model(x, L.GlobalMaxPooling2D()(y)))
    # 8 -> 4 -> 2 leaves taps unused; 40 is not under half the work
    assert smaller_check_size(model, build_graph(model), 17, True) is None


def test_channels_first_and_sequences():
    x = L.Input(shape=(3, 64, 64))
    y = L.Conv2D(4, 3, padding='same', data_format='channels_first')(x)
    y = L.GlobalAveragePooling2D(data_format='channels_first')(y)
    model = randomize(Model(x, y))
    size = smaller_check_size(model, build_graph(model), 17, True)
    assert size.shapes == [(None, 3, 32, 32)]
    s = L.Input(shape=(64, 4))
    seq = randomize(Model(s, L.LSTM(3)(s)))
    assert smaller_check_size(seq, build_graph(seq), 17, True) is None


def test_a_disagreement_at_the_smaller_size_fails(tmp_path, monkeypatch):
    from kzoo.converters.onnx_export import check
    model = residual_cnn()
    src, dst = str(tmp_path / 'm.h5'), str(tmp_path / 'm.onnx')
    model.save(src)
    real = check.onnxruntime_outputs
    monkeypatch.setattr(check, 'onnxruntime_outputs',
                        lambda path, arrays: [a + 0.01 for a in real(path, arrays)])
    with pytest.raises(ConversionError, match='input shapes'):
        convert(src, dst)
    assert sorted(os.listdir(tmp_path)) == ['m.h5']


def test_blas_one_thread_restores():
    from kzoo.converters.onnx_export import blas
    functions = blas._functions()
    if functions is None:
        pytest.skip('numpy does not use OpenBLAS here')
    get, _ = functions
    before = get()
    with blas.one_thread():
        assert get() == 1
        np.dot(np.ones((64, 64)), np.ones((64, 64)))
    assert get() == before


def test_a_layer_that_cannot_run_smaller_falls_back_to_full_size(tmp_path, monkeypatch):
    model = residual_cnn()
    src, dst = str(tmp_path / 'm.h5'), str(tmp_path / 'm.onnx')
    model.save(src)
    real = L.AveragePooling2D.call

    def picky(self, inputs, *args, **kwargs):
        if inputs.shape[1] != 8:   # its input at the model's own size
            raise ValueError('only 8x8')
        return real(self, inputs, *args, **kwargs)
    monkeypatch.setattr(L.AveragePooling2D, 'call', picky)
    result = convert(src, dst)
    assert not any('checked at input size' in n for n in result.notes)
    assert result.max_error <= TOLERANCE
    monkeypatch.setattr(L.AveragePooling2D, 'call', real)
    full_size_matches(model, dst)


def test_a_loading_error_at_the_smaller_size_is_not_hidden(tmp_path, monkeypatch):
    from kzoo.errors import FileFormatError
    model = residual_cnn()
    src = str(tmp_path / 'm.h5')
    model.save(src)
    damage_layer_loading(monkeypatch, at=3)
    with pytest.raises(FileFormatError, match='damaged'):
        convert(src, str(tmp_path / 'm.onnx'))
    assert os.listdir(tmp_path) == ['m.h5']
