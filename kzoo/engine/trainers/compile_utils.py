"""What ``compile`` sets up: a loss and metrics per model output.

:class:`CompiledLoss` weighs and reduces per-sample losses as Keras 3 does
(``sum(loss * sample_weight) / number of loss values``, a mask re-weighting the valid
steps), then sums ``loss_weight * loss`` over outputs; the loss weights are not
normalized. :class:`CompiledMetrics` resolves ``'accuracy'`` once it sees the data's
shapes and names every metric as Keras does (``acc``, ``dense_2_mae``, ...).
"""
import math

from kzoo import backend as K, losses as losses_module, metrics as metrics_module
from kzoo.errors import ConfigError

__all__ = ['CompiledLoss', 'CompiledMetrics', 'per_output']


def per_output(value, names, what, default=None):
    """A list with one entry per output from one value, a list or a dict by name."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ConfigError('compile: %s given for unknown output(s) %s; the outputs are %s'
                              % (what, unknown, names))
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ConfigError('compile: %s is a list of %d, but the model has %d output(s) '
                              '(%s)' % (what, len(value), len(names), ', '.join(names)))
        return list(value)
    return [value] * len(names)


def _name_of(obj):
    if isinstance(obj, str):
        return obj
    return getattr(obj, 'name', None) or getattr(obj, '__name__', None) or type(obj).__name__


def _match_rank(values, weights):
    """Keras 3's squeeze_or_expand_to_same_rank for (loss values, sample weights)."""
    vr, wr = K.ndim(values), K.ndim(weights)
    if wr == vr + 1 and K.int_shape(weights)[-1] == 1:
        weights = K.squeeze(weights, -1)
    elif vr == wr + 1 and K.int_shape(values)[-1] == 1:
        values = K.squeeze(values, -1)
    while K.ndim(weights) < K.ndim(values):
        weights = K.expand_dims(weights, -1)
    return values, weights


def reduce_weighted(values, sample_weight=None, mask=None):
    """``sum(values * weight) / values.size`` with the mask folded into the weight."""
    if mask is not None:
        mask = K.cast(mask, K.dtype(values))
        values, mask = _match_rank(values, mask)
        total = float(math.prod(K.int_shape(mask)))
        valid = K.sum(mask)
        mask = mask * (total / K.maximum(valid, 1e-12))  # valid steps weigh total/valid
        if sample_weight is not None:
            mask, sample_weight = _match_rank(mask, sample_weight)
            sample_weight = mask * sample_weight
        else:
            sample_weight = mask
    if sample_weight is not None:
        values, sample_weight = _match_rank(values, sample_weight)
        values = values * sample_weight
    size = float(max(math.prod(K.int_shape(values)), 1))
    return K.sum(values) / size


class CompiledLoss(object):
    """The per-output losses and weights of a compiled model."""

    def __init__(self, output_names, loss, loss_weights=None):
        self.output_names = list(output_names)
        if loss is None:
            raise ConfigError('compile() needs a loss, e.g. loss="mse"')
        specs = per_output(loss, self.output_names, 'loss')
        self.losses = [losses_module.get(s) for s in specs]
        if all(l is None for l in self.losses):
            raise ConfigError('compile(): no output of the model has a loss')
        weights = per_output(loss_weights if loss_weights is not None else 1.,
                             self.output_names, 'loss_weights', default=1.)
        self.loss_weights = [1. if w is None else float(w) for w in weights]
        self.fns = [None if l is None else losses_module.per_sample(l) for l in self.losses]
        multi = len(self.output_names) > 1
        self.names = [('%s_loss' % n if multi else 'loss') for n in self.output_names]

    @property
    def active(self):
        """Indices of the outputs that have a loss (and so need targets)."""
        return [i for i, fn in enumerate(self.fns) if fn is not None]

    def __call__(self, y_true, y_pred, sample_weights, masks):
        """``(total, [per-output loss or None])`` as backend scalars."""
        total, per = None, []
        for i, fn in enumerate(self.fns):
            if fn is None:
                per.append(None)
                continue
            values = fn(y_true[i], y_pred[i])
            value = reduce_weighted(values, sample_weights[i], masks[i] if masks else None)
            per.append(value)
            term = value * self.loss_weights[i] if self.loss_weights[i] != 1. else value
            total = term if total is None else total + term
        return total, per


