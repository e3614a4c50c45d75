"""Export tests build their models on kzoo's numpy backend (the reference), so that
they run without importing torch; the torch export tests switch backend themselves."""
import pytest

from kzoo import backend as K


@pytest.fixture(autouse=True)
def _numpy_backend():
    with K.using('numpy'):
        yield
