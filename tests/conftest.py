"""Shared fixtures: backend selection and quiet, exact oracles.

Oracle processes run TensorFlow with oneDNN off, so its float32 results are not a few
ulp away from exact arithmetic when tolerances of 1e-5 are at stake (oracles.md).
"""
import os

os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('KERAS_BACKEND', 'tensorflow')

import zlib  # noqa: E402

import pytest  # noqa: E402

from kzoo import backend as K  # noqa: E402

ENGINE_BACKENDS = [b for b in ('numpy', 'torch', 'tensorflow') if b in K.available_backends()]


@pytest.fixture(params=ENGINE_BACKENDS)
def kbackend(request):
    """Run the test once per available kzoo backend (layers built inside it)."""
    with K.using(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _repeatable_randomness(request):
    # Every test draws the same weights and masks on every run and in any order: a
    # result that depends on luck fails here every time, not on one CI run in twenty.
    from kzoo.utils import set_random_seed
    set_random_seed(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture(autouse=True)
def _private_kzoo_home(tmp_path_factory, monkeypatch):
    # No test reads or writes the real ~/.kzoo or ~/.keras.
    home = tmp_path_factory.mktemp('kzoo_home')
    monkeypatch.setenv('KZOO_HOME', str(home))
    monkeypatch.setenv('KERAS_HOME', str(home / 'keras'))
