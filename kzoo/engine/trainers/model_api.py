"""``compile``, ``fit``, ``evaluate`` and the rest of Keras's training API for ``Model``.

>>> import numpy as np
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(2,))
>>> model = Model(x, Dense(1, kernel_initializer='zeros')(x))
>>> model.compile('sgd', 'mse')
>>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), epochs=2, verbose=0)
>>> len(history.history['loss'])
2
"""
import numpy as np

from kzoo import losses as losses_module, metrics as metrics_module
from kzoo import optimizers as optimizers_module
from kzoo.engine.trainers import get_trainer, loop
from kzoo.engine.trainers import data as data_utils
from kzoo.engine.trainers.compile_utils import CompiledLoss, CompiledMetrics
from kzoo.errors import ConfigError, ShapeError

__all__ = ['TrainingMixin']


class TrainingState(object):
    """What ``compile`` set up."""

    def __init__(self, model, loss, metrics, weighted_metrics):
        self.model, self.loss, self.metrics = model, loss, metrics
        self._plan = None

    def plan(self):
        """The model's :class:`~kzoo.engine.trainers.loop.StepPlan`, rebuilt when a
        layer was frozen or unfrozen since."""
        plan = self._plan
        if plan is None or plan.signature != plan.current_signature():
            plan = self._plan = loop.StepPlan(self.model)
        return plan


