"""Callbacks against Keras 3's, on the same logs and on the same training runs.

The monitoring callbacks (EarlyStopping, ReduceLROnPlateau) are driven epoch by epoch
with identical logs, next to Keras 3's; the outcome (the stopping epoch, the restored
weights, the learning rate of every epoch) must be the same. The others run inside
``fit`` on the torch and TensorFlow backends next to the same run in Keras 3
(tolerance 1e-4): a learning-rate schedule changes training exactly as Keras's does,
``stop_training`` and TerminateOnNaN end training after the same batch, CSVLogger
writes the same table. ModelCheckpoint's best file holds the weights of the best epoch.
"""
import csv
import os

import numpy as np
import pytest

from helpers import assert_matches
from kzoo import backend as K, callbacks, optimizers
from kzoo import layers as kl
from kzoo.models import Model

TOL = 1e-4


class _Recorder(object):
    """A stand-in model: weights are the epoch they were taken at."""

    def __init__(self, optimizer=None):
        self.epoch, self.stop_training, self.restored = 0, False, None
        self.optimizer = optimizer

    def get_weights(self):
        return [np.array([float(self.epoch)])]

    def set_weights(self, weights):
        self.restored = float(weights[0][0])


def _drive(callback, model, monitor, values):
    """Feed ``values`` of ``monitor`` epoch by epoch; returns the epochs run."""
    callback.set_model(model)
    callback.on_train_begin({})
    run = []
    for epoch, value in enumerate(values):
        model.epoch = epoch
        callback.on_epoch_begin(epoch, {})
        callback.on_epoch_end(epoch, {monitor: value, 'loss': value})
        run.append(epoch)
        if model.stop_training:
            break
    callback.on_train_end({})
    return run


SEQUENCE = [1.0, 0.8, 0.85, 0.79, 0.795, 0.9, 0.7, 0.71, 0.72, 0.73, 0.74]

EARLY_STOPPING_CASES = [
    dict(monitor='val_loss', patience=0),
    dict(monitor='val_loss', patience=2),
    dict(monitor='val_loss', patience=1, min_delta=0.02),
    dict(monitor='val_loss', patience=2, baseline=0.75),
    dict(monitor='val_loss', patience=2, restore_best_weights=True),
    dict(monitor='val_accuracy', patience=1, mode='max'),
    dict(monitor='val_loss', patience=3, restore_best_weights=True, start_from_epoch=2),
]


@pytest.mark.oracle
@pytest.mark.parametrize('kwargs', EARLY_STOPPING_CASES,
                         ids=['-'.join('%s=%s' % kv for kv in sorted(c.items()))
                              for c in EARLY_STOPPING_CASES])
def test_early_stopping_matches_keras3(keras3, kwargs):
    values = SEQUENCE if kwargs['monitor'] == 'val_loss' else [1 - v for v in SEQUENCE]
    ours, theirs = _Recorder(), _Recorder()
    ours_run = _drive(callbacks.EarlyStopping(**kwargs), ours, kwargs['monitor'], values)
    theirs_run = _drive(keras3.callbacks.EarlyStopping(**kwargs), theirs, kwargs['monitor'],
                        values)
    assert ours_run == theirs_run
    assert ours.restored == theirs.restored


REDUCE_CASES = [
    dict(monitor='val_loss', factor=0.5, patience=1),
    dict(monitor='val_loss', factor=0.5, patience=1, cooldown=2),
    dict(monitor='val_loss', factor=0.1, patience=2, min_lr=0.003, min_delta=0.05),
    dict(monitor='val_accuracy', factor=0.5, patience=1, mode='max'),
]


@pytest.mark.oracle
@pytest.mark.parametrize('kwargs', REDUCE_CASES,
                         ids=['-'.join('%s=%s' % kv for kv in sorted(c.items()))
                              for c in REDUCE_CASES])
