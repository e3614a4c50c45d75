"""Callbacks: hooks into ``fit`` at the start and end of training, epochs and batches.

The API is Keras 2's: a :class:`Callback` has ``self.model`` and ``self.params``
(``epochs``, ``steps``, ``samples``, ``batch_size``, ``verbose``, ``do_validation``,
``metrics``) and receives ``logs`` dicts: per batch ``{'batch', 'size', 'loss', ...}``
with that batch's values (Keras 2), per epoch the epoch's values (losses averaged over
samples, metrics weighted as Keras 3 weighs them) plus ``val_*`` values. A
callback stops training with ``self.model.stop_training = True``: ``fit`` finishes
the current batch, then (as Keras 3) runs validation and ``on_epoch_end`` and stops.

>>> history = History()
>>> history.on_train_begin()
>>> history.on_epoch_end(0, {'loss': 0.5})
>>> history.history
{'loss': [0.5]}
"""
import collections
import csv
import io
import os
import sys
import warnings

import numpy as np

from kzoo import backend as K
from kzoo.engine.trainers.progbar import Progbar
from kzoo.errors import ConfigError

__all__ = ['Callback', 'CallbackList', 'BaseLogger', 'ProgbarLogger', 'History',
           'EarlyStopping', 'ModelCheckpoint', 'LearningRateScheduler', 'ReduceLROnPlateau',
           'CSVLogger', 'TerminateOnNaN', 'LambdaCallback', 'Progbar']


class Callback(object):
    """Base class: override the ``on_*`` methods you need."""

    def __init__(self):
        self.model = None
        self.params = {}
        self.validation_data = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    # Keras 2.3+ spellings of the training-batch hooks.
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)


_BATCH_HOOKS = ('on_batch_begin', 'on_batch_end', 'on_train_batch_begin',
                'on_train_batch_end')


class CallbackList(object):
    """Calls each callback in order."""

    def __init__(self, callbacks=None):
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ConfigError('callbacks must be kzoo Callback objects, got %r' % (cb,))

    def append(self, callback):
        self.callbacks.append(callback)

    def set_params(self, params):
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        for cb in self.callbacks:
            cb.set_model(model)

    def has_batch_hooks(self):
        """Whether a callback overrides a batch hook (so ``fit`` must read each batch's
        values for its logs); ``fit`` skips the batch calls otherwise."""
        return any(getattr(type(cb), name) is not getattr(Callback, name)
                   for cb in self.callbacks for name in _BATCH_HOOKS) or any(
            name in vars(cb) for cb in self.callbacks for name in _BATCH_HOOKS)

    def _call(self, name, *args):
        for cb in self.callbacks:
            getattr(cb, name)(*args)

    def on_train_begin(self, logs=None):
        self._call('on_train_begin', logs if logs is not None else {})

    def on_train_end(self, logs=None):
        self._call('on_train_end', logs if logs is not None else {})

    def on_epoch_begin(self, epoch, logs=None):
        self._call('on_epoch_begin', epoch, logs if logs is not None else {})

    def on_epoch_end(self, epoch, logs=None):
        self._call('on_epoch_end', epoch, logs if logs is not None else {})

    def on_batch_begin(self, batch, logs=None):
        self._call('on_train_batch_begin', batch, logs if logs is not None else {})

    def on_batch_end(self, batch, logs=None):
        self._call('on_train_batch_end', batch, logs if logs is not None else {})

    def __iter__(self):
        return iter(self.callbacks)


