"""``to_torch``: a kzoo model as a ``torch.nn.Module`` whose weights are ``nn.Parameter``s.

kzoo's torch backend already stores every weight as a ``torch.nn.Parameter`` and runs
the layers with torch ops (autograd included), so the module simply registers the
model's variables as its parameters and runs the model's graph with the torch backend
in ``forward``. A model built on another backend is first rebuilt on torch (from its
config) with the same weights. Training the module in plain PyTorch trains the kzoo
model it wraps (they share the parameters).

Parameter names follow the Keras weight names: ``dense_1/kernel:0`` becomes the
state-dict key ``dense_1.kernel``; ``save_state_dict`` writes them to a ``.pt`` file
that ``torch.load(path, weights_only=True)`` reads back.

>>> import numpy as np, torch
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> module = to_torch(Model(x, Dense(2, name='d')(x)))
>>> sorted(module.state_dict())
['d.bias', 'd.kernel']
>>> tuple(module(torch.ones(4, 3)).shape)
(4, 2)
"""
import os
import re

import numpy as np

from kzoo import backend as K
from kzoo.errors import ConversionError


def _torch():
    try:
        import torch
    except ImportError:
        raise ConversionError('exporting to PyTorch needs torch (pip install torch)') from None
    return torch


def _is_torch_model(model):
    torch = _torch()
    return all(isinstance(w, torch.nn.Parameter) for w in model.weights)


def rebuild_on_backend(model, backend):
    """A copy of ``model`` built from its config on ``backend``, with its weights."""
    from kzoo.engine.network import deserialize_layer
    from kzoo.utils.generic_utils import CustomObjectScope
    config = {'class_name': type(model).__name__, 'config': model.get_config()}
    weights = _weights_by_layer(model)
    with K.using(backend):
        try:
            with CustomObjectScope({}):
                clone = deserialize_layer(config)
        except Exception as e:
            raise ConversionError('cannot rebuild model %r on the %s backend from its config '
                                  '(%s: %s); build it with that backend active instead'
                                  % (model.name, backend, type(e).__name__, e)) from e
        if not getattr(clone, 'inputs', None) and getattr(model, 'inputs', None):
            clone.build(tuple(model.inputs[0].shape))
        for layer in clone.layers:
            if layer.name in weights and weights[layer.name]:
                layer.set_weights(weights[layer.name])
    return clone


def _weights_by_layer(model):
    return {layer.name: layer.get_weights() for layer in model.layers}


def _sanitize(part):
    part = re.sub(r'[^0-9A-Za-z_]', '_', part)
    return part or '_'


def parameter_paths(model):
    """``[(path components, variable)]`` for every weight of ``model`` (deduplicated),
    named after Keras's weight names."""
    out, seen = [], set()

    def visit(layer, prefix, top=False):
        if hasattr(layer, '_plan'):   # a (nested) model: its layers, under its name
            inner = prefix if top else prefix + [layer.name]
            for sub in layer.layers:
                visit(sub, inner)
            return
        names = layer.weight_names()
        variables = layer.weights
        if len(names) != len(variables):
            names = ['%s/weight_%d:0' % (layer.name, i) for i in range(len(variables))]
        for name, variable in zip(names, variables):
            if id(variable) in seen:
                continue
            seen.add(id(variable))
            parts = [p for p in name.split(':')[0].split('/') if p]
            out.append((prefix + parts, variable))

    visit(model, [], top=True)
    return out


def _module_class():
    torch = _torch()

    class KzooModule(torch.nn.Module):
        """A kzoo model as a torch module (see :func:`to_torch`)."""

        def __init__(self, model):
            torch.nn.Module.__init__(self)
            object.__setattr__(self, 'kzoo_model', model)
            used = set()
            for parts, variable in parameter_paths(model):
                parts = [_sanitize(p) for p in parts]
                key = '.'.join(parts)
                i = 0
                while key in used:
                    i += 1
                    key = '.'.join(parts[:-1] + ['%s_%d' % (parts[-1], i)])
                used.add(key)
                parts = key.split('.')
                owner = self
                for part in parts[:-1]:
                    if part not in owner._modules:
                        owner.add_module(part, torch.nn.Module())
                    owner = owner._modules[part]
                owner.register_parameter(parts[-1], variable)

        def forward(self, *inputs):
            model = self.kzoo_model
            tensors = [x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
                       for x in inputs]
            if len(tensors) == 1 and isinstance(inputs[0], (list, tuple)):
                tensors = list(inputs[0])
            with K.using('torch'):
                outputs, _ = model._run_graph(tensors, None, self.training)
            return outputs[0] if len(outputs) == 1 else tuple(outputs)

        def extra_repr(self):
            return 'kzoo model %r' % self.kzoo_model.name

    return KzooModule


