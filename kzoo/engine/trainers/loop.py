"""The steps and loops behind ``fit``, ``evaluate``, ``predict`` and their generator forms.

A step runs the model on one batch with ``training=True`` (dropout and noise act,
BatchNormalization updates its moving statistics), adds the regularization losses
(weight regularizers of trainable weights, activity regularizers), asks the backend's
trainer for gradients, lets the optimizer update the weights and applies the weights'
constraints. Everything here is backend-neutral; see :mod:`kzoo.engine.trainers`.
"""
import math

import numpy as np

from kzoo import backend as K
from kzoo import callbacks as cbks
from kzoo.engine.base_layer import collecting_losses
from kzoo.engine.trainers import get_trainer
from kzoo.engine.trainers import data as data_utils
from kzoo.errors import ConfigError, ShapeError

__all__ = ['run_step', 'step_tensors', 'to_floats', 'fit_loop', 'evaluate_loop',
           'predict_loop', 'array_batches', 'generator_batches']


# ---- one step ------------------------------------------------------------------------

def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, '_plan') or hasattr(layer, '_stack'):
            for inner in _all_layers(layer):
                yield inner


def _reset_losses(layers):
    for layer in layers:
        if getattr(layer, 'losses', None):
            layer.losses = []


class StepPlan(object):
    """What a step needs from the model's structure, worked out once: the layers, the
    trainable weights, those with regularizers and those with constraints. Rebuilt when
    the structure changes (see :meth:`current_signature`)."""

    def __init__(self, model):
        self.model = model
        self.layers = list(_all_layers(model))
        self.signature = self.current_signature()
        self.trainable = model.trainable_weights
        ids = {id(v) for v in self.trainable}
        specs = [s for s in model._ordered_specs() if id(s.variable) in ids]
        self.regularized = [s for s in specs if s.regularizer is not None]
        self.constrained = [s for s in specs if s.constraint is not None]
        self.with_losses = [layer for layer in self.layers if hasattr(layer, 'losses')]
        self.active = model._training_state.loss.active
        self._input_dtypes = None

    def input_dtypes(self, floatx):
        """Per input, the float dtype its numeric data is cast to (None: kept)."""
        if self._input_dtypes is None or self._input_dtypes[0] != floatx:
            self._input_dtypes = (floatx, [
                t.dtype if np.dtype(t.dtype or floatx).kind == 'f' else None
                for t in self.model.inputs])
        return self._input_dtypes[1]

    def current_signature(self):
        """What the plan depends on, cheap to compare each step: every layer's
        ``trainable`` flag and weight count, and the graphs (``_plan``, rebuilt by
        ``Sequential.add``/``pop``) of the model and its nested models."""
        model = self.model
        return (model.trainable, getattr(model, '_plan', None)) + tuple(
            (layer.trainable, len(getattr(layer, '_weight_specs', ())),
             getattr(layer, '_plan', None)) for layer in self.layers)


def _regularization(plan):
    """Weight penalties of trainable weights plus the layers' recorded losses."""
    terms = [s.regularizer(s.variable) for s in plan.regularized]
    for layer in plan.with_losses:
        if layer.losses:
            terms.extend(layer.losses)
    total = None
    for t in terms:
        total = t if total is None else total + t
    return total


def _apply_constraints(plan, assign):
    for spec in plan.constrained:
        assign(spec.variable, spec.constraint(spec.variable))


def _tensor(array, dtype=None):
    if array is None:
        return None
    array = np.asarray(array)
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    return K.convert_to_tensor(array)


