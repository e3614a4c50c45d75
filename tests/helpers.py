"""Comparison helpers with the tolerance rule every oracle test states.

``assert_matches(actual, expected, tol)`` passes when the largest absolute difference is
at most ``tol * max(1, max|expected|)``: a relative error for values above one and an
absolute one below, so float32 summation order does not fail tests on large
pre-activations (corpus MANIFEST.md).
"""
import numpy as np


def max_error(actual, expected):
    actual, expected = np.asarray(actual, 'float64'), np.asarray(expected, 'float64')
    assert actual.shape == expected.shape, 'shape %s != expected %s' % (actual.shape,
                                                                        expected.shape)
    if actual.size == 0:
        return 0.0
    scale = max(1.0, float(np.max(np.abs(expected))))
    return float(np.max(np.abs(actual - expected))) / scale


def assert_matches(actual, expected, tol=1e-5, what='output'):
    err = max_error(actual, expected)
    assert err <= tol, '%s differs from the oracle: scaled max error %.3g > %.1g' % (
        what, err, tol)


def seeded_weights(shapes, seed=0, scale=0.5):
    """Deterministic weights for a list of shapes (same for kzoo and the oracle)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-scale, scale, s).astype('float32') for s in shapes]


def find_all(data, sub):
    """Every offset of ``sub`` in ``data`` (overlapping ones too): the plain-Python
    oracle of the signature searches."""
    out, at = [], data.find(sub)
    while at >= 0:
        out.append(at)
        at = data.find(sub, at + 1)
    return out
