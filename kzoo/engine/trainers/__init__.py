"""Per-backend training hooks: gradients and in-place writes into variables.

Everything about training is written once, with ``K`` ops: the losses, the metrics,
the optimizers' update rules, the fit loop. What differs per backend lives in one
small module per backend, found here by backend name, with four names:

- ``value_and_grad(fn, variables)``: run ``fn()`` (returns ``(loss, aux)``) and give
  ``(loss, aux, gradients)``, a gradient (or None) per variable;
- ``assign(variable, value)``: write a new value into a variable in place;
- ``no_grad()``: a context for work outside the gradient record;
- ``foreach``: list-wise math for optimizer updates
  (:class:`kzoo.engine.trainers.foreach.Foreach`, or faster kernels).

``torch_trainer`` and ``tensorflow_trainer`` implement them; another backend plugs in
with such a module listed in ``TRAINER_MODULES``. A backend without one (numpy:
forward passes only) cannot train: asking for its trainer raises a
:class:`~kzoo.errors.BackendError` that says what to do.

>>> from kzoo import backend as K
>>> with K.using('numpy'):
...     try:
...         get_trainer()
...     except Exception as e:
...         print(type(e).__name__)
BackendError
"""
import importlib

from kzoo import backend as K
from kzoo.errors import BackendError

# backend name -> module with value_and_grad / assign (imported on first use, so
# importing kzoo never imports torch or TensorFlow for training).
TRAINER_MODULES = {
    'torch': 'kzoo.engine.trainers.torch_trainer',
    'tensorflow': 'kzoo.engine.trainers.tensorflow_trainer',
}

_loaded = {}


def get_trainer(backend_name=None):
    """The training hooks of ``backend_name`` (default: the active backend)."""
    name = backend_name or K.backend()
    if name in _loaded:
        return _loaded[name]
    module_name = TRAINER_MODULES.get(name)
    if module_name is None:
        raise BackendError(
            'the %r backend is inference-only: it computes forward passes (predict) but '
            'has no gradients, so compile/fit/train_on_batch cannot train on it. Train on '
            'the torch backend (K.set_backend("torch"), or KZOO_BACKEND=torch), then predict '
            'with any backend' % name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BackendError('training on the %r backend is not available yet: %s' % (name, e)) \
            from e
    _loaded[name] = module
    return module
