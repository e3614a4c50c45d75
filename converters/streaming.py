"""Reading large Keras HDF5 models with at most one copy of their weights in memory.

The general loader (:func:`kzoo.converters.hdf5_legacy.load_model`) builds the model,
running every weight initializer, then reads all the file's arrays before setting them:
for a moment a model costs two or three copies of its weights (VGG16: over a gigabyte
for 528 MB of weights). Here the model is built without initializers (its weights are
zeros the OS maps lazily, :func:`kzoo.engine.base_layer.skipping_initializers`), and
each layer's weights are read straight into the model's arrays (``read_direct``) when
they are stored as kzoo keeps them; layers stored in another layout (Keras 1 recurrent
weights, Theano kernels) go through the usual conversion, one layer at a time.

:func:`run_loading` computes the model while loading it: each layer's weights are read
just before the layer first runs, so the activations of the early layers (large) never
coexist with the weights of the late ones (large in classifiers like VGG16).

>>> import os, tempfile, numpy as np
>>> from kzoo.layers import Input, Dense
>>> from kzoo.models import Model
>>> x = Input(shape=(3,))
>>> path = os.path.join(tempfile.mkdtemp(), 'm.h5')
>>> Model(x, Dense(2, kernel_initializer='ones')(x)).save(path)
>>> with open_hdf5_model(path) as (model, loader):
...     outputs = run_loading(model, loader, [np.ones((1, 3), 'float32')])
>>> outputs[0].tolist()
[[3.0, 3.0]]
"""
import contextlib
import os

import numpy as np

from kzoo import backend as K
from kzoo.converters import h5safe, hdf5_legacy
from kzoo.converters.build import build_model
from kzoo.converters.era import Report
from kzoo.converters.json_yaml import parse_json
from kzoo.converters.weight_upgrade import convert_weights
from kzoo.engine.base_layer import skipping_initializers, to_list, unpack_singleton
from kzoo.errors import FileFormatError, ShapeError


class LayerLoader(object):
    """Sets a model's weights from an open HDF5 file, one layer at a time, in any order."""

    def __init__(self, h5, model, entries, era, report):
        self.h5, self.model, self.era, self.report = h5, model, era, report
        with_weights = [e for e in entries if e[1]]
        layers = [layer for layer in model.layers if layer.weights]
        if len(with_weights) != len(layers):
            raise ShapeError('%s holds weights for %d layers (%s), but model %r has %d layers '
                             'with weights (%s)' % (
                                 h5.label, len(with_weights),
                                 ', '.join(e[0] for e in with_weights), model.name,
                                 len(layers), ', '.join(l.name for l in layers)))
        self.pending = {id(layer): (layer, entry) for layer, entry in zip(layers, with_weights)}

    def ensure(self, layer):
        """Load ``layer``'s weights if they are not loaded yet."""
        item = self.pending.pop(id(layer), None)
        if item is not None:
            self._load(*item)

    def finish(self):
        for layer, entry in list(self.pending.values()):
            self.ensure(layer)

    def _load(self, layer, entry):
        name, weight_names, group = entry
        variables = _variables(layer)
        if self._read_direct(layer, variables, weight_names, group):
            return
        arrays = [self.h5.read(group, w) for w in weight_names]
        arrays = convert_weights(layer, arrays, self.era, self.report)
        K.batch_set_value(hdf5_legacy._match(layer, arrays, name, self.h5.label))

    def _read_direct(self, layer, variables, weight_names, group):
        """Read each dataset into its variable's memory when shapes and types agree and
        no conversion applies; False (nothing changed) otherwise."""
        if len(variables) != len(weight_names) or not all(
                isinstance(v, np.ndarray) and v.flags.c_contiguous for v in variables):
            return False
        datasets = []
        for variable, weight_name in zip(variables, weight_names):
            # the access layer's checks (links, virtual or external storage, a type h5py
            # cannot even describe): errors name the file and the dataset; looked up once
            ds = self.h5.get(group, weight_name, kind='dataset')
            shape, dtype = self.h5.dataset_info(ds, charge=False)
            if shape != variable.shape or dtype != variable.dtype:
                return False
            datasets.append(ds)
        # only layers whose weights need no conversion (convert_weights returns them as is)
        probes = [np.broadcast_to(np.zeros((), v.dtype), v.shape) for v in variables]
        converted = convert_weights(layer, probes, self.era, None)
        if len(converted) != len(probes) or any(c is not p for c, p in zip(converted, probes)):
            return False
        for ds, variable in zip(datasets, variables):
            try:
                ds.read_direct(variable)
            except Exception as e:
                raise FileFormatError('%s: cannot read %s: %s' % (self.h5.label, ds.name, e)) \
                    from None
        return True