def test_reduce_lr_on_plateau_matches_keras3(keras3, kwargs):
    values = SEQUENCE if kwargs['monitor'] == 'val_loss' else [1 - v for v in SEQUENCE]
    ours, theirs = _Recorder(optimizers.SGD(0.1)), _Recorder(keras3.optimizers.SGD(0.1))
    ours_lr, theirs_lr = [], []
    ours_cb = callbacks.ReduceLROnPlateau(**kwargs)
    theirs_cb = keras3.callbacks.ReduceLROnPlateau(**kwargs)
    for cb, model, lrs in ((ours_cb, ours, ours_lr), (theirs_cb, theirs, theirs_lr)):
        cb.set_model(model)
        cb.on_train_begin({})
        for epoch, value in enumerate(values):
            cb.on_epoch_end(epoch, {kwargs['monitor']: value})
            lrs.append(float(np.asarray(model.optimizer.learning_rate)))
    assert_matches(ours_lr, theirs_lr, 1e-6, 'learning rates')
    assert ours_lr[-1] < 0.1


# ---- inside fit ------------------------------------------------------------------------

def _xy(n=24, seed=0, nan_at=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype('float32')
    y = (x @ np.array([[1.], [-2.], [.5]], 'float32') + .1).astype('float32')
    if nan_at is not None:
        y[nan_at] = np.nan
    return x, y


def _initial():
    rng = np.random.default_rng(7)
    return [rng.uniform(-.5, .5, s).astype('float32') for s in [(3, 4), (4,), (4, 1), (1,)]]


def _model(L, model_cls, input_fn):
    x = input_fn(shape=(3,), name='inp')
    h = L.Dense(4, activation='tanh', name='h')(x)
    model = model_cls(x, L.Dense(1, name='out')(h))
    model.set_weights(_initial())
    return model


def _kzoo_model():
    return _model(kl, Model, kl.Input)


def _keras_model(keras3):
    return _model(keras3.layers, keras3.Model, keras3.Input)


def _batch_counter(store):
    return dict(on_batch_end=lambda batch, logs: store.append(batch))


def _fit(model, callback_list, x, y, **kwargs):
    kwargs.setdefault('epochs', 4)
    return model.fit(x, y, batch_size=6, shuffle=False, verbose=0, callbacks=callback_list,
                     **kwargs)


def _schedule(epoch, lr):
    return 0.2 / (1. + epoch)


@pytest.mark.oracle
def test_learning_rate_schedule_is_applied(train_backend, keras3):
    x, y = _xy()
    seen = []
    ours = _kzoo_model()
    ours.compile(optimizers.SGD(0.01), 'mse')
    record = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(float(K.get_value(ours.optimizer.lr))))
    history = _fit(ours, [callbacks.LearningRateScheduler(_schedule), record], x, y)
    assert seen == pytest.approx([0.2 / (1 + e) for e in range(4)], rel=1e-6)

    theirs = _keras_model(keras3)
    theirs.compile(keras3.optimizers.SGD(0.01), 'mse', run_eagerly=True)
    expected = _fit(theirs, [keras3.callbacks.LearningRateScheduler(_schedule)], x, y)
    assert_matches(history.history['loss'], expected.history['loss'], TOL, 'losses')
    for w, e in zip(ours.get_weights(), theirs.get_weights()):
        assert_matches(w, e, TOL, 'weights')


@pytest.mark.oracle
@pytest.mark.parametrize('when', [(1, 1), (0, 3)])
def test_stop_training_ends_after_the_batch_as_keras3(train_backend, keras3, when):
    x, y = _xy()
    stop_epoch, stop_batch = when

    def stopper(model_getter, store):
        def on_batch_end(batch, logs):
            store.append(batch)
            if len(store) > 1 and store[-1] == stop_batch and \
                    model_getter().history_epochs == stop_epoch:
                model_getter().stop_training = True
        return on_batch_end

    results = {}
    for who in ('ours', 'theirs'):
        model = _kzoo_model() if who == 'ours' else _keras_model(keras3)
        model.compile('sgd', 'mse', **({} if who == 'ours' else {'run_eagerly': True}))
        model.history_epochs = 0
        batches = []
        mod = callbacks if who == 'ours' else keras3.callbacks
        cbs = [mod.LambdaCallback(on_epoch_begin=lambda e, logs, m=model: setattr(
                   m, 'history_epochs', e),
                   on_batch_end=stopper(lambda m=model: m, batches))]
        history = _fit(model, cbs, x, y, validation_data=(x[:6], y[:6]))
        results[who] = (batches, sorted(history.history), len(history.history['loss']))
    assert results['ours'] == results['theirs']