def step_tensors(model, xs, ys, sample_weights, training):
    """One batch: ``(loss values, metric (sum, count) pairs)`` as backend scalars, out of
    the gradient record (a count may be a Python float). Nothing waits for the device:
    :func:`to_floats` reads the values when they are needed.

    ``loss values`` are ``[total] + [per-output loss for each output with a loss]``
    when the model has several outputs, else ``[total]``.
    """
    state = model._training_state
    trainer = get_trainer()
    floatx = K.floatx()
    plan = state.plan()
    x_t = [_tensor(a, dtype if a.dtype.kind in 'fiub' else None)
           for a, dtype in zip(map(np.asarray, xs), plan.input_dtypes(floatx))]
    y_t = [None if y is None else _tensor(y, floatx) for y in ys]
    sw_t = [None if w is None else _tensor(w, floatx) for w in sample_weights]
    loss = state.loss
    active = plan.active
    for i in active:
        if y_t[i] is None:
            raise ShapeError('model %r: output %r has a loss but no target data was given'
                             % (model.name, model.output_names[i]))
    if state.metrics.fns is None:
        state.metrics.build([None if y is None else tuple(K.int_shape(y)) for y in y_t],
                            [tuple(o.shape) for o in model.outputs])

    def forward():
        _reset_losses(plan.with_losses)
        with collecting_losses():
            outputs, masks = model._run_graph(x_t, None, training)
        total, per_output = loss(y_t, outputs, sw_t, masks)
        reg = _regularization(plan)
        if reg is not None:
            total = total + reg
        return total, (outputs, per_output, masks)

    if training:
        total, (outputs, per_output, masks), grads = trainer.value_and_grad(forward,
                                                                           plan.trainable)
        model.optimizer.apply(grads, plan.trainable)
        if plan.constrained:
            with trainer.no_grad():
                _apply_constraints(plan, trainer.assign)
    else:
        with trainer.no_grad():
            total, (outputs, per_output, masks) = forward()
    with trainer.no_grad():
        metric_parts = state.metrics(y_t, outputs, sw_t, masks) if state.metrics.fns else []
    values = [total] + ([per_output[i] for i in active] if len(outputs) > 1 else [])
    return [K.stop_gradient(v) for v in values], metric_parts


def to_floats(tensors):
    """Python floats of backend scalars (Python numbers pass as they are); many are
    read in one transfer."""
    at = [i for i, t in enumerate(tensors) if not isinstance(t, (int, float))]
    if len(at) <= 4:
        return [float(t) if isinstance(t, (int, float)) else float(K.to_numpy(t))
                for t in tensors]
    out = list(tensors)
    try:  # scalars of one dtype, as losses and metric sums are
        read = K.to_numpy(K.stack([tensors[i] for i in at])).reshape(-1).tolist()
    except Exception:  # noqa: BLE001 (shapes or dtypes that do not stack: one by one)
        read = [float(K.to_numpy(tensors[i])) for i in at]
    if len(read) != len(at):
        read = [float(K.to_numpy(tensors[i])) for i in at]
    for i, v in zip(at, read):
        out[i] = v
    return [float(v) for v in out]


def _flat(losses, metrics):
    """One step's values in one list: the losses, then each metric's sum and count."""
    return list(losses) + [x for pair in metrics for x in pair]


def _unflat(flat, n_losses):
    """:func:`_flat` undone: ``(losses, metric (sum, count) pairs)``."""
    rest = flat[n_losses:]
    return flat[:n_losses], list(zip(rest[0::2], rest[1::2]))


def _floats_of(losses, metrics):
    return _unflat(to_floats(_flat(losses, metrics)), len(losses))


def run_step(model, xs, ys, sample_weights, training):
    """:func:`step_tensors` as Python floats: ``(loss values, metric (sum, count)
    pairs)``."""
    return _floats_of(*step_tensors(model, xs, ys, sample_weights, training))


def step_logs(model, losses, metrics):
    """A dict of one batch's values, named as ``model.metrics_names``."""
    values = list(losses) + [s / c if c else 0. for s, c in metrics]
    return dict(zip(model.metrics_names, values))


# ---- batches -------------------------------------------------------------------------

class Batches(object):
    """One epoch's batches: an iterable of ``(xs, ys, sample_weights, size)``."""

    def __init__(self, iterate, steps=None, samples=None):
        self.iterate, self.steps, self.samples = iterate, steps, samples

    def __iter__(self):
        return iter(self.iterate())


def _batch_weights(model, ys, sws, class_weights):
    out = []
    for i, name in enumerate(model.output_names):
        w = sws[i] if sws else None
        cw = class_weights[i] if class_weights else None
        if cw is not None and ys[i] is not None:
            w_cw = data_utils.class_weights_for(ys[i], cw)
            w = w_cw if w is None else np.asarray(w) * w_cw.reshape(
                (-1,) + (1,) * (np.ndim(w) - 1))
        out.append(w)
    return out


