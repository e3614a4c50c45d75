"""Every loss and metric, by its Keras names, against Keras 3's functions.

Per-sample values on random data (probabilities for the crossentropies, {0, 1} and
{-1, 1} labels for the hinges), each backend, tolerance 1e-5 (scaled max abs error).
Keras 3's own functions are the oracle; ``cosine_proximity`` is Keras 3's
``cosine_similarity`` loss, which keeps Keras 2's sign (-1 for aligned vectors).
"""
import numpy as np
import pytest

from helpers import assert_matches
from kzoo import activations, backend as K, losses, metrics
from kzoo.errors import BackendError, UnknownObjectError

pytestmark = pytest.mark.oracle

TOL = 1e-5

rng = np.random.default_rng(0)
_REG_TRUE = rng.normal(size=(6, 4)).astype('float32')
_REG_PRED = rng.normal(size=(6, 4)).astype('float32')
_POS_TRUE = rng.uniform(0.1, 2., (6, 4)).astype('float32')
_POS_PRED = rng.uniform(0.1, 2., (6, 4)).astype('float32')
_PROBS = rng.dirichlet(np.ones(4), 6).astype('float32')
_PROBS2 = rng.dirichlet(np.ones(4), 6).astype('float32')
_ONEHOT = np.eye(4, dtype='float32')[rng.integers(0, 4, 6)]
_LABELS = rng.integers(0, 4, (6, 1))
_BINARY = (rng.random((6, 4)) > 0.5).astype('float32')
_SIGMOID = rng.uniform(0.05, 0.95, (6, 4)).astype('float32')

# (kzoo name, Keras 3 function name, y_true, y_pred)
LOSS_CASES = [
    ('mean_squared_error', 'mean_squared_error', _REG_TRUE, _REG_PRED),
    ('mse', 'mean_squared_error', _REG_TRUE, _REG_PRED),
    ('mae', 'mean_absolute_error', _REG_TRUE, _REG_PRED),
    ('mape', 'mean_absolute_percentage_error', _REG_TRUE, _REG_PRED),
    ('msle', 'mean_squared_logarithmic_error', _POS_TRUE, _POS_PRED),
    ('hinge', 'hinge', _BINARY, _REG_PRED),
    ('hinge', 'hinge', _BINARY * 2 - 1, _REG_PRED),
    ('squared_hinge', 'squared_hinge', _BINARY, _REG_PRED),
    ('categorical_hinge', 'categorical_hinge', _ONEHOT, _REG_PRED),
    ('binary_crossentropy', 'binary_crossentropy', _BINARY, _SIGMOID),
    ('categorical_crossentropy', 'categorical_crossentropy', _ONEHOT, _PROBS),
    ('sparse_categorical_crossentropy', 'sparse_categorical_crossentropy', _LABELS, _PROBS),
    ('kld', 'kl_divergence', _PROBS2, _PROBS),
    ('kullback_leibler_divergence', 'kl_divergence', _PROBS2, _PROBS),
    ('poisson', 'poisson', _POS_TRUE, _POS_PRED),
    ('cosine_proximity', 'cosine_similarity', _REG_TRUE, _REG_PRED),
    ('cosine', 'cosine_similarity', _REG_TRUE, _REG_PRED),
    ('logcosh', 'log_cosh', _REG_TRUE, _REG_PRED),
    ('huber', 'huber', _REG_TRUE, _REG_PRED),
]

METRIC_CASES = [
    ('binary_accuracy', 'binary_accuracy', _BINARY, _SIGMOID),
    ('categorical_accuracy', 'categorical_accuracy', _ONEHOT, _PROBS),
    ('sparse_categorical_accuracy', 'sparse_categorical_accuracy', _LABELS, _PROBS),
    ('top_k_categorical_accuracy', 'top_k_categorical_accuracy', _ONEHOT, _PROBS),
    ('sparse_top_k_categorical_accuracy', 'sparse_top_k_categorical_accuracy', _LABELS,
     _PROBS),
    ('mae', 'mean_absolute_error', _REG_TRUE, _REG_PRED),
]


def _ours(fn, y_true, y_pred, **kwargs):
    return K.to_numpy(fn(K.constant(y_true), K.constant(y_pred), **kwargs))


def _theirs(module, name, y_true, y_pred, **kwargs):
    return np.asarray(getattr(module, name)(y_true, y_pred, **kwargs))


@pytest.mark.parametrize('ours,theirs,y_true,y_pred', LOSS_CASES,
                         ids=['%s-%d' % (c[0], i) for i, c in enumerate(LOSS_CASES)])
def test_loss_matches_keras3(kbackend, keras3, ours, theirs, y_true, y_pred):
    expected = _theirs(keras3.losses, theirs, y_true, y_pred)
    assert_matches(_ours(losses.get(ours), y_true, y_pred), expected, TOL, ours)


@pytest.mark.parametrize('ours,theirs,y_true,y_pred', METRIC_CASES,
                         ids=[c[0] for c in METRIC_CASES])
def test_metric_matches_keras3(kbackend, keras3, ours, theirs, y_true, y_pred):
    expected = _theirs(keras3.metrics, theirs, y_true, y_pred)
    assert_matches(_ours(metrics.get(ours), y_true, y_pred), expected, TOL, ours)