@pytest.mark.oracle
def test_terminate_on_nan_as_keras3(train_backend, keras3):
    x, y = _xy(nan_at=14)  # the third batch of the first epoch
    results = {}
    for who in ('ours', 'theirs'):
        model = _kzoo_model() if who == 'ours' else _keras_model(keras3)
        model.compile('sgd', 'mse', **({} if who == 'ours' else {'run_eagerly': True}))
        mod = callbacks if who == 'ours' else keras3.callbacks
        batches = []
        history = _fit(model, [mod.TerminateOnNaN(), mod.LambdaCallback(**_batch_counter(batches))],
                       x, y)
        results[who] = (batches, len(history.history['loss']))
    assert results['ours'] == results['theirs'] == ([0, 1, 2], 1)


@pytest.mark.oracle
def test_csv_logger_writes_what_keras3_writes(train_backend, keras3, tmp_path):
    x, y = _xy()
    tables = {}
    for who in ('ours', 'theirs'):
        model = _kzoo_model() if who == 'ours' else _keras_model(keras3)
        if who == 'ours':
            model.compile(optimizers.Adam(0.05), 'mse', metrics=['mae'])
        else:
            model.compile(keras3.optimizers.Adam(0.05), 'mse', metrics=['mae'],
                          run_eagerly=True)
        path = str(tmp_path / ('%s.csv' % who))
        mod = callbacks if who == 'ours' else keras3.callbacks
        _fit(model, [mod.CSVLogger(path, separator=';')], x, y, epochs=3,
             validation_data=(x[:6], y[:6]))
        with open(path) as f:
            tables[who] = list(csv.reader(f, delimiter=';'))
    ours, theirs = tables['ours'], tables['theirs']
    assert ours[0] == theirs[0] == ['epoch', 'loss', 'mae', 'val_loss', 'val_mae']
    assert [r[0] for r in ours] == [r[0] for r in theirs]
    assert_matches(np.array(ours[1:], float), np.array(theirs[1:], float), TOL, 'CSV values')

    # append=True adds rows under the same header.
    model = _kzoo_model()
    model.compile('sgd', 'mse', metrics=['mae'])
    _fit(model, [callbacks.CSVLogger(str(tmp_path / 'ours.csv'), separator=';', append=True)],
         x, y, epochs=2, validation_data=(x[:6], y[:6]))
    with open(str(tmp_path / 'ours.csv')) as f:
        rows = list(csv.reader(f, delimiter=';'))
    assert len(rows) == 1 + 3 + 2 and rows[0] == ours[0] and rows[4][0] == '0'


@pytest.mark.oracle
def test_early_stopping_in_fit_stops_on_the_same_epoch_as_keras3(train_backend, keras3):
    x, y = _xy()
    lengths = {}
    for who in ('ours', 'theirs'):
        model = _kzoo_model() if who == 'ours' else _keras_model(keras3)
        model.compile('sgd', 'mse', **({} if who == 'ours' else {'run_eagerly': True}))
        mod = callbacks if who == 'ours' else keras3.callbacks
        history = _fit(model, [mod.EarlyStopping(monitor='val_loss', min_delta=0.5, patience=2)],
                       x, y, epochs=20, validation_data=(x[:6], y[:6]))
        lengths[who] = len(history.history['loss'])
    assert lengths['ours'] == lengths['theirs'] < 20


