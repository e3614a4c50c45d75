"""Writing an ONNX file while the weights are loaded (``BackgroundWrite``): each weight
is written only after its layer's plan step is reported loaded, and the file equals
the one written after loading.

Oracles: the bytes :func:`write_graph` writes for the fully loaded model, and the file
run by onnxruntime against kzoo's plain forward pass.
"""
import os
import time

import numpy as np
import pytest

from export_cases import damage_layer_loading, randomize
from helpers import assert_matches
from kzoo import layers as L
from kzoo.converters import convert
from kzoo.converters.onnx_export.check import kzoo_outputs, onnxruntime_outputs, sample_inputs
from kzoo.converters.onnx_export.export import (BackgroundWrite, Staging, build_graph,
                                                write_graph)
from kzoo.models import Model, Sequential


def nested_shared_model():
    inner = Sequential([L.Dense(6, activation='tanh', input_shape=(5,)), L.Dense(5)],
                       name='inner')
    x = L.Input(shape=(5,), name='x')
    shared = L.Dense(5, name='shared')
    y = shared(inner(shared(x)))
    return randomize(Model(x, L.Dense(2, name='out')(y), name='nested_shared'))


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.005)


def test_weights_remember_their_plan_step():
    model = nested_shared_model()
    graph = build_graph(model)
    plan = [node.outbound_layer.name for node in model._plan]
    assert plan == ['shared', 'inner', 'shared', 'out']
    inner = [layer.name for layer in model.get_layer('inner').layers]
    expected = {}
    for step, name in ((0, 'shared'), (1, inner[0]), (1, inner[1]), (3, 'out')):
        expected[name + '/kernel'] = expected[name + '/bias'] = step
    # the shared layer's weights belong to its first call; the nested model's to its own
    steps = {name: init.step for name, init in graph.initializers.items()
             if name in graph._keys.values()}
    assert steps == expected
    assert all(init.step == -1 for name, init in graph.initializers.items()
               if name not in graph._keys.values())


def test_writer_follows_the_loaded_steps(tmp_path):
    model = nested_shared_model()
    graph = build_graph(model)
    reference = tmp_path / 'ref'
    reference.mkdir()
    staging = Staging(str(reference / 'm.onnx'), False)
    write_graph(build_graph(model), staging)
    expected = open(staging.model_path, 'rb').read()
    staging.discard()

    writing = BackgroundWrite(graph, str(tmp_path / 'm.onnx'), False)
    try:
        wait_until(lambda: writing.waiting_for == 0)
        # steps with new weights: 0, 1 and 3 (step 2 calls the shared layer again)
        for step, next_wait in zip(range(3), (1, 3, 3)):
            writing.loaded(step)
            wait_until(lambda: writing.waiting_for == next_wait)
        writing.join()
        assert open(writing.staging.model_path, 'rb').read() == expected
    finally:
        writing.abort()
    assert os.listdir(tmp_path) == ['ref']


def test_abort_leaves_nothing(tmp_path):
    writing = BackgroundWrite(build_graph(nested_shared_model()), str(tmp_path / 'm.onnx'),
                              True)
    wait_until(lambda: writing.waiting_for is not None)
    writing.abort()
    assert os.listdir(tmp_path) == []


def test_writer_error_is_raised_by_join(tmp_path):
    graph = build_graph(nested_shared_model())
    first = next(i for i in graph.initializers.values() if i.step >= 0)
    first.producer = lambda: np.zeros((1,), 'float32')     # the wrong shape
    writing = BackgroundWrite(graph, str(tmp_path / 'm.onnx'), False)
    with pytest.raises(AssertionError, match='producer gave'):
        writing.join()
    writing.abort()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('external', [False, True])
def test_h5_to_onnx_while_loading(tmp_path, external):
    model = nested_shared_model()
    src, dst = str(tmp_path / 'm.h5'), str(tmp_path / 'm.onnx')
    model.save(src)
    result = convert(src, dst, external_data=external)
    assert result.max_error <= 1e-4
    inputs = sample_inputs(model, 3, seed=2)
    for a, e in zip(onnxruntime_outputs(dst, inputs), kzoo_outputs(model, inputs)):
        assert_matches(a, e, 1e-4)


def test_failed_load_leaves_nothing(tmp_path, monkeypatch):
    from kzoo.errors import FileFormatError
    model = nested_shared_model()
    src = str(tmp_path / 'm.h5')
    model.save(src)
    damage_layer_loading(monkeypatch, at=2)
    with pytest.raises(FileFormatError, match='damaged'):
        convert(src, str(tmp_path / 'm.onnx'))
    assert os.listdir(tmp_path) == ['m.h5']


@pytest.mark.parametrize('external', [False, True])
def test_written_file_reads_back(tmp_path, external):
    from kzoo.converters.onnx_export.written import verify_written
    from kzoo.errors import ConversionError
    graph = build_graph(nested_shared_model())
    staging = Staging(str(tmp_path / 'm.onnx'), external)
    try:
        write_graph(graph, staging)
        verify_written(staging.model_path, graph)
        data = bytearray(open(staging.model_path, 'rb').read())
        # a damaged length prefix, a renamed initializer, a changed dim: refused
        for old, new in ((b'shared/kernel', b'shared/kerneL'), (b'nested_shared', b'nested_sharex')):
            damaged = tmp_path / 'damaged.onnx'
            damaged.write_bytes(bytes(data).replace(old, new, 1))
            with pytest.raises(ConversionError, match='does not read back'):
                verify_written(str(damaged), graph)
        damaged.write_bytes(bytes(data[:-3]))
        with pytest.raises(ConversionError, match='does not read back'):
            verify_written(str(damaged), graph)
    finally:
        staging.discard()