class BaseLogger(Callback):
    """Averages the per-batch values of an epoch into its logs, weighted by batch size
    (Keras 2's; ``fit`` computes its epoch values itself, as Keras 3, and this callback
    fills only values the logs lack). ``stateful_metrics`` are copied, not averaged."""

    def __init__(self, stateful_metrics=None):
        Callback.__init__(self)
        self.stateful_metrics = set(stateful_metrics or [])

    def on_epoch_begin(self, epoch, logs=None):
        self.seen = 0
        self.totals = {}

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        size = logs.get('size', 0)
        self.seen += size
        for key, value in logs.items():
            if key in ('batch', 'size'):
                continue
            if key in self.stateful_metrics:
                self.totals[key] = value
            else:
                self.totals[key] = self.totals.get(key, 0.) + value * size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for key in self.params.get('metrics', []):
            if key in self.totals and key not in logs:
                logs[key] = (self.totals[key] if key in self.stateful_metrics
                             else self.totals[key] / max(self.seen, 1))


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a progress bar (``verbose=1``) or one line per epoch
    (``verbose=2``). ``count_mode``: ``'samples'`` or ``'steps'``."""

    def __init__(self, count_mode='samples', stateful_metrics=None, stream=None):
        Callback.__init__(self)
        if count_mode not in ('samples', 'steps'):
            raise ConfigError('ProgbarLogger: count_mode must be "samples" or "steps", got %r'
                              % (count_mode,))
        self.use_steps = count_mode == 'steps'
        self.stateful_metrics = set(stateful_metrics or [])
        self.stream = stream

    def on_train_begin(self, logs=None):
        self.verbose = self.params.get('verbose', 1)
        self.epochs = self.params.get('epochs', 1)

    def on_epoch_begin(self, epoch, logs=None):
        if not self.verbose:
            return
        stream = self.stream or sys.stdout
        stream.write('Epoch %d/%d\n' % (epoch + 1, self.epochs))
        stream.flush()
        use_steps = self.use_steps or not self.params.get('samples')
        self.target = self.params.get('steps') if use_steps else self.params.get('samples')
        self._counts_steps = use_steps
        self.progbar = Progbar(self.target, verbose=self.verbose,
                               stateful_metrics=self.stateful_metrics, stream=stream)
        self.seen = 0

    def on_batch_end(self, batch, logs=None):
        if not self.verbose:
            return
        logs = logs or {}
        self.seen += 1 if self._counts_steps else logs.get('size', 0)
        values = [(k, logs[k]) for k in self.params.get('metrics', []) if k in logs]
        if self.target is None or self.seen < self.target:
            self.progbar.update(self.seen, values)

    def on_epoch_end(self, epoch, logs=None):
        if not self.verbose:
            return
        logs = logs or {}
        values = [(k, logs[k]) for k in self.params.get('metrics', []) if k in logs]
        # The epoch's logs hold its averages: show those, not a running mean.
        self.progbar.stateful_metrics.update(k for k, _ in values)
        self.progbar.update(self.target if self.target is not None else self.seen, values)


class History(Callback):
    """Records the epoch logs: ``history.history['loss']``, ``history.epoch``.
    ``fit`` adds one last and returns it."""

    def on_train_begin(self, logs=None):
        self.epoch = []
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _monitor_op(mode, monitor, who):
    if mode not in ('auto', 'min', 'max'):
        warnings.warn('%s mode %r is unknown, fallback to auto mode' % (who, mode))
        mode = 'auto'
    if mode == 'auto':
        name = monitor[4:] if monitor.startswith('val_') else monitor
        # Keras 2's rule: accuracies (and fmeasure, AUC) grow, everything else shrinks.
        mode = 'max' if ('acc' in name or name.startswith('fmeasure') or 'auc' in name) \
            else 'min'
    return np.greater if mode == 'max' else np.less


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Keras 3 semantics: ``baseline`` must also be beaten for the wait to reset, and
    with ``restore_best_weights`` the weights of the best epoch are put back at the end
    of training.
    """

    def __init__(self, monitor='val_loss', min_delta=0, patience=0, verbose=0, mode='auto',
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        Callback.__init__(self)
        self.monitor, self.patience, self.verbose = monitor, patience, verbose
        self.baseline, self.restore_best_weights = baseline, restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.monitor_op = _monitor_op(mode, monitor, 'EarlyStopping')
        self.min_delta = abs(min_delta) * (1 if self.monitor_op == np.greater else -1)
        self.wait = self.stopped_epoch = 0
        self.best = self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = 0
        self.best = self.best_weights = None
        self.best_epoch = 0

    def _improves(self, value, reference):
        return reference is None or bool(self.monitor_op(value - self.min_delta, reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn('Early stopping conditioned on metric %r which is not available. '
                          'Available metrics are: %s' % (self.monitor, ','.join(logs or {})))
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print('Epoch %05d: early stopping' % (self.stopped_epoch + 1))
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print('Restoring model weights from the end of the best epoch: %d.'
                      % (self.best_epoch + 1))
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (or its weights) after every ``period`` epochs to ``filepath``,
    which may name epoch and log values: ``'weights.{epoch:02d}-{val_loss:.2f}.h5'``.

    With ``save_best_only`` a file is written only when ``monitor`` improves. Saving
    uses ``model.save`` / ``model.save_weights``.
    """

    def __init__(self, filepath, monitor='val_loss', verbose=0, save_best_only=False,
                 save_weights_only=False, mode='auto', period=1):
        Callback.__init__(self)
        self.filepath, self.monitor, self.verbose = os.fspath(filepath), monitor, verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.period = int(period)
        self.monitor_op = _monitor_op(mode, monitor, 'ModelCheckpoint')
        self.best = -np.inf if self.monitor_op == np.greater else np.inf
        self.epochs_since_last_save = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_since_last_save += 1
        if self.epochs_since_last_save < self.period:
            return
        self.epochs_since_last_save = 0
        try:
            filepath = self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as e:
            raise ConfigError('ModelCheckpoint: filepath %r names %s, which is not in the '
                              'logs (%s)' % (self.filepath, e, ', '.join(sorted(logs)))) from e
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn('Can save best model only with %s available, skipping.'
                              % self.monitor)
                return
            if not self.monitor_op(current, self.best):
                if self.verbose > 0:
                    print('\nEpoch %05d: %s did not improve from %0.5f'
                          % (epoch + 1, self.monitor, self.best))
                return
            if self.verbose > 0:
                print('\nEpoch %05d: %s improved from %0.5f to %0.5f, saving model to %s'
                      % (epoch + 1, self.monitor, self.best, current, filepath))
            self.best = current
        elif self.verbose > 0:
            print('\nEpoch %05d: saving model to %s' % (epoch + 1, filepath))
        self._save(filepath)

    def _save(self, filepath):
        method = 'save_weights' if self.save_weights_only else 'save'
        if not hasattr(self.model, method):
            raise ConfigError('ModelCheckpoint: this model has no %s() method to write %s'
                              % (method, filepath))
        getattr(self.model, method)(filepath, overwrite=True)


def _optimizer_lr(model, who):
    optimizer = getattr(model, 'optimizer', None)
    if optimizer is None or not hasattr(optimizer, 'lr'):
        raise ConfigError('%s: the model\'s optimizer must have a "lr" attribute' % who)
    return optimizer.lr


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to ``schedule(epoch)`` or
    ``schedule(epoch, lr)`` (epochs count from 0)."""

    def __init__(self, schedule, verbose=0):
        Callback.__init__(self)
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        lr_var = _optimizer_lr(self.model, 'LearningRateScheduler')
        try:
            lr = self.schedule(epoch, float(K.get_value(lr_var)))
        except TypeError:  # a Keras 1/2 schedule of the epoch only
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, int, np.floating, np.integer)):
            raise ConfigError('LearningRateScheduler: the schedule must return a number, got '
                              '%r' % (lr,))
        K.set_value(lr_var, float(lr))
        if self.verbose > 0:
            print('\nEpoch %05d: LearningRateScheduler setting learning rate to %s.'
                  % (epoch + 1, lr))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs['lr'] = float(K.get_value(self.model.optimizer.lr))


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved by
    ``min_delta`` for ``patience`` epochs, then wait ``cooldown`` epochs; never below
    ``min_lr``. Puts the current rate in the epoch logs as ``lr``."""

    def __init__(self, monitor='val_loss', factor=0.1, patience=10, verbose=0, mode='auto',
                 min_delta=1e-4, cooldown=0, min_lr=0., epsilon=None, **kwargs):
        Callback.__init__(self)
        if kwargs:
            raise ConfigError('ReduceLROnPlateau: keyword argument(s) not understood: %s'
                              % ', '.join(sorted(kwargs)))
        if factor >= 1.0:
            raise ConfigError('ReduceLROnPlateau does not support a factor >= 1.0, got %r'
                              % (factor,))
        if epsilon is not None:  # Keras 2.0 spelling of min_delta
            min_delta = epsilon
        self.monitor, self.factor, self.patience = monitor, float(factor), patience
        self.verbose, self.cooldown, self.min_lr = verbose, cooldown, min_lr
        self.min_delta = abs(min_delta)
        op = _monitor_op(mode, monitor, 'ReduceLROnPlateau')
        if op == np.less:
            self.monitor_op = lambda a, b: np.less(a, b - self.min_delta)
            self._initial_best = np.inf
        else:
            self.monitor_op = lambda a, b: np.greater(a, b + self.min_delta)
            self._initial_best = -np.inf
        self._reset()

    def _reset(self):
        self.best = self._initial_best
        self.cooldown_counter = self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        lr_var = _optimizer_lr(self.model, 'ReduceLROnPlateau')
        logs['lr'] = float(K.get_value(lr_var))
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn('Reduce LR on plateau conditioned on metric %r which is not '
                          'available. Available metrics are: %s'
                          % (self.monitor, ','.join(logs)))
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.monitor_op(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(K.get_value(lr_var))
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    K.set_value(lr_var, new_lr)
                    if self.verbose > 0:
                        print('\nEpoch %05d: ReduceLROnPlateau reducing learning rate to %s.'
                              % (epoch + 1, new_lr))
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Streams the epoch logs to a CSV file: ``epoch`` then the log keys, sorted."""

    def __init__(self, filename, separator=',', append=False):
        Callback.__init__(self)
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.writer = self.keys = self.csv_file = None
        self.append_header = True

    def on_train_begin(self, logs=None):
        mode = 'w'
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, 'r') as f:
                    self.append_header = not bool(len(f.readline()))
            mode = 'a'
        self.csv_file = io.open(self.filename, mode, newline='')

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}

        def handle_value(k):
            if isinstance(k, str):
                return k
            if isinstance(k, collections.abc.Iterable) and not (
                    isinstance(k, np.ndarray) and k.ndim == 0):
                return '"[%s]"' % (', '.join(map(str, k)))
            return k

        if self.keys is None:
            self.keys = sorted(logs.keys())
        if self.model is not None and getattr(self.model, 'stop_training', False):
            # NA for missing values so that csv parsers do not fail on the last epoch.
            logs = dict((k, logs[k]) if k in logs else (k, 'NA') for k in self.keys)
        if not self.writer:
            class CustomDialect(csv.excel):
                delimiter = self.sep
            self.writer = csv.DictWriter(self.csv_file, fieldnames=['epoch'] + self.keys,
                                         dialect=CustomDialect)
            if self.append_header:
                self.writer.writeheader()
        row = collections.OrderedDict({'epoch': epoch})
        row.update((key, handle_value(logs.get(key, 'NA'))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite."""

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get('loss')
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            print('Batch %d: Invalid loss, terminating training' % batch)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs:
    ...)``; ``on_train_begin``/``on_train_end`` take ``logs`` only."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_batch_begin=None,
                 on_batch_end=None, on_train_begin=None, on_train_end=None, **kwargs):
        Callback.__init__(self)
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_batch_begin=on_batch_begin, on_batch_end=on_batch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end)
        hooks.update(kwargs)
        for name, fn in hooks.items():
            if not name.startswith('on_') or not hasattr(Callback, name):
                raise ConfigError('LambdaCallback: unknown hook %r' % name)
            if fn is not None:
                setattr(self, name, fn)
