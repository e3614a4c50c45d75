"""``predict_batch``: where ``Model.predict_on_batch`` hands a batch to a plan.

It returns ``None`` whenever the plain layer-by-layer path must run instead: a
backend other than torch, or ``provider='plain'``.

The default provider is ``'auto'``: the compiled plan, or onnxruntime (when installed)
for a float32 shape of a large model where it measured faster on the first batch
(:mod:`kzoo.engine.inference.auto`). Both equal the plain path to float rounding, but a
timing decides, so the last bits of the results can differ from one process to the
next. ``'torch'`` (``predict(..., provider='torch')``, :func:`configure` or
``$KZOO_INFERENCE=torch``) always runs the plan, whose results depend only on the model,
the batch shape and the thread count: two processes agree bit for bit.

>>> settings()['provider'], settings()['precision']
('auto', 'float32')
"""
import os

import numpy as np

from kzoo import backend as K
from kzoo.errors import ConfigError

PROVIDERS = ('auto', 'torch', 'onnxruntime', 'plain')
PRECISIONS = ('float32', 'bfloat16')
_ALIASES = {None: None, 'fp32': 'float32', 'float32': 'float32', 'bf16': 'bfloat16',
            'bfloat16': 'bfloat16'}

_settings = {'provider': 'auto', 'precision': 'float32'}


def _provider_name(name, where):
    if name not in PROVIDERS:
        raise ConfigError('%s: unknown inference provider %r; choose one of: %s'
                          % (where, name, ', '.join(PROVIDERS)))
    return name


def _precision_name(name, where):
    key = name.lower() if isinstance(name, str) else name
    if key not in _ALIASES or (key is None and name is not None):
        raise ConfigError('%s: unknown precision %r; choose one of: %s'
                          % (where, name, ', '.join(PRECISIONS)))
    return _ALIASES[key]


def settings():
    """The process-wide defaults (a copy)."""
    return dict(_settings)


def configure(provider=None, precision=None):
    """Set process-wide defaults for ``predict``; returns the previous settings.

    ``$KZOO_INFERENCE`` (``auto``, ``torch``, ``onnxruntime`` or ``plain``) sets the
    provider at import time.
    """
    previous = settings()
    if provider is not None:
        _settings['provider'] = _provider_name(provider, 'configure')
    if precision is not None:
        _settings['precision'] = _precision_name(precision, 'configure')
    return previous


if os.environ.get('KZOO_INFERENCE'):
    configure(provider=os.environ['KZOO_INFERENCE'])


def predict_batch(model, arrays, precision=None, provider=None):
    """``model``'s outputs (numpy arrays) on one batch, or ``None`` for the plain path."""
    precision = _precision_name(precision, 'model %r predict' % model.name) \
        or _settings['precision']
    provider = _provider_name(provider, 'model %r predict' % model.name) if provider \
        else _settings['provider']
    if provider == 'plain' or not getattr(model, 'inputs', None):
        if precision != 'float32':
            raise ConfigError('model %r: precision=%r needs a compiled provider (torch), not '
                              'the plain path' % (model.name, precision))
        return None
    if provider == 'onnxruntime':
        from kzoo.engine.inference import ort
        return ort.predict(model, arrays, precision)
    if provider == 'auto' and precision == 'float32' and K.backend() == 'torch':
        from kzoo.engine.inference import auto
        if auto.available():
            arrays = [np.asarray(a) for a in arrays]
            return auto.predict(model, arrays, _execute)
    if K.backend() != 'torch':
        if precision != 'float32':
            raise ConfigError('model %r: precision=%r needs the torch backend (active: %s)'
                              % (model.name, precision, K.backend()))
        return None
    return _run_plan(model, arrays, precision)


def _execute(plan, arrays):
    import torch
    with torch.inference_mode():
        tensors = [K.convert_to_tensor(a) for a in arrays]
        return [K.to_numpy(o) for o in plan.run(tensors)]


def _run_plan(model, arrays, precision):
    from kzoo.engine.inference.plan import get_plan
    arrays = [np.asarray(a) for a in arrays]
    plan = get_plan(model, [a.shape for a in arrays], [a.dtype for a in arrays], precision)
    results = _execute(plan, arrays)
    if plan.precision != 'float32' and plan.deviation is None:
        from kzoo.engine.inference.precision import measure_deviation
        plan.deviation = measure_deviation(model, arrays, results)
    return results


def describe(model):
    """One dict per compiled plan of ``model`` (precision, shapes, kernels, deviation),
    per choice of ``provider='auto'`` (``'auto': True``), and for an onnxruntime session."""
    from kzoo.engine.inference.auto import summaries
    from kzoo.engine.inference.plan import plans_of
    out = [plan.summary() for plan in plans_of(model)] + summaries(model)
    session = model.__dict__.get('_onnxruntime_session')
    if session is not None:
        out.append(session.summary())
    return out