def _serialize(value, serialize_one):
    """Names and configs of losses/metrics, keeping the list/dict structure."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {k: _serialize(v, serialize_one) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_serialize(v, serialize_one) for v in value]
    return serialize_one(value)


def _keras1_args(kwargs, renames, where):
    """Pop Keras 1 argument names (``nb_epoch``, ...) as their Keras 2 names."""
    out = {}
    for old, new in renames.items():
        if old in kwargs:
            out[new] = kwargs.pop(old)
    if kwargs:
        raise ConfigError('%s: keyword argument(s) not understood: %s'
                          % (where, ', '.join(sorted(kwargs))))
    return out


class TrainingMixin(object):
    """Training methods shared by functional models and ``Sequential``."""

    # ---- compile -------------------------------------------------------------------

    def compile(self, optimizer='rmsprop', loss=None, metrics=None, loss_weights=None,
                sample_weight_mode=None, weighted_metrics=None, target_tensors=None,
                **kwargs):
        """Configure training: an optimizer (name or object), a loss per output (name,
        function, list or dict by output name), metrics, and ``loss_weights``
        (list or dict; missing outputs weigh 1.0; not normalized)."""
        get_trainer()  # the numpy backend refuses here, before anything changes
        if target_tensors is not None:
            raise ConfigError('compile(target_tensors=...) is not supported: kzoo feeds '
                              'targets as arrays')
        # Keras 3 compile options with no meaning for kzoo's eager loop.
        for key in ('run_eagerly', 'jit_compile', 'steps_per_execution', 'auto_scale_loss'):
            kwargs.pop(key, None)
        if kwargs:
            raise ConfigError('compile: keyword argument(s) not understood: %s'
                              % ', '.join(sorted(kwargs)))
        if sample_weight_mode not in (None, 'temporal') and not isinstance(
                sample_weight_mode, (list, dict)):
            raise ConfigError('compile: sample_weight_mode must be None or "temporal", got %r'
                              % (sample_weight_mode,))
        self.optimizer = optimizers_module.get(optimizer)
        if not getattr(self, 'outputs', None):
            # A Sequential model without an input shape: finish compiling once the
            # first data builds it (as Keras does).
            self._deferred_compile = dict(
                optimizer=self.optimizer, loss=loss, metrics=metrics,
                loss_weights=loss_weights, sample_weight_mode=sample_weight_mode,
                weighted_metrics=weighted_metrics)
            return
        self.loss, self.loss_weights = loss, loss_weights
        self.sample_weight_mode = sample_weight_mode
        self.metrics = metrics or []
        self.weighted_metrics = weighted_metrics
        compiled_loss = CompiledLoss(self.output_names, loss, loss_weights)
        compiled_metrics = CompiledMetrics(self.output_names, metrics, weighted_metrics)
        self._training_state = TrainingState(self, compiled_loss, compiled_metrics,
                                             weighted_metrics)
        self.stop_training = False

    @property
    def _training_config(self):
        """The Keras 2 ``training_config`` of a compiled model (what an ``.h5`` stores),
        with the optimizer's current configuration."""
        if getattr(self, '_training_state', None) is None:
            return self.__dict__.get('_stored_training_config')
        return {'optimizer_config': optimizers_module.serialize(self.optimizer),
                'loss': _serialize(self.loss, losses_module.serialize),
                'metrics': _serialize(self.metrics, metrics_module.serialize),
                'weighted_metrics': _serialize(self.weighted_metrics, metrics_module.serialize),
                'loss_weights': self.loss_weights,
                'sample_weight_mode': self.sample_weight_mode}

    @_training_config.setter
    def _training_config(self, value):
        self.__dict__['_stored_training_config'] = value

    def _require_compiled(self, what):
        get_trainer()
        if getattr(self, '_training_state', None) is None and \
                getattr(self, '_deferred_compile', None) is None:
            raise ConfigError('model %r must be compiled before %s(); call '
                              'model.compile(optimizer, loss)' % (self.name, what))

    def _make_train_function(self):
        """Create the optimizer's state for the model's trainable weights (as loading a
        saved optimizer state needs first)."""
        self._require_compiled('training')
        if not self.optimizer.built:
            names = {}
            for layer in loop._all_layers(self):
                if not hasattr(layer, 'weight_names') or hasattr(layer, '_plan'):
                    continue
                for w, name in zip(layer.weights, layer.weight_names()):
                    names.setdefault(id(w), name[:-2] if name.endswith(':0') else name)
            weights = self.trainable_weights
            self.optimizer.build(weights, [names.get(id(w), 'variable_%d' % i)
                                           for i, w in enumerate(weights)])

    @property
    def metrics_names(self):
        """``['loss', <output>_loss ..., metric names ...]``, the order of the values that
        ``evaluate`` and ``train_on_batch`` return."""
        state = getattr(self, '_training_state', None)
        if state is None:
            return []
        names = ['loss']
        if len(self.output_names) > 1:
            names += [state.loss.names[i] for i in state.loss.active]
        return names + list(state.metrics.names)

    # ---- data ------------------------------------------------------------------------

    def _standardize_data(self, x, y=None, sample_weight=None, check_targets=True):
        """``(xs, ys, sample_weights)``: lists per input / output, arrays left lazy."""
        if not getattr(self, 'inputs', None):
            first = data_utils.as_list(x, ['input'], 'input', self.name)[0]
            self._ensure_graph([np.asarray(first[:1])])
        if getattr(self, '_deferred_compile', None) is not None and self.outputs:
            self.compile(**self.__dict__.pop('_deferred_compile'))
        xs = data_utils.as_list(x, self.input_names, 'input', self.name)
        xs = data_utils.standardize_arrays(
            xs, self.input_names, [t.shape for t in self.inputs],
            [t.dtype for t in self.inputs], 'input', self.name)
        if any(a is None for a in xs):
            raise ShapeError('model %r: no data for input(s) %s' % (
                self.name, [n for n, a in zip(self.input_names, xs) if a is None]))
        names = self.output_names
        state = getattr(self, '_training_state', None)
        if not check_targets:
            return xs, [None] * len(names), [None] * len(names)
        active = state.loss.active if state is not None else range(len(names))
        if y is None:
            raise ShapeError('model %r: targets (y) are needed for training and evaluation'
                             % self.name)
        if len(active) < len(names) and isinstance(y, (list, tuple)) \
                and len(y) == len(active):
            full = [None] * len(names)  # targets only for the outputs that have a loss
            for i, v in zip(active, y):
                full[i] = v
            y = full
        ys = data_utils.as_list(y, names, 'target', self.name)
        ys = data_utils.standardize_arrays(ys, names, [o.shape for o in self.outputs],
                                           [None] * len(names), 'target', self.name,
                                           check_batch=False)
        sws = data_utils.as_list(sample_weight, names, 'sample_weight', self.name)
        sws = [None if w is None else (w if data_utils.is_array_like(w) else np.asarray(w))
               for w in sws]
        n = data_utils.num_samples(xs)
        for what, arrays in (('target', ys), ('sample_weight', sws)):
            for name, a in zip(names, arrays):
                if a is not None and len(a) != n:
                    raise ShapeError('model %r: %d input samples but %d %s samples for '
                                     'output %r' % (self.name, n, len(a), what, name))
        return xs, ys, sws

    def _class_weights(self, class_weight):
        """Per output ``{class: weight}`` (or None) from one dict or a dict by output."""
        if not class_weight:
            return None
        names = self.output_names
        if set(class_weight) <= set(names) and all(isinstance(v, dict)
                                                   for v in class_weight.values()):
            return [class_weight.get(n) for n in names]
        return [class_weight] * len(names)

    # ---- training --------------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0., validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_freq=1, **kwargs):
        """Train for ``epochs`` epochs (Keras 1: ``nb_epoch``); returns a ``History``.

        ``x``/``y``: arrays, lists or dicts of arrays (``HDF5Matrix`` too, read in
        batches), or a generator / ``Sequence`` of batches. ``shuffle``: True, False
        or ``'batch'`` (shuffle batch-sized chunks; used for ``HDF5Matrix`` data,
        which is never shuffled sample by sample).
        """
        extra = _keras1_args(kwargs, {'nb_epoch': 'epochs'}, 'fit')
        epochs = extra.get('epochs', epochs)
        self._require_compiled('fit')
        if loop.is_sequence(x) or hasattr(x, '__next__'):
            return self.fit_generator(x, steps_per_epoch, epochs, verbose, callbacks,
                                      validation_data, validation_steps, class_weight,
                                      shuffle=shuffle, initial_epoch=initial_epoch)
        batch_size = int(batch_size or 32)
        xs, ys, sws = self._standardize_data(x, y, sample_weight)
        val_arrays = None
        if validation_data is not None:
            val_arrays = self._validation_arrays(validation_data)
        elif validation_split and 0. < validation_split < 1.:
            at = int(data_utils.num_samples(xs) * (1. - validation_split))
            split = lambda arrays: [data_utils.split_at(a, at) for a in arrays]
            xs, vx = zip(*split(xs)) if xs else ((), ())
            ys, vy = zip(*split(ys))
            sws, vw = zip(*split(sws))
            xs, ys, sws = list(xs), list(ys), list(sws)
            val_arrays = (list(vx), list(vy), list(vw))
        if any(not isinstance(a, np.ndarray) for a in xs if a is not None) and shuffle is True:
            shuffle = 'batch'  # lazy (HDF5) data: shuffle chunks, read contiguous batches
        class_weights = self._class_weights(class_weight)
        batches = loop.array_batches(self, xs, ys, sws, class_weights, batch_size, shuffle)
        validation = None
        if val_arrays is not None:
            vbatches = loop.array_batches(self, val_arrays[0], val_arrays[1], val_arrays[2],
                                          None, batch_size, False)
            validation = lambda: loop.evaluate_loop(self, vbatches)
        return loop.fit_loop(self, batches, epochs, initial_epoch, verbose, callbacks,
                             validation, validation_freq, 'samples', batch_size,
                             validation_arrays=val_arrays)

    def _validation_arrays(self, validation_data):
        if not isinstance(validation_data, (list, tuple)) or len(validation_data) not in (2, 3):
            raise ShapeError('validation_data must be a tuple (x_val, y_val) or (x_val, y_val, '
                             'val_sample_weight), got %s' % type(validation_data).__name__)
        vx, vy = validation_data[0], validation_data[1]
        vw = validation_data[2] if len(validation_data) == 3 else None
        return self._standardize_data(vx, vy, vw)

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, sample_weight=None,
                 steps=None, return_dict=False, **kwargs):
        """The loss (and metrics) on ``x``/``y``: a scalar, or a list in
        ``metrics_names`` order (a dict with ``return_dict=True``)."""
        _keras1_args(kwargs, {}, 'evaluate')
        self._require_compiled('evaluate')
        if loop.is_sequence(x) or hasattr(x, '__next__'):
            return self.evaluate_generator(x, steps, verbose=verbose,
                                           return_dict=return_dict)
        xs, ys, sws = self._standardize_data(x, y, sample_weight)
        batches = loop.array_batches(self, xs, ys, sws, None, int(batch_size or 32), False)
        return self._results(loop.evaluate_loop(self, batches, verbose), return_dict)

    def _results(self, values, return_dict=False):
        if return_dict:
            return dict(zip(self.metrics_names, values))
        return values[0] if len(values) == 1 else values

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns its loss (and metrics)."""
        self._require_compiled('train_on_batch')
        xs, ys, sws = self._standardize_data(x, y, sample_weight)
        sws = loop._batch_weights(self, [None if v is None else np.asarray(v) for v in ys],
                                  sws, self._class_weights(class_weight))
        self._make_train_function()
        losses, metrics = loop.run_step(self, [np.asarray(a) for a in xs],
                                        [None if v is None else np.asarray(v) for v in ys],
                                        sws, training=True)
        return self._results(list(loop.step_logs(self, losses, metrics).values()),
                             return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch, without training."""
        self._require_compiled('test_on_batch')
        xs, ys, sws = self._standardize_data(x, y, sample_weight)
        losses, metrics = loop.run_step(self, [np.asarray(a) for a in xs],
                                        [None if v is None else np.asarray(v) for v in ys],
                                        sws, training=False)
        return self._results(list(loop.step_logs(self, losses, metrics).values()),
                             return_dict)

    # ---- generators ------------------------------------------------------------------

    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1,
                      callbacks=None, validation_data=None, validation_steps=None,
                      class_weight=None, max_queue_size=10, workers=1,
                      use_multiprocessing=False, shuffle=True, initial_epoch=0, **kwargs):
        """Train on batches from a generator or ``Sequence``. Keras 1 names
        (``samples_per_epoch``, ``nb_epoch``, ``nb_val_samples``) are accepted; batches
        are drawn in this thread (``workers`` and queues are not used)."""
        extra = _keras1_args(kwargs, {'nb_epoch': 'epochs', 'samples_per_epoch': 'samples',
                                      'nb_val_samples': 'val_samples',
                                      'max_q_size': 'max_queue_size', 'nb_worker': 'workers',
                                      'pickle_safe': 'use_multiprocessing'}, 'fit_generator')
        epochs = extra.get('epochs', epochs)
        self._require_compiled('fit_generator')
        class_weights = self._class_weights(class_weight)
        batches = loop.generator_batches(self, generator, steps_per_epoch, class_weights,
                                         'fit_generator', samples=extra.get('samples'),
                                         shuffle=shuffle)
        validation, val_arrays = None, None
        if validation_data is not None:
            if loop.is_sequence(validation_data) or hasattr(validation_data, '__next__'):
                vbatches = loop.generator_batches(self, validation_data, validation_steps,
                                                  None, 'fit_generator validation',
                                                  samples=extra.get('val_samples'))
            else:
                val_arrays = self._validation_arrays(validation_data)
                vbatches = loop.array_batches(self, val_arrays[0], val_arrays[1],
                                              val_arrays[2], None, 32, False)
            validation = lambda: loop.evaluate_loop(self, vbatches)
        return loop.fit_loop(self, batches, epochs, initial_epoch, verbose, callbacks,
                             validation, 1, 'steps', validation_arrays=val_arrays)

    def evaluate_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                           use_multiprocessing=False, verbose=0, return_dict=False, **kwargs):
        """Loss (and metrics) over ``steps`` batches of a generator or ``Sequence``."""
        extra = _keras1_args(kwargs, {'val_samples': 'samples', 'max_q_size': 'max_queue_size',
                                      'nb_worker': 'workers', 'pickle_safe': 'pickle'},
                             'evaluate_generator')
        self._require_compiled('evaluate_generator')
        batches = loop.generator_batches(self, generator, steps, None, 'evaluate_generator',
                                         samples=extra.get('samples'))
        return self._results(loop.evaluate_loop(self, batches, verbose), return_dict)

    def predict_generator(self, generator, steps=None, max_queue_size=10, workers=1,
                          use_multiprocessing=False, verbose=0, **kwargs):
        """Outputs for ``steps`` batches of inputs (a generator may also yield
        ``(x, y)`` pairs; the targets are ignored)."""
        extra = _keras1_args(kwargs, {'val_samples': 'samples', 'max_q_size': 'max_queue_size',
                                      'nb_worker': 'workers', 'pickle_safe': 'pickle'},
                             'predict_generator')
        batches = loop.generator_batches(self, generator, steps, None, 'predict_generator',
                                         samples=extra.get('samples'), yields_targets=False)
        return loop.predict_loop(self, (xs for xs, _, _, _ in batches), verbose)

    # ---- prediction over lazy data -------------------------------------------------------

    @staticmethod
    def _lazy_inputs(x):
        if loop.is_sequence(x) or hasattr(x, '__next__'):
            return True
        leaves = x.values() if isinstance(x, dict) else x if isinstance(x, (list, tuple)) \
            else [x]
        return any(data_utils.is_array_like(a) and not isinstance(a, np.ndarray)
                   for a in leaves)

    def _predict_lazy(self, x, batch_size=32, verbose=0, steps=None):
        """Predict batch by batch from a generator, a ``Sequence`` or lazy arrays
        (``HDF5Matrix`` is never loaded whole)."""
        if loop.is_sequence(x) or hasattr(x, '__next__'):
            return self.predict_generator(x, steps, verbose=verbose)
        xs, _, _ = self._standardize_data(x, check_targets=False)
        n, batch_size = data_utils.num_samples(xs), int(batch_size or 32)
        batches = ([data_utils.take(a, np.arange(s, min(s + batch_size, n))) for a in xs]
                   for s in range(0, n, batch_size))
        return loop.predict_loop(self, batches, verbose)