class CompiledMetrics(object):
    """The metrics of each output; functions are resolved on the first batch."""

    def __init__(self, output_names, metrics=None, weighted_metrics=None):
        self.output_names = list(output_names)
        self._specs = self._per_output(metrics) + []
        self._weighted_specs = self._per_output(weighted_metrics)
        self.fns = None
        self.names = self._names()

    def _per_output(self, metrics):
        n = len(self.output_names)
        if metrics is None:
            return [[] for _ in range(n)]
        if isinstance(metrics, dict):
            lists = per_output(metrics, self.output_names, 'metrics', default=[])
            return [list(m) if isinstance(m, (list, tuple)) else [m] for m in lists]
        metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
        if n > 1 and len(metrics) == n and all(isinstance(m, (list, tuple)) or m is None
                                               for m in metrics):
            return [list(m or []) for m in metrics]  # Keras 3: one list per output
        return [list(metrics) for _ in range(n)]

    def _names(self):
        multi = len(self.output_names) > 1
        names = []
        for out, specs in zip(self.output_names, self._specs):
            for spec in specs:
                names.append(('%s_%s' % (out, _name_of(spec))) if multi else _name_of(spec))
        for out, specs in zip(self.output_names, self._weighted_specs):
            for spec in specs:
                base = 'weighted_' + _name_of(spec)
                names.append(('%s_%s' % (out, base)) if multi else base)
        return names

    def build(self, y_true_shapes, y_pred_shapes):
        """Resolve each metric to a function, now that the shapes are known."""
        fns = []
        for weighted, spec_lists in ((False, self._specs), (True, self._weighted_specs)):
            for i, specs in enumerate(spec_lists):
                for spec in specs:
                    if isinstance(spec, str) and spec in ('accuracy', 'acc'):
                        if y_true_shapes[i] is None:
                            raise ConfigError('metric %r on output %r needs targets for that '
                                              'output' % (spec, self.output_names[i]))
                        fn = metrics_module.resolve_accuracy(y_true_shapes[i], y_pred_shapes[i])
                    else:
                        fn = losses_module.per_sample(metrics_module.get(spec))
                    fns.append((i, fn, weighted))
        self.fns = fns

    def __call__(self, y_true, y_pred, sample_weights, masks=None):
        """Per metric ``(weighted sum, weight sum)`` as backend scalars, for averaging.

        As Keras 3: an output's mask (and, for weighted metrics, the sample weights)
        weighs the values; a value per sample is the mean over its other axes.
        """
        results = []
        for i, fn, weighted in self.fns:
            values = K.cast(fn(y_true[i], y_pred[i]), K.floatx())
            if K.ndim(values) == 0:
                values = K.reshape(values, (1,))
            weight = masks[i] if masks else None
            if weight is not None:
                weight = K.cast(weight, K.floatx())
            sw = sample_weights[i] if weighted else None
            if sw is not None:
                weight = sw if weight is None else _product(weight, sw)
            if weight is None:
                results.append((K.sum(_per_sample(values)), float(K.int_shape(values)[0])))
                continue
            values, weight = _match_rank(values, weight)
            if K.ndim(values) > K.ndim(weight):
                values = K.mean(values, axis=tuple(range(K.ndim(weight), K.ndim(values))))
            values = values * weight
            results.append((K.sum(_per_sample(values)),
                            K.sum(_per_sample(weight * K.ones_like(values)))))
        return results


def _per_sample(x):
    return K.mean(x, axis=tuple(range(1, K.ndim(x)))) if K.ndim(x) > 1 else x


def _product(mask, sample_weight):
    mask, sample_weight = _match_rank(mask, sample_weight)
    return mask * sample_weight
