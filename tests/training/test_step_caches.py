"""What ``fit`` remembers between steps, against the same run without it.

A step reuses its plan (trainable weights, regularizers, constraints), the optimizer
its rows and slots for that list of weights, and ``fit`` reads the loss and metric
values once per epoch when no callback looks at batches. Each is checked against the
plain route: the caches switched off (every step works everything out again), or a
callback with a batch hook (each batch's values read as it ends). Changes between
fits (freezing, ``set_weights``, layers added or removed) must be honoured alike.
"""
import numpy as np
import pytest

from kzoo import callbacks, optimizers
from kzoo import layers as kl
from kzoo.engine.trainers import loop
from kzoo.errors import ConfigError
from kzoo.models import Model, Sequential


def _data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype('float32')
    labels = rng.integers(0, 3, n)
    return x, np.eye(3, dtype='float32')[labels], (x[:, :1] * 2.).astype('float32')


def _weights(model, seed=1):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-.5, .5, w.shape).astype('float32')
                       for w in model.get_weights()])
    return model


def _sequential():
    return _weights(Sequential([kl.Dense(5, activation='tanh', input_shape=(4,)),
                                kl.Dense(4, activation='relu', kernel_constraint='max_norm',
                                         kernel_regularizer='l2'),
                                kl.Dense(3, activation='softmax')]))


def _two_outputs():
    x = kl.Input(shape=(4,))
    h = kl.Dense(6, activation='tanh')(x)
    inner_in = kl.Input(shape=(6,))
    inner = Model(inner_in, kl.Dense(6, activation='relu', name='inner_dense')(inner_in),
                  name='inner')
    h = inner(h)
    model = Model(x, [kl.Dense(3, activation='softmax', name='cls')(h),
                      kl.Dense(1, name='reg')(h)])
    return _weights(model)


@pytest.fixture
def uncached(monkeypatch):
    """Switch the caches off: a new plan and new optimizer rows every step."""
    def off():
        monkeypatch.setattr(loop.StepPlan, 'current_signature', lambda self: object())
        original = optimizers.Optimizer._rows_and_slots

        def fresh_rows(self, variables):
            self.__dict__.pop('_rows_cache', None)
            return original(self, variables)
        monkeypatch.setattr(optimizers.Optimizer, '_rows_and_slots', fresh_rows)
    return off


class _BatchLog(callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.batches = []

    def on_batch_end(self, batch, logs=None):
        self.batches.append(dict(logs))


def _same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_epoch_values_read_at_the_end_equal_per_batch_reads(train_backend):
    x, y, r = _data()
    runs = []
    for cbs in ([], [_BatchLog()]):
        model = _two_outputs()
        model.compile('adam', ['categorical_crossentropy', 'mse'],
                      metrics=[['accuracy'], ['mae']])
        history = model.fit(x, [y, r], batch_size=10, epochs=3, shuffle=False, verbose=0,
                            callbacks=cbs, validation_data=(x[:20], [y[:20], r[:20]]))
        runs.append((model, history.history, cbs))
    (lazy, lazy_h, _), (eager, eager_h, (log,)) = runs
    assert lazy_h == eager_h  # the same floats, summed in the same order
    assert len(lazy_h['loss']) == 3 and 'val_cls_accuracy' in lazy_h
    _same_weights(lazy, eager)
    # The batch hook saw each batch's own values: those train_on_batch gives.
    replay = _two_outputs()
    replay.compile('adam', ['categorical_crossentropy', 'mse'], metrics=[['accuracy'], ['mae']])
    first_epoch = [replay.train_on_batch(x[i:i + 10], [y[i:i + 10], r[i:i + 10]],
                                         return_dict=True) for i in range(0, 48, 10)]
    for seen, expected in zip(log.batches[:5], first_epoch):
        assert {k: v for k, v in seen.items() if k not in ('batch', 'size')} == expected


def test_batch_hooks_found_on_classes_and_instances(train_backend):
    x, y, _ = _data()
    model = _sequential()
    model.compile('sgd', 'categorical_crossentropy')
    losses = []
    hook = callbacks.LambdaCallback(on_batch_end=lambda batch, logs: losses.append(logs['loss']))
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[hook])
    assert len(losses) == 6 and all(isinstance(v, float) for v in losses)
    assert not callbacks.CallbackList([callbacks.History(), callbacks.EarlyStopping()]) \
        .has_batch_hooks()
    assert callbacks.CallbackList([callbacks.TerminateOnNaN()]).has_batch_hooks()


def test_stop_training_from_an_epoch_hook_without_batch_hooks(train_backend):
    x, y, _ = _data()
    model = _sequential()
    model.compile('sgd', 'categorical_crossentropy')
    stop = callbacks.EarlyStopping(monitor='loss', patience=0, min_delta=10.)
    history = model.fit(x, y, batch_size=16, epochs=5, verbose=0, callbacks=[stop])
    assert len(history.history['loss']) == 2


def test_evaluate_reads_values_once_like_per_batch(train_backend):
    x, y, r = _data()
    model = _two_outputs()
    model.compile('adam', ['categorical_crossentropy', 'mse'], metrics=[['accuracy'], ['mae']])
    assert model.evaluate(x, [y, r], batch_size=10, verbose=0) == \
        model.evaluate(x, [y, r], batch_size=10, verbose=1)