def test_model_checkpoint_keeps_the_best_epoch(train_backend, tmp_path):
    if not hasattr(Model, 'save_weights'):
        pytest.skip('Model.save_weights (the HDF5 writer) is not available yet')
    x, y = _xy()
    model = _kzoo_model()
    model.compile(optimizers.SGD(0.3), 'mse')
    per_epoch = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: per_epoch.append(
        (logs['val_loss'], model.get_weights())))
    best = str(tmp_path / 'best.h5')
    every = str(tmp_path / 'w.{epoch:02d}-{val_loss:.2f}.h5')
    _fit(model, [keep,
                 callbacks.ModelCheckpoint(best, save_best_only=True, save_weights_only=True),
                 callbacks.ModelCheckpoint(every, save_weights_only=True, period=2)],
         x, y, epochs=6, validation_data=(x[18:], y[18:] + 3.))
    best_epoch = int(np.argmin([v for v, _ in per_epoch]))
    fresh = _kzoo_model()
    fresh.load_weights(best)
    for w, e in zip(fresh.get_weights(), per_epoch[best_epoch][1]):
        np.testing.assert_array_equal(w, e)
    names = sorted(os.listdir(str(tmp_path)))
    assert names == sorted(['best.h5'] + ['w.%02d-%.2f.h5' % (e + 1, per_epoch[e][0])
                                          for e in (1, 3, 5)])
    if hasattr(Model, 'save'):
        whole = str(tmp_path / 'model-{epoch}.h5')
        _fit(model, [callbacks.ModelCheckpoint(whole)], x, y, epochs=1)
        assert os.path.getsize(str(tmp_path / 'model-1.h5')) > 0


def test_history_lambda_and_base_logger(train_backend):
    x, y = _xy()
    model = _kzoo_model()
    model.compile('sgd', 'mse', metrics=['mae'])
    events = []
    lam = callbacks.LambdaCallback(
        on_train_begin=lambda logs: events.append('train_begin'),
        on_epoch_begin=lambda e, logs: events.append('epoch_begin %d' % e),
        on_batch_end=lambda b, logs: events.append(('batch', b, logs['size'])),
        on_epoch_end=lambda e, logs: events.append('epoch_end %d %s' % (e, sorted(logs))),
        on_train_end=lambda logs: events.append('train_end'))
    history = model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[lam],
                        shuffle=False, initial_epoch=0)
    assert events[:6] == ['train_begin', 'epoch_begin 0', ('batch', 0, 10), ('batch', 1, 10),
                          ('batch', 2, 4), "epoch_end 0 ['loss', 'mae']"]
    assert events[-1] == 'train_end'
    assert history.epoch == [0, 1] and history.params['epochs'] == 2
    assert history.params['samples'] == 24 and history.params['metrics'] == ['loss', 'mae']
    assert model.history is history
    # The epoch value is the batch-size weighted mean of the batch values.
    model2 = _kzoo_model()
    model2.compile('sgd', 'mse')
    batch_losses = []
    model2.fit(x, y, batch_size=10, epochs=1, verbose=0, shuffle=False,
               callbacks=[callbacks.LambdaCallback(on_batch_end=lambda b, logs:
                                                   batch_losses.append((logs['loss'],
                                                                        logs['size'])))])
    mean = sum(l * s for l, s in batch_losses) / 24.
    assert model2.history.history['loss'][0] == pytest.approx(mean, rel=1e-6)


def test_progress_output(train_backend, capsys):
    x, y = _xy()
    model = _kzoo_model()
    model.compile('sgd', 'mse')
    model.fit(x, y, epochs=2, verbose=2, validation_split=0.25)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'Epoch 1/2' and out[2] == 'Epoch 2/2' and len(out) == 4
    assert ' - loss: ' in out[1] and ' - val_loss: ' in out[1]
    model.fit(x, y, epochs=1, verbose=1, batch_size=6)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == 'Epoch 1/1' and out[-1].startswith('24/24 [==============================] - ')
    model.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ''
