"""Fixtures for the training tests: training backends and the Keras 3 oracle."""
import pytest

from kzoo import backend as K

TRAIN_BACKENDS = [b for b in ('torch', 'tensorflow') if b in K.available_backends()]


@pytest.fixture(params=TRAIN_BACKENDS)
def train_backend(request):
    """Run the test once per kzoo backend that trains (numpy is inference-only)."""
    with K.using(request.param):
        yield request.param


@pytest.fixture(scope='session')
def keras3():
    """Keras 3 on TensorFlow (oneDNN off, set by tests/conftest.py)."""
    keras = pytest.importorskip('keras')
    return keras

