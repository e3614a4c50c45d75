"""Fixtures for the kzoo.utils tests: an isolated home and the loopback server."""
import os
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:  # `import tests.loopback_server` without an installed package
    sys.path.insert(0, _ROOT)

from tests.loopback_server import loopback  # noqa: E402,F401  (a fixture)


@pytest.fixture
def kzoo_env(tmp_path, monkeypatch):
    """Point every cache (kzoo's, Keras's, ~) at tmp dirs and make the network fast to fail.

    Returns the kzoo cache root. Tests never touch the real ~/.kzoo or ~/.keras.
    """
    home = tmp_path / 'home'
    home.mkdir()
    root = tmp_path / 'kzoo'
    monkeypatch.setenv('HOME', str(home))
    monkeypatch.setenv('KZOO_HOME', str(root))
    monkeypatch.setenv('KERAS_HOME', str(tmp_path / 'keras'))
    monkeypatch.setenv('KZOO_TIMEOUT', '2')
    monkeypatch.setenv('KZOO_RETRIES', '3')
    monkeypatch.setenv('KZOO_BACKOFF', '0.01')
    monkeypatch.setenv('KZOO_QUIET', '1')
    for name in ('KZOO_OFFLINE', 'KZOO_MIRROR', 'KZOO_CONNECT_TIMEOUT'):
        monkeypatch.delenv(name, raising=False)
    return root