def _variables(layer):
    from kzoo.engine.network import Container
    if isinstance(layer, Container):
        return [w for sub in layer.layers for w in sub.weights]
    return layer.weights


@contextlib.contextmanager
def open_hdf5_model(path, custom_objects=None, safe_mode=True):
    """``(model, loader)`` for a legacy HDF5 whole-model file: the model built with
    unset (zero) weights, and a :class:`LayerLoader` that sets them. Every weight is set
    when the block ends normally."""
    label = os.fspath(path)
    with h5safe.H5File(path, label) as h5:
        raw = h5.text_attr(h5.root, 'model_config')
        if raw is None:
            raise FileFormatError('%s is not a Keras whole-model HDF5 file (no model_config)'
                                  % label)
        config = parse_json(hdf5_legacy._text(raw), '%s model_config' % label)
        group = hdf5_legacy._weights_group(h5)
        entries = hdf5_legacy.read_layer_entries(h5, group)
        era = hdf5_legacy._era(h5, group, entries)
        report = Report(label, 'legacy HDF5 model', era)
        with skipping_initializers():
            model = build_model(config, era.major, report, custom_objects, safe_mode, label,
                                weights_budget=h5.budget)
        loader = LayerLoader(h5, model, entries, era, report)
        yield model, loader
        loader.finish()
        loader.model = loader.h5 = None   # the caller may drop the model after this
    model._kzoo_report = report


def load_hdf5_model(path, custom_objects=None, safe_mode=True):
    """A kzoo model from a legacy HDF5 whole-model file (uncompiled)."""
    with open_hdf5_model(path, custom_objects, safe_mode) as (model, loader):
        loader.finish()
    return model


def run_loading(model, loader, arrays, loaded=None):
    """``model``'s outputs (numpy) on ``arrays``, each layer's weights loaded by
    ``loader`` just before the layer first runs (Container._run_graph's loop);
    ``loaded(step)`` is called once the layer of ``model._plan[step]`` is loaded."""
    values = {}
    for tensor, array in zip(model.inputs, arrays):
        values[id(tensor)] = (K.convert_to_tensor(np.asarray(array)), None)
    with K.no_grad():
        for step, node in enumerate(model._plan):
            layer = node.outbound_layer
            loader.ensure(layer)
            if loaded is not None:
                loaded(step)
            inputs = [values[id(t)] for t in node.input_tensors]
            masks = [m for _, m in inputs]
            masks = None if all(m is None for m in masks) else unpack_singleton(masks)
            out, out_mask = layer._run(unpack_singleton([v for v, _ in inputs]), masks, False,
                                       node.arguments)
            out = to_list(out)
            out_masks = to_list(out_mask) if out_mask is not None else [None] * len(out)
            for tensor, value, mask in zip(node.output_tensors, out, out_masks):
                values[id(tensor)] = (value, mask)
            for tensor in node.input_tensors:
                if _last_use(model, node, tensor):
                    values.pop(id(tensor), None)
    return [K.to_numpy(values[id(t)][0]) for t in model.outputs]


def _last_use(model, node, tensor):
    """Is ``node`` the last node of the plan that reads ``tensor`` (and it no output)?"""
    uses = getattr(model, '_kzoo_last_use', None)
    if uses is None:
        uses = {}
        for n in model._plan:
            for t in n.input_tensors:
                uses[id(t)] = n
        for t in model.outputs:
            uses[id(t)] = None
        model._kzoo_last_use = uses
    return uses.get(id(tensor)) is node