def to_torch(model):
    """A ``torch.nn.Module`` computing ``model`` (weights are its parameters).

    A model whose weights are already torch Parameters is wrapped as is (the module
    and the model share their weights); any other is rebuilt on the torch backend.
    ``module.train()`` runs dropout and updates BatchNormalization statistics, as
    ``training=True`` does in kzoo.
    """
    if not getattr(model, 'inputs', None):
        raise ConversionError('model %r has no inputs yet: build it before exporting'
                              % model.name)
    if not _is_torch_model(model):
        model = rebuild_on_backend(model, 'torch')
    module = _module_class()(model)
    module.eval()
    return module


def save_state_dict(module, path):
    """Write ``module.state_dict()`` to ``path`` atomically (a ``.pt`` file)."""
    from kzoo.utils.io_utils import atomic_write
    torch = _torch()
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    with atomic_write(os.fspath(path), 'wb') as f:
        torch.save(state, f)


def load_checkpoint(path):
    """``torch.load(path, weights_only=True)``: a file whose pickle names anything but
    tensors and plain containers (a ``__reduce__`` payload) is refused with
    :class:`~kzoo.errors.UnsafeInputError`, a broken file is a
    :class:`~kzoo.errors.FileFormatError`; neither suggests ``weights_only=False``."""
    import pickle
    from kzoo.errors import FileFormatError, UnsafeInputError
    torch = _torch()
    label = os.fspath(path)
    try:
        return torch.load(label, weights_only=True, map_location='cpu')
    except pickle.UnpicklingError as e:
        found = re.search(r'(unsupported GLOBAL [^\s]+|Unsupported global: [^\n]+|'
                          r'Unsupported operand [^\n]+)', str(e))
        raise UnsafeInputError('%s: refused: its pickle asks for %s; kzoo reads torch '
                               'checkpoints with weights_only=True (tensors and plain '
                               'containers only), so no code in the file runs'
                               % (label, found.group(1) if found else 'a forbidden object')
                               ) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError,
            TypeError, AttributeError) as e:
        raise FileFormatError('%s is not a readable torch checkpoint: %s'
                              % (label, str(e).splitlines()[0][:300] if str(e) else
                                 type(e).__name__)) from None


def load_state_dict(module, path):
    """Load a ``.pt`` state dict (``weights_only``: no code runs) into ``module``."""
    state = load_checkpoint(path)
    module.load_state_dict(state)
    return module


def load_weights(model, path, by_name=False, skip_mismatch=False):
    """Set ``model``'s weights from a ``.pt`` state dict written by :func:`save_state_dict`
    (``weights_only``: no code runs). As Keras's ``load_weights``: in order by default,
    by name (the keys :func:`to_torch` gives) with ``by_name``."""
    from kzoo.errors import ShapeError
    label = os.fspath(path)
    state = load_checkpoint(label)
    if not isinstance(state, dict):
        raise ConversionError('%s is not a state dict' % label)
    paths = parameter_paths(model)
    if by_name:
        keys = ['.'.join(_sanitize(p) for p in parts) for parts, _ in paths]
        items = [(key, state.get(key)) for key in keys]
    else:
        if len(state) != len(paths):
            raise ConversionError('%s holds %d arrays, model %r has %d weights; load by name '
                                  'with by_name=True' % (label, len(state), model.name,
                                                         len(paths)))
        items = list(state.items())
    pairs = []
    for (key, value), (_, variable) in zip(items, paths):
        if value is None:
            continue
        value = value.detach().cpu().numpy()
        if tuple(value.shape) != tuple(int(d) for d in variable.shape):
            if skip_mismatch:
                continue
            raise ShapeError('%s: %s has shape %s, model %r expects %s'
                             % (label, key, tuple(value.shape), model.name,
                                tuple(int(d) for d in variable.shape)))
        pairs.append((variable, value))
    K.batch_set_value(pairs)


def is_state_dict_file(path):
    """A zip written by ``torch.save`` (it holds ``<name>/data.pkl``)."""
    import zipfile
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith('/data.pkl') for n in names) and 'config.json' not in names
