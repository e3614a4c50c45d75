"""A fresh process that converts, checks and predicts through onnxruntime leaves nothing
in $TMPDIR or $HOME: onnxruntime's telemetry session (``$TMPDIR/.ses``,
``~/.cache/Microsoft/DeveloperTools``) is off unless the user turns it on."""
import os
import subprocess
import sys

import pytest

pytest.importorskip('onnxruntime')

PREDICT = """
import numpy as np
from kzoo.models import load_model
model = load_model({path!r})
print(model.predict(np.ones((2, 4), 'float32'), provider='onnxruntime').shape)
"""


@pytest.fixture
def box(tmp_path):
    from kzoo.layers import Dense
    from kzoo.models import Sequential
    for name in ('home', 'tmp', 'work'):
        (tmp_path / name).mkdir()
    Sequential([Dense(3, input_shape=(4,))]).save(str(tmp_path / 'work' / 'm.h5'))
    env = dict(os.environ, HOME=str(tmp_path / 'home'), TMPDIR=str(tmp_path / 'tmp'),
               KZOO_HOME=str(tmp_path / 'work' / 'kzoo'),
               KERAS_HOME=str(tmp_path / 'work' / 'keras'))
    env.pop('ORT_DISABLE_TELEMETRY', None)  # kzoo's own default is what is tested
    return tmp_path, env


def _left(tmp_path):
    return sorted(os.listdir(tmp_path / 'home')) + sorted(os.listdir(tmp_path / 'tmp'))


def test_convert_with_its_onnxruntime_check_leaves_no_stray_files(box):
    tmp_path, env = box
    work = tmp_path / 'work'
    out = subprocess.run([sys.executable, '-m', 'kzoo.cli', 'convert', str(work / 'm.h5'),
                          str(work / 'm.onnx')], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'largest difference' in out.stdout  # onnxruntime really ran
    assert _left(tmp_path) == []


def test_predict_through_onnxruntime_leaves_no_stray_files(box):
    tmp_path, env = box
    code = PREDICT.format(path=str(tmp_path / 'work' / 'm.h5'))
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == '(2, 3)'
    assert _left(tmp_path) == []


def test_a_user_who_turns_telemetry_on_keeps_that_choice(box):
    tmp_path, env = box
    env['ORT_DISABLE_TELEMETRY'] = '0'
    code = 'import os, kzoo; print(os.environ["ORT_DISABLE_TELEMETRY"])'
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == '0'