def _changes(model, x, y):
    """Fits with changes in between; the weights after each fit."""
    fit = lambda: model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    first = [layer for layer in model.layers if layer.weights][0]
    out = []
    fit()
    out.append(model.get_weights())
    first.trainable = False  # freeze: its weights stay, the others train
    fit()
    out.append(model.get_weights())
    model.set_weights([w * .5 for w in model.get_weights()])  # honoured by the next step
    fit()
    out.append(model.get_weights())
    first.trainable = True
    model.trainable = False  # the whole model frozen: nothing moves
    fit()
    out.append(model.get_weights())
    model.trainable = True
    fit()
    out.append(model.get_weights())
    return out


@pytest.mark.parametrize('build', [_sequential, _two_outputs])
def test_changes_between_fits_as_without_caches(train_backend, uncached, build):
    x, y, r = _data()
    targets = y if build is _sequential else [y, r]
    losses = 'categorical_crossentropy' if build is _sequential else \
        ['categorical_crossentropy', 'mse']
    results = []
    for off in (False, True):
        if off:
            uncached()
        model = build()
        model.compile('adam', losses)
        results.append(_changes(model, x, targets))
    cached, plain = results
    for a, b in zip(cached, plain):
        for wa, wb in zip(a, b):
            np.testing.assert_array_equal(wa, wb)
    frozen_before, frozen_after = cached[0][0], cached[1][0]
    np.testing.assert_array_equal(frozen_before, frozen_after)  # layer 0 was frozen
    for before, after in zip(cached[2], cached[3]):
        np.testing.assert_array_equal(before, after)  # whole model frozen


def test_nested_layer_frozen_between_fits(train_backend, uncached):
    x, y, r = _data()
    results = []
    for off in (False, True):
        if off:
            uncached()
        model = _two_outputs()
        model.compile('sgd', ['categorical_crossentropy', 'mse'])
        model.fit(x, [y, r], batch_size=16, epochs=1, shuffle=False, verbose=0)
        inner = model.get_layer('inner').get_layer('inner_dense')
        before = inner.get_weights()
        inner.trainable = False
        model.fit(x, [y, r], batch_size=16, epochs=1, shuffle=False, verbose=0)
        for a, b in zip(before, inner.get_weights()):
            np.testing.assert_array_equal(a, b)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def _grow(model, x, y):
    """Fit, add a layer (without compiling again), fit; pop it, fit."""
    fit = lambda: model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    fit()
    model.add(kl.Activation('tanh'))  # weightless: the new graph trains
    fit()
    model.add(kl.Dense(3))  # new weights the optimizer was not built for
    try:
        fit()
        outcome = 'trained'
    except ConfigError as e:
        outcome = 'refused: %s' % ('new to it' in str(e))
    model.pop()
    fit()
    return outcome, model.get_weights()


def test_layers_added_between_fits_as_without_caches(train_backend, uncached):
    x, y, _ = _data()
    y = y[:, :3]
    results = []
    for off in (False, True):
        if off:
            uncached()
        model = _weights(Sequential([kl.Dense(5, input_shape=(4,)), kl.Dense(3)]))
        model.compile('adam', 'mse')
        results.append(_grow(model, x, y))
    (cached_outcome, cached), (plain_outcome, plain) = results
    assert cached_outcome == plain_outcome
    for a, b in zip(cached, plain):
        np.testing.assert_array_equal(a, b)


def test_long_epochs_read_values_in_chunks(train_backend, monkeypatch):
    x, y, _ = _data()
    results = []
    for every in (512, 2):  # 3 steps an epoch: read at the end, or every 2 steps
        monkeypatch.setattr(loop.Averages, 'FLUSH_EVERY', every)
        model = _sequential()
        model.compile('adam', 'categorical_crossentropy', metrics=['accuracy'])
        results.append(model.fit(x, y, batch_size=16, epochs=2, shuffle=False,
                                 verbose=0).history)
    assert results[0] == results[1]


@pytest.mark.parametrize('layer', [lambda: kl.LSTM(4), lambda: kl.GRU(4, go_backwards=True),
                                   lambda: kl.SimpleRNN(4),
                                   lambda: kl.LSTM(4, dropout=.3, recurrent_dropout=.3),
                                   lambda: kl.LSTM(4, return_state=True)])
def test_recurrent_last_output_as_final_state(train_backend, monkeypatch, layer):
    """A flat RNN hands on its final state as its last output: the same values and
    training as the last timestep's output (the plain route)."""
    from kzoo.layers.recurrent import FlatRNN
    from kzoo.utils import set_random_seed
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 5, 3)).astype('float32')
    y = np.eye(3, dtype='float32')[rng.integers(0, 3, 12)]
    results = []
    for output_is_state in (True, False):
        monkeypatch.setattr(FlatRNN, '_output_is_state', output_is_state)
        set_random_seed(0)  # the same dropout masks both ways
        inp = kl.Input(shape=(5, 3))
        h = layer()(inp)
        h = h[0] if isinstance(h, list) else h
        model = _weights(Model(inp, kl.Dense(3, activation='softmax')(h)))
        model.compile('adam', 'categorical_crossentropy')
        history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        results.append((history.history['loss'], model.get_weights(), model.predict(x)))
    (fast_loss, fast_w, fast_p), (plain_loss, plain_w, plain_p) = results
    np.testing.assert_allclose(fast_loss, plain_loss, rtol=1e-6)
    for a, b in zip(fast_w + [fast_p], plain_w + [plain_p]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
