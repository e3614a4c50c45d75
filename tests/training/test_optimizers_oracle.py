"""Per-step losses and final weights of kzoo training equal Keras 3's, for every optimizer.

Same initial weights, same data, no shuffling: a two-output model (mse + binary
crossentropy, ``loss_weights=[1, 3]``) takes four ``train_on_batch`` steps. kzoo's
total and per-output losses per step and its final weights must match the oracle's
within 1e-4 (``assert_matches``: scaled max abs error). The oracle is Keras 3 on
TensorFlow; Keras 2 options Keras 3 dropped (SGD ``decay``, Nadam
``schedule_decay``) are checked against tf_keras's legacy optimizers, which keep
Keras 2's formulas.
"""
import numpy as np
import pytest

from kzoo import layers as kl, optimizers
from kzoo.layers import Input
from kzoo.models import Model
from helpers import assert_matches
from training_oracle import data, initial_weights, two_output_model

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

TOL = 1e-4
STEPS, BATCH = 4, 4

CASES = [
    ('SGD', {'learning_rate': 0.1}),
    ('SGD', {'learning_rate': 0.1, 'momentum': 0.9}),
    ('SGD', {'learning_rate': 0.1, 'momentum': 0.9, 'nesterov': True}),
    ('SGD', {'learning_rate': 0.5, 'clipnorm': 0.1}),
    ('RMSprop', {'learning_rate': 0.01}),
    ('RMSprop', {'learning_rate': 0.01, 'momentum': 0.5, 'centered': True}),
    ('Adagrad', {'learning_rate': 0.1}),
    ('Adadelta', {'learning_rate': 1.0}),
    ('Adam', {'learning_rate': 0.05}),
    ('Adam', {'learning_rate': 0.05, 'amsgrad': True, 'clipvalue': 0.05}),
    ('Adamax', {'learning_rate': 0.05}),
    ('Nadam', {'learning_rate': 0.05}),
    ('Nadam', {'learning_rate': 0.05, 'global_clipnorm': 0.2}),
]

# Keras 2 behaviours: the oracle is tf_keras's legacy optimizer of the same name.
LEGACY_CASES = [
    ('SGD', {'learning_rate': 0.2, 'momentum': 0.5, 'decay': 0.3}),
    ('Adam', {'learning_rate': 0.05, 'decay': 0.1}),
    ('Nadam', {'learning_rate': 0.05, 'schedule_decay': 0.004}),
]


def _batches():
    x, ya, yb = data()
    return [(x[i * BATCH:(i + 1) * BATCH], [ya[i * BATCH:(i + 1) * BATCH],
                                             yb[i * BATCH:(i + 1) * BATCH]])
            for i in range(STEPS)]


def _train(model, optimizer, **compile_kwargs):
    model.set_weights(initial_weights())
    model.compile(optimizer, loss=['mse', 'binary_crossentropy'], loss_weights=[1., 3.],
                  **compile_kwargs)
    losses = [model.train_on_batch(x, y) for x, y in _batches()]
    return np.array(losses, 'float64'), model.get_weights()


@pytest.fixture(scope='module')
def keras3_results(keras3):
    results = {}
    for name, kwargs in CASES:
        model = two_output_model(keras3.layers, keras3.Model, keras3.Input)
        # Eager steps: the same TensorFlow kernels without tracing a graph per model.
        results[name, repr(kwargs)] = _train(model, getattr(keras3.optimizers, name)(**kwargs),
                                             run_eagerly=True)
    return results


@pytest.fixture(scope='module')
def legacy_results():
    tf_keras = pytest.importorskip('tf_keras')
    results = {}
    for name, kwargs in LEGACY_CASES:
        model = two_output_model(tf_keras.layers, tf_keras.Model, tf_keras.Input)
        opt = getattr(tf_keras.optimizers.legacy, name)(**kwargs)
        results[name, repr(kwargs)] = _train(model, opt, run_eagerly=True)
    return results


def _kzoo(name, kwargs):
    model = two_output_model(kl, Model, Input)
    return _train(model, getattr(optimizers, name)(**kwargs))


def _compare(ours, theirs):
    (our_losses, our_weights), (their_losses, their_weights) = ours, theirs
    assert our_losses.shape == their_losses.shape == (STEPS, 3)  # total, a_loss, b_loss
    assert_matches(our_losses, their_losses, TOL, 'per-step losses')
    for i, (w, v) in enumerate(zip(our_weights, their_weights)):
        assert_matches(w, v, TOL, 'final weight %d' % i)


@pytest.mark.parametrize('name,kwargs', CASES, ids=['%s-%s' % (n, '-'.join(sorted(k)))
                                                    for n, k in CASES])
def test_steps_match_keras3(train_backend, keras3_results, name, kwargs):
    _compare(_kzoo(name, kwargs), keras3_results[name, repr(kwargs)])


@pytest.mark.parametrize('name,kwargs', LEGACY_CASES, ids=['%s-%s' % (n, '-'.join(sorted(k)))
                                                           for n, k in LEGACY_CASES])
def test_keras2_options_match_tf_keras_legacy(train_backend, legacy_results, name, kwargs):
    _compare(_kzoo(name, kwargs), legacy_results[name, repr(kwargs)])


def test_loss_weights_are_not_normalized(train_backend):
    """Weight 100 on one output multiplies that loss by 100 in the total."""
    model = two_output_model(kl, Model, Input)
    model.set_weights(initial_weights())
    model.compile('sgd', loss={'a': 'mse', 'b': 'binary_crossentropy'}, loss_weights={'b': 100.})
    x, y = _batches()[0]
    total, a_loss, b_loss = model.test_on_batch(x, y)
    assert model.metrics_names == ['loss', 'a_loss', 'b_loss']
    assert total == pytest.approx(a_loss + 100. * b_loss, rel=1e-6)

