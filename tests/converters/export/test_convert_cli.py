"""``kzoo convert`` run as a real subprocess (``python -m kzoo.cli``): formats from
extensions and folders, exit codes, the printed difference, and atomic output.

Oracles: the written file read by its own runtime (onnxruntime, torch, tf_keras, kzoo
for Keras files) against kzoo's forward pass of the source model; tolerance 1e-4
scaled by ``max(1, max|expected|)`` (helpers.assert_matches).
"""
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from export_cases import randomize
from helpers import assert_matches
from kzoo import backend as K
from kzoo import layers as L
from kzoo.converters.onnx_export.check import kzoo_outputs, onnxruntime_outputs, sample_inputs
from kzoo.models import Model, load_model

TOLERANCE = 1e-4


def kzoo_cli(*args, timeout=300):
    env = dict(os.environ, KZOO_BACKEND='numpy')
    return subprocess.run([sys.executable, '-m', 'kzoo.cli', 'convert'] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def printed_difference(result):
    match = re.search(r'largest difference: (\S+) \(tolerance', result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1))


@pytest.fixture(scope='module')
def source(tmp_path_factory):
    """A small CNN + LSTM model saved as HDF5, with its inputs and kzoo outputs."""
    folder = tmp_path_factory.mktemp('convert')
    with K.using('numpy'):
        image = L.Input(shape=(12, 12, 3), name='image')
        y = L.Conv2D(4, 3, padding='same', activation='relu')(image)
        y = L.BatchNormalization()(y)
        y = L.MaxPooling2D()(y)
        y = L.Flatten()(y)
        seq = L.Input(shape=(5, 4), name='sequence')
        s = L.LSTM(3)(seq)
        out = L.Dense(3, activation='softmax', name='out')(L.Concatenate()([y, s]))
        model = randomize(Model([image, seq], [out, y], name='cnn_lstm'))
        path = folder / 'model.h5'
        model.save(str(path))
        inputs = sample_inputs(model, 2, seed=11)
        expected = kzoo_outputs(model, inputs)
        model.save_weights(str(folder / 'weights.h5'))
        (folder / 'arch.json').write_text(model.to_json())
    return folder, path, inputs, expected


def test_h5_to_onnx(source, tmp_path):
    folder, path, inputs, expected = source
    dst = tmp_path / 'model.onnx'
    result = kzoo_cli(path, dst)
    assert result.returncode == 0, result.stderr
    assert printed_difference(result) <= TOLERANCE
    assert '(hdf5-model) ->' in result.stdout and '(onnx)' in result.stdout
    for a, e in zip(onnxruntime_outputs(dst, inputs), expected):
        assert_matches(a, e, TOLERANCE)


def test_h5_to_onnx_external_data_and_opset(source, tmp_path):
    import onnx
    folder, path, inputs, expected = source
    dst = tmp_path / 'model.onnx'
    result = kzoo_cli(path, dst, '--external-data', '--opset', '13')
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ['model.onnx', 'model.onnx.data']
    assert onnx.load(str(dst), load_external_data=False).opset_import[0].version == 13
    assert_matches(onnxruntime_outputs(dst, inputs)[0], expected[0], TOLERANCE)


def test_h5_to_keras(source, tmp_path):
    folder, path, inputs, expected = source
    dst = tmp_path / 'model.keras'
    result = kzoo_cli(path, dst)
    assert result.returncode == 0, result.stderr
    assert printed_difference(result) <= TOLERANCE
    with K.using('numpy'):
        assert_matches(kzoo_outputs(load_model(str(dst)), inputs)[0], expected[0], TOLERANCE)


def test_json_with_weights_to_h5(source, tmp_path):
    folder, path, inputs, expected = source
    dst = tmp_path / 'rebuilt.h5'
    result = kzoo_cli(folder / 'arch.json', dst, '--weights', folder / 'weights.h5')
    assert result.returncode == 0, result.stderr
    assert printed_difference(result) <= TOLERANCE
    with K.using('numpy'):
        assert_matches(kzoo_outputs(load_model(str(dst)), inputs)[0], expected[0], TOLERANCE)


def test_json_without_weights_is_refused(source, tmp_path):
    folder, path, inputs, expected = source
    result = kzoo_cli(folder / 'arch.json', tmp_path / 'rebuilt.h5')
    assert result.returncode == 1
    assert '--weights' in result.stderr
    assert os.listdir(tmp_path) == []


def test_h5_to_pt(source, tmp_path):
    torch = pytest.importorskip('torch')
    folder, path, inputs, expected = source
    dst = tmp_path / 'model.pt'
    result = kzoo_cli(path, dst)
    assert result.returncode == 0, result.stderr
    assert printed_difference(result) <= TOLERANCE
    state = torch.load(str(dst), weights_only=True)
    assert tuple(state['out.kernel'].shape) == (6 * 6 * 4 + 3, 3)