def array_batches(model, xs, ys, sws, class_weights, batch_size, shuffle):
    """Batches over arrays (numpy or lazy), reshuffled each time they are iterated."""
    n = data_utils.num_samples(xs)
    steps = int(math.ceil(n / float(batch_size))) if n else 0

    def iterate():
        for index in data_utils.batch_indices(n, batch_size, shuffle):
            bx = [data_utils.take(a, index) for a in xs]
            by = [data_utils.take(a, index) for a in ys]
            bw = [data_utils.take(a, index) for a in sws] if sws else None
            yield bx, by, _batch_weights(model, by, bw, class_weights), len(bx[0])

    return Batches(iterate, steps=steps, samples=n)


def unpack_generator_output(output, what):
    """``(x, y, sample_weight)`` from what a generator yielded."""
    if isinstance(output, tuple):
        if len(output) == 2:
            return output[0], output[1], None
        if len(output) == 3:
            return output
        raise ShapeError('%s: a generator must yield (x, y) or (x, y, sample_weight) '
                         'tuples, got a tuple of %d' % (what, len(output)))
    raise ShapeError('%s: a generator must yield (x, y) or (x, y, sample_weight) tuples, '
                     'got %s' % (what, type(output).__name__))


def is_sequence(data):
    return hasattr(data, '__getitem__') and hasattr(data, '__len__') \
        and not data_utils.is_array_like(data) and not isinstance(data, (list, tuple, dict))


def generator_batches(model, generator, steps, class_weights, what, samples=None,
                      shuffle=False, yields_targets=True):
    """Batches from a generator or a ``Sequence`` (``steps`` per epoch, or ``samples``:
    Keras 1's ``samples_per_epoch``, counted in samples)."""
    sequence = is_sequence(generator)
    if steps is None and samples is None:
        if not sequence:
            raise ConfigError('%s: steps (steps_per_epoch) must be given for a generator; '
                              'only Sequence objects know their length' % what)
        steps = len(generator)
    iterator = None if sequence else iter(generator)

    def iterate():
        order = list(range(len(generator))) if sequence else None
        if sequence and shuffle:
            np.random.shuffle(order)
        step, seen = 0, 0
        while (steps is not None and step < steps) or (steps is None and seen < samples):
            if sequence:
                output = generator[order[step % len(order)]]
            else:
                try:
                    output = next(iterator)
                except StopIteration:
                    raise ConfigError('%s: the generator stopped after %d batches; it must '
                                      'yield steps x epochs batches' % (what, step)) from None
            if yields_targets:
                x, y, sw = unpack_generator_output(output, what)
            else:
                x = output[0] if isinstance(output, tuple) and len(output) in (2, 3) else output
                y = sw = None
            xs, ys, sws = model._standardize_data(x, y, sw, check_targets=yields_targets)
            size = data_utils.num_samples(xs)
            yield xs, ys, _batch_weights(model, ys, sws, class_weights), size
            step += 1
            seen += size
        if sequence and hasattr(generator, 'on_epoch_end'):
            generator.on_epoch_end()

    return Batches(iterate, steps=steps)


# ---- loops ---------------------------------------------------------------------------

class Averages(object):
    """Running epoch values, as Keras 3 keeps them: losses averaged over samples (batch
    values weighted by batch size), metrics as total weighted value / total weight.

    :meth:`add` takes Python floats; :meth:`add_tensors` keeps backend scalars and
    reads them all at once in :meth:`values` (no wait for the device each step)."""

    FLUSH_EVERY = 512

    def __init__(self):
        self.losses = self.metrics = None
        self.seen = self.steps = 0
        self._pending = []

    def add(self, losses, metrics, size):
        if self.losses is None:
            self.losses = [0.] * len(losses)
            self.metrics = [[0., 0.] for _ in metrics]
        for i, v in enumerate(losses):
            self.losses[i] += v * size
        for i, (total, count) in enumerate(metrics):
            self.metrics[i][0] += total
            self.metrics[i][1] += count
        self.seen += size
        self.steps += 1

    def add_tensors(self, losses, metrics, size):
        self._pending.append((losses, metrics, size))
        if len(self._pending) >= self.FLUSH_EVERY:  # long epochs: bounded memory
            self._flush()

    def _flush(self):
        pending, self._pending = self._pending, []
        if not pending:
            return
        flat = to_floats([x for losses, metrics, _ in pending for x in _flat(losses, metrics)])
        at = 0
        for losses, metrics, size in pending:  # in step order: the same sums as add()
            width = len(losses) + 2 * len(metrics)
            self.add(*_unflat(flat[at:at + width], len(losses)), size=size)
            at += width

    def values(self):
        self._flush()
        if self.losses is None:
            return None
        return [v / max(self.seen, 1) for v in self.losses] + \
            [t / c if c else 0. for t, c in self.metrics]


