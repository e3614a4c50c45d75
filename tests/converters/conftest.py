"""Fixtures for the converter tests: the oracles (tf-keras, Keras 3), loaded once per
session and run in-process, and deterministic inputs for any model."""
import pytest


@pytest.fixture(scope='session')
def tfk():
    """tf-keras (Keras 2.x): reads legacy HDF5, writes every Keras 2 format."""
    return pytest.importorskip('tf_keras')


@pytest.fixture(scope='session')
def k3():
    """Keras 3 (TensorFlow backend): reads .keras, .weights.h5 and some legacy .h5."""
    return pytest.importorskip('keras')
