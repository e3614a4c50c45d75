"""Fixtures of the ONNX import tests."""
import pytest


@pytest.fixture(autouse=True)
def _private_onnx_home(tmp_path_factory, monkeypatch):
    # onnx's runner writes the light models' generated inputs under ONNX_HOME
    home = tmp_path_factory.mktemp('onnx_home')
    monkeypatch.setenv('ONNX_HOME', str(home))
    monkeypatch.setenv('ONNX_MODELS', str(home / 'models' / 'light'))