def evaluate_loop(model, batches, verbose=0):
    """The loss and metrics over all batches (``metrics_names`` order)."""
    averages = Averages()
    progbar = cbks.Progbar(batches.samples or batches.steps, verbose=verbose) \
        if verbose else None
    for xs, ys, sws, size in batches:
        if progbar is None:
            averages.add_tensors(*step_tensors(model, xs, ys, sws, False), size=size)
            continue
        averages.add(*run_step(model, xs, ys, sws, training=False), size=size)
        progbar.update(averages.seen if batches.samples else averages.steps)
    values = averages.values()
    if values is None:
        raise ShapeError('model %r: evaluate() got no samples' % model.name)
    return values


def predict_loop(model, xs_batches, verbose=0):
    """Concatenated outputs over batches of inputs."""
    chunks = []
    for xs in xs_batches:
        out = model.predict_on_batch(xs if len(xs) > 1 else xs[0])
        chunks.append(out if isinstance(out, list) else [out])
    if not chunks:
        raise ShapeError('model %r: predict() got no samples' % model.name)
    results = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    return results[0] if len(results) == 1 else results


def fit_loop(model, batches, epochs, initial_epoch=0, verbose=1, callbacks=None,
             validation=None, validation_freq=1, count_mode='samples', batch_size=None,
             validation_arrays=None):
    """Train ``epochs - initial_epoch`` epochs over ``batches``; returns the History.

    ``validation``: a function returning the validation values (``metrics_names``
    order), or None.
    """
    model.history = cbks.History()
    callback_list = []  # epoch averages come from the loop itself (Keras 3's way)
    if verbose:
        callback_list.append(cbks.ProgbarLogger(count_mode=count_mode))
    callback_list += list(callbacks or []) + [model.history]
    callback_list = cbks.CallbackList(callback_list)
    names = list(model.metrics_names)
    out_labels = names + (['val_' + n for n in names] if validation else [])
    callback_list.set_model(model)
    callback_list.set_params({
        'batch_size': batch_size, 'epochs': epochs, 'steps': batches.steps,
        'samples': batches.samples if count_mode == 'samples' else None,
        'verbose': verbose, 'do_validation': bool(validation), 'metrics': out_labels})
    for cb in callback_list:
        cb.validation_data = validation_arrays
    model.stop_training = False
    model._make_train_function()
    batch_hooks = callback_list.has_batch_hooks()
    callback_list.on_train_begin()
    try:
        for epoch in range(initial_epoch, epochs):
            epoch_logs, averages = {}, Averages()
            callback_list.on_epoch_begin(epoch, epoch_logs)
            for batch_index, (xs, ys, sws, size) in enumerate(batches):
                if not batch_hooks:  # no callback looks at batches: read values at the end
                    averages.add_tensors(*step_tensors(model, xs, ys, sws, True), size=size)
                    if model.stop_training:
                        break
                    continue
                batch_logs = {'batch': batch_index, 'size': size}
                callback_list.on_batch_begin(batch_index, batch_logs)
                losses, metrics = run_step(model, xs, ys, sws, training=True)
                averages.add(losses, metrics, size)
                batch_logs.update(step_logs(model, losses, metrics))
                callback_list.on_batch_end(batch_index, batch_logs)
                if model.stop_training:
                    break
            epoch_logs.update(zip(names, averages.values() or []))
            if validation and (epoch + 1 - initial_epoch) % validation_freq == 0:
                for name, value in zip(names, validation()):
                    epoch_logs['val_' + name] = value
            callback_list.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
    finally:
        callback_list.on_train_end()
    return model.history