def test_onnx_to_h5(source, tmp_path):
    folder, path, inputs, expected = source
    onnx_path = tmp_path / 'model.onnx'
    assert kzoo_cli(path, onnx_path).returncode == 0
    dst = tmp_path / 'back.h5'
    result = kzoo_cli(onnx_path, dst)
    if result.returncode != 0 and 'UnsupportedOperator' in result.stderr + result.stdout:
        pytest.skip('from_onnx cannot import this graph yet: %s' % result.stderr.strip())
    assert result.returncode == 0, result.stderr
    assert printed_difference(result) <= TOLERANCE
    import kzoo.converters.onnx_import  # noqa: F401  (registers the ONNX op layers)
    with K.using('numpy'):
        back = load_model(str(dst))
        # from_onnx keeps ONNX's channels_first layout: transpose the image input
        nchw = [np.ascontiguousarray(inputs[0].transpose(0, 3, 1, 2)), inputs[1]]
        arrays = nchw if tuple(back.inputs[0].shape[1:]) == (3, 12, 12) else inputs
        assert_matches(kzoo_outputs(back, arrays)[0], expected[0], TOLERANCE)


@pytest.mark.slow
@pytest.mark.oracle
def test_h5_to_savedmodel(source, tmp_path):
    tf_keras = pytest.importorskip('tf_keras')
    folder, path, inputs, expected = source
    dst = tmp_path / 'saved'
    result = kzoo_cli(path, dst, '--to', 'savedmodel', timeout=600)
    assert result.returncode == 0, result.stderr
    assert printed_difference(result) <= TOLERANCE
    assert (dst / 'saved_model.pb').is_file()
    reloaded = tf_keras.models.load_model(str(dst), compile=False)
    assert_matches(reloaded.predict(inputs, verbose=0)[0], expected[0], TOLERANCE)
    # and a SavedModel folder as the source
    back = tmp_path / 'back.h5'
    result = kzoo_cli(dst, back, timeout=600)
    assert result.returncode == 0, result.stderr
    assert '(savedmodel) ->' in result.stdout
    with K.using('numpy'):
        assert_matches(kzoo_outputs(load_model(str(back)), inputs)[0], expected[0], TOLERANCE)


def test_over_tolerance_fails_and_writes_nothing(source, tmp_path):
    folder, path, inputs, expected = source
    result = kzoo_cli(path, tmp_path / 'model.onnx', '--tolerance', '-1')
    assert result.returncode == 1
    assert 'largest scaled difference' in result.stderr
    assert os.listdir(tmp_path) == []


def test_no_check(source, tmp_path):
    folder, path, inputs, expected = source
    result = kzoo_cli(path, tmp_path / 'model.onnx', '--no-check')
    assert result.returncode == 0, result.stderr
    assert 'not checked' in result.stdout


def test_unknown_destination_format(source, tmp_path):
    folder, path, inputs, expected = source
    result = kzoo_cli(path, tmp_path / 'model.xyz')
    assert result.returncode == 1
    assert 'extension' in result.stderr


def test_data_format_conversion(tmp_path):
    import onnx
    with K.using('numpy'):
        x = L.Input(shape=(3, 8, 8), name='image')
        y = L.Conv2D(4, 3, data_format='channels_first')(x)
        y = L.BatchNormalization(axis=1)(y)
        model = randomize(Model(x, L.Dense(2)(L.Flatten()(y))))
        path = tmp_path / 'cf.h5'
        model.save(str(path))
    dst = tmp_path / 'cl.onnx'
    result = kzoo_cli(path, dst, '--data-format', 'channels_last')
    assert result.returncode == 0, result.stderr
    assert 'data format channels_last' in result.stdout
    dims = onnx.load(str(dst)).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1:] == [8, 8, 3]


@pytest.mark.slow
def test_sigkill_mid_write_leaves_no_destination(tmp_path):
    """A large model killed while its ONNX file is being written: the destination does
    not appear, only a hidden staging folder may remain."""
    with K.using('numpy'):
        x = L.Input(shape=(2048,), name='x')
        y = L.Dense(4096)(x)
        y = L.Dense(4096)(y)
        model = Model(x, L.Dense(2048)(y))      # 50M parameters, 200 MB
        path = tmp_path / 'big.h5'
        model.save(str(path))
    out = tmp_path / 'out'
    out.mkdir()
    env = dict(os.environ, KZOO_BACKEND='numpy')
    process = subprocess.Popen([sys.executable, '-m', 'kzoo.cli', 'convert', str(path),
                                str(out / 'big.onnx'), '--no-check'], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    killed = False
    while time.time() < deadline and process.poll() is None:
        staged = [os.path.join(root, f) for root, _, files in os.walk(out) for f in files]
        if any(os.path.getsize(f) > 0 for f in staged if os.path.exists(f)):
            process.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    process.wait()
    if not killed:
        pytest.skip('the conversion finished before it could be interrupted')
    assert not (out / 'big.onnx').exists()
    assert all(name.startswith('.') for name in os.listdir(out))