def test_top_k_with_k(kbackend, keras3):
    expected = _theirs(keras3.metrics, 'top_k_categorical_accuracy', _ONEHOT, _PROBS, k=2)
    assert_matches(_ours(metrics.top_k_categorical_accuracy, _ONEHOT, _PROBS, k=2), expected)


def test_crossentropy_uses_logits_carried_by_the_output(train_backend):
    """An output that carries its logits (``_keras_logits``, as Keras 3 activations
    attach) gets the stable logits formula: saturated probabilities still give a
    finite loss equal to the logits-based one."""
    logits = K.constant(np.array([[30., -30.], [-40., 40.]], 'float32'))
    probs = K.softmax(logits)
    try:
        probs._keras_logits = logits
    except AttributeError:
        pytest.skip('%s tensors take no attributes' % train_backend)
    target = K.constant(np.array([[0., 1.], [1., 0.]], 'float32'))
    value = K.to_numpy(losses.categorical_crossentropy(target, probs))
    assert_matches(value, [60., 80.], 1e-5)


@pytest.mark.parametrize('activation,loss,target', [
    ('softmax', 'categorical_crossentropy', [[0., 1., 0.], [1., 0., 0.]]),
    ('softmax', 'sparse_categorical_crossentropy', [[1], [0]]),
    ('sigmoid', 'binary_crossentropy', [[0., 1., 0.], [1., 0., 1.]])])
def test_activation_then_crossentropy_matches_keras3(train_backend, keras3, activation, loss,
                                                      target):
    """Keras 3's softmax and sigmoid attach their logits, and its crossentropies use them:
    with saturated outputs the loss is the exact one (here up to 80), not the log of
    clipped probabilities (at most 16.1). kzoo's activations do the same."""
    x = np.array([[30., -30., 5.], [-40., 40., 20.]], 'float32')
    target = np.array(target, 'float32')
    expected = np.asarray(getattr(keras3.losses, loss)(
        target, getattr(keras3.activations, activation)(x)))
    ours = losses.get(loss)(K.constant(target), getattr(activations, activation)(K.constant(x)))
    assert_matches(K.to_numpy(ours), expected, TOL)
    assert expected.max() > 20.  # the clipped route would give at most 16.1 per element


def test_softmax_over_another_axis_keeps_no_logits(train_backend):
    # The crossentropies normalize over the last axis: logits of axis 0 would mislead them.
    x = K.constant(np.array([[1., 2.], [3., 5.]], 'float32'))
    assert not hasattr(activations.softmax(x, axis=0), '_keras_logits')


def test_loss_classes_reduce_as_keras3(kbackend, keras3):
    sw = np.array([1., 0., 2., 1., 0.5, 3.], 'float32')
    for name, kwargs in [('MeanSquaredError', {}), ('BinaryCrossentropy', {'label_smoothing': .1}),
                         ('CategoricalCrossentropy', {}), ('Huber', {'delta': 0.5})]:
        y_true, y_pred = {'BinaryCrossentropy': (_BINARY, _SIGMOID),
                          'CategoricalCrossentropy': (_ONEHOT, _PROBS)}.get(
            name, (_REG_TRUE, _REG_PRED))
        for reduction in ('sum_over_batch_size', 'sum', 'none'):
            ours = losses.get({'class_name': name, 'config': dict(kwargs, reduction=reduction)})
            theirs = getattr(keras3.losses, name)(reduction=reduction, **kwargs)
            value = K.to_numpy(ours(K.constant(y_true), K.constant(y_pred), sample_weight=sw))
            assert_matches(value, np.asarray(theirs(y_true, y_pred, sample_weight=sw)), TOL,
                           '%s %s' % (name, reduction))


def test_names_and_errors():
    assert losses.get('mse') is losses.mean_squared_error
    assert losses.get('MSLE') is losses.mean_squared_logarithmic_error
    assert losses.get('kld') is losses.kullback_leibler_divergence
    assert metrics.get('mae') is losses.mean_absolute_error
    assert losses.serialize(losses.get('mape')) == 'mean_absolute_percentage_error'
    with pytest.raises(UnknownObjectError, match='no_such_loss'):
        losses.get('no_such_loss')
    with pytest.raises(UnknownObjectError, match='custom_objects'):
        metrics.get('my_metric')


def test_accuracy_is_resolved_from_shapes():
    assert metrics.resolve_accuracy((None, 1), (None, 1)) is metrics.binary_accuracy
    assert metrics.resolve_accuracy((None, 1), (None, 5)) is metrics.sparse_categorical_accuracy
    assert metrics.resolve_accuracy((None,), (None, 5)) is metrics.sparse_categorical_accuracy
    assert metrics.resolve_accuracy((None, 5), (None, 5)) is metrics.categorical_accuracy


def test_numpy_backend_is_inference_only():
    from kzoo.layers import Dense, Input
    from kzoo.models import Model
    with K.using('numpy'):
        x = Input(shape=(2,))
        model = Model(x, Dense(1)(x))
        assert model.predict(np.ones((1, 2))).shape == (1, 1)
        with pytest.raises(BackendError, match="'numpy' backend is inference-only.*torch"):
            model.compile('sgd', 'mse')
