"""Keras 3 files: ``.keras`` archives and ``.weights.h5`` weight files.

A ``.keras`` file is a zip of ``metadata.json`` (``keras_version``), ``config.json``
(the model, Keras 3 layout) and ``model.weights.h5`` (the layout of
:mod:`~kzoo.converters.keras3_layout`). tf-keras writes the same archive with Keras 2
style node lists inside; both are read.

The archive is untrusted: members are read into memory by name (never extracted),
their declared sizes are checked against the archive's size before reading (zip
bombs), and archives with absolute or ``..`` member names are refused.

>>> import numpy as np, os, tempfile
>>> from kzoo.layers import Dense
>>> from kzoo.models import Sequential
>>> model = Sequential([Dense(2, input_dim=3, name='d')])
>>> path = os.path.join(tempfile.mkdtemp(), 'm.keras')
>>> save_model(model, path)
>>> np.array_equal(load_model(path).get_weights()[1], model.get_weights()[1])
True
"""
import datetime
import io
import os
import warnings
import zipfile

import numpy as np

from kzoo import backend as K
from kzoo.converters import h5safe
from kzoo.converters.build import build_model, restore_training_config
from kzoo.converters.era import Report, keras3_era, major_version
from kzoo.converters.json_yaml import parse_json, to_json_text
from kzoo.converters.keras3_layout import walk
from kzoo.errors import (ConversionError, FileFormatError, KzooError, ShapeError,
                         UnsafeInputError)

MAX_MEMBERS = 10000
EXPANSION_LIMIT = 64
ALLOWANCE = 16 << 20
WRITE_KERAS_VERSION = '3.5.0'
_CONFIG, _METADATA, _WEIGHTS = 'config.json', 'metadata.json', 'model.weights.h5'


# ---- the archive ---------------------------------------------------------------------

def is_keras_archive(path):
    try:
        with open(path, 'rb') as f:
            if f.read(4) != b'PK\x03\x04':
                return False
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist()[:MAX_MEMBERS])
        return _CONFIG in names
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


class Archive(object):
    """Named members of a ``.keras`` zip, read with size checks."""

    def __init__(self, path):
        self.label = os.fspath(path)
        try:
            self.size = os.path.getsize(path)
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (OSError, zipfile.BadZipFile, ValueError) as e:
            raise FileFormatError('%s is not a readable .keras (zip) archive: %s'
                                  % (self.label, e)) from None
        if len(infos) > MAX_MEMBERS:
            raise UnsafeInputError('%s: refused: %d archive members (more than %d)'
                                   % (self.label, len(infos), MAX_MEMBERS))
        self.budget = EXPANSION_LIMIT * self.size + ALLOWANCE
        self.members = {}
        for info in infos:
            name = info.filename
            parts = name.replace('\\', '/').split('/')
            if name.startswith(('/', '\\')) or '..' in parts or ':' in parts[0] or '\x00' in name:
                raise UnsafeInputError('%s: refused archive member %r: an absolute or parent '
                                       'path' % (self.label, name))
            self.members[name] = info

    def has(self, name):
        return name in self.members

    def declared(self, name):
        """The size member ``name`` declares (0 when absent)."""
        info = self.members.get(name)
        return info.file_size if info is not None else 0

    def read(self, name):
        info = self.members.get(name)
        if info is None:
            raise FileFormatError('%s has no %s: not a Keras .keras archive' % (self.label, name))
        if info.file_size > self.budget:
            raise UnsafeInputError('%s: refused member %s: it declares %d bytes, far more than '
                                   'the archive (%d bytes) can hold (a zip bomb)'
                                   % (self.label, name, info.file_size, self.size))
        try:
            with self.zip.open(info) as f:
                data = f.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
            raise FileFormatError('%s: cannot read member %s: %s' % (self.label, name, e)) \
                from None
        if len(data) > info.file_size:
            raise UnsafeInputError('%s: member %s is larger than it declares'
                                   % (self.label, name))
        self.budget -= len(data)
        return data

    def close(self):
        self.zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ---- reading -----------------------------------------------------------------------------

def _training_config(config):
    """A Keras 2 style training config from a Keras 3 ``compile_config``."""
    compile_config = config.get('compile_config')
    if not isinstance(compile_config, dict) or not compile_config:
        return None
    return {'optimizer_config': compile_config.get('optimizer'),
            'loss': compile_config.get('loss'), 'metrics': compile_config.get('metrics'),
            'loss_weights': compile_config.get('loss_weights'),
            'weighted_metrics': compile_config.get('weighted_metrics')}


def load_model(path, custom_objects=None, compile=True, safe_mode=True):
    """A kzoo model from a ``.keras`` archive (Keras 3 or tf-keras)."""
    with Archive(path) as archive:
        metadata = parse_json(archive.read(_METADATA), '%s %s' % (archive.label, _METADATA)) \
            if archive.has(_METADATA) else {}
        version = metadata.get('keras_version') if isinstance(metadata, dict) else None
        config = parse_json(archive.read(_CONFIG), '%s %s' % (archive.label, _CONFIG))
        if not isinstance(config, dict):
            raise FileFormatError('%s: config.json does not describe a model' % archive.label)
        era = keras3_era(version)
        report = Report(archive.label, '.keras archive', era)
        # the weights can take no more than the archive's weights member could hold
        budget = h5safe.EXPANSION_LIMIT * archive.declared(_WEIGHTS) + h5safe.ALLOWANCE
        model = build_model(config, era.major if version else 3, report, custom_objects,
                            safe_mode, archive.label, weights_budget=budget)
        _build_custom(model, config)
        if archive.has(_WEIGHTS):
            with h5safe.H5File(archive.read(_WEIGHTS), '%s/%s' % (archive.label, _WEIGHTS)) as h5:
                assign(model, h5, report)
        elif walk_variables(model):
            raise FileFormatError('%s has no %s, so its weights are missing'
                                  % (archive.label, _WEIGHTS))
        if any(n.startswith('assets/') for n in archive.members):
            report.note('assets/ present in the archive; kzoo layers use no assets')
    restore_training_config(model, _training_config(config), compile, report, archive.label)
    model._kzoo_report = report
    return model


def _build_custom(model, config):
    """A custom (subclassed) object is built from ``build_config`` as Keras 3 does."""
    if getattr(model, 'built', True):
        return
    shape = (config.get('build_config') or {}).get('input_shape')
    if isinstance(shape, list):
        model.build(tuple(shape))
        model.built = True


def walk_variables(model):
    return [v for _, variables, _ in walk(model) for v in variables]


def load_weights(model, path, skip_mismatch=False):
    """A Keras 3 ``.weights.h5`` into ``model``; returns a Report."""
    label = os.fspath(path)
    with h5safe.H5File(path, label) as h5:
        report = Report(label, 'Keras 3 weights', keras3_era(None, 'Keras 3 weights'))
        assign(model, h5, report, skip_mismatch)
    return report


def is_keras3_weights(path):
    """An HDF5 file in the ``layers/<name>/vars`` layout (no ``layer_names``)."""
    if not h5safe.is_hdf5(path):
        return False
    try:
        with h5safe.H5File(path) as h5:
            names = h5.attr_names(h5.root)
            if 'layer_names' in names or 'model_config' in names or 'layer_names0' in names:
                return False
            keys = h5.keys(h5.root)
            return 'layers' in keys or 'vars' in keys
    except KzooError:
        return False


def _datasets_under(h5, group, prefix, limit=1000000):
    """Paths of every dataset below ``group`` (iterative; hard links only)."""
    found, stack = [], [(group, prefix)]
    while stack:
        g, path = stack.pop()
        for name in h5.keys(g):
            child = h5.get(g, name)
            child_path = '%s/%s' % (path, name) if path else name
            if h5.is_group(child):
                stack.append((child, child_path))
            else:
                found.append(child_path)
                if len(found) > limit:
                    raise UnsafeInputError('%s: more than %d datasets' % (h5.label, limit))
    return found


def assign(model, h5, report, skip_mismatch=False):
    """Set every variable of ``model`` from its Keras 3 path in ``h5``."""
    entries = walk(model, has_path=lambda p: h5.has(h5.root, p))
    values, used = [], set()
    for path, variables, layer in entries:
        if not variables:
            continue
        if not h5.has(h5.root, path):
            message = '%s has no weights for layer %r (%s) at %s' % (
                h5.label, getattr(layer, 'name', '?'), type(layer).__name__, path)
            if skip_mismatch:
                warnings.warn(message)
                report.note(message)
                continue
            raise ShapeError(message)
        group = h5.get(h5.root, path, kind='group')
        stored = sorted((k for k in h5.keys(group)), key=lambda k: (len(k), k))
        try:
            if len(stored) != len(variables):
                raise ShapeError('%s: layer %r (%s) expects %d variables at %s, but the file has %d'
                                 % (h5.label, layer.name, type(layer).__name__, len(variables),
                                    path, len(stored)))
            pairs = []
            for i, variable in enumerate(variables):
                value = h5.read(group, str(i))
                expected = tuple(K.int_shape(variable))
                if tuple(value.shape) != expected:
                    raise ShapeError('%s: layer %r (%s) variable %d has shape %s in kzoo, but the '
                                     'file stores shape %s at %s/%d' % (
                                         h5.label, layer.name, type(layer).__name__, i,
                                         expected, value.shape, path, i))
                pairs.append((variable, np.asarray(value, dtype=K.dtype(variable))))
                used.add('%s/%d' % (path, i))
        except ShapeError as e:
            if not skip_mismatch:
                raise
            warnings.warn(str(e))
            report.note(str(e))
            continue
        values.extend(pairs)
    if h5.has(h5.root, 'layers') and not skip_mismatch:
        extra = [p for p in _datasets_under(h5, h5.get(h5.root, 'layers'), 'layers')
                 if p not in used]
        if extra:
            raise ShapeError('%s holds weights that model %r has no place for: %s'
                             % (h5.label, model.name, ', '.join(sorted(extra)[:8])))
    K.batch_set_value(values)


# ---- writing -----------------------------------------------------------------------------

def write_weights_file(model, target):
    """The ``.weights.h5`` layout into ``target`` (a path or a binary file object)."""
    import h5py
    with h5py.File(target, 'w') as f:
        for path, variables, layer in walk(model):
            group = f.require_group(path)
            name = getattr(layer, 'name', None)
            if isinstance(name, str):
                if '\x00' in name:
                    raise ConversionError('layer name %.200r cannot be stored in an HDF5 '
                                          'file (it holds a NUL)' % (name,))
                group.attrs['name'] = name
            for i, value in enumerate(K.batch_get_value(variables)):
                group.create_dataset(str(i), data=np.asarray(value))


def save_weights(model, path):
    from kzoo.converters.atomic import atomic_path
    with atomic_path(path) as tmp:
        write_weights_file(model, tmp)


def save_model(model, path, include_optimizer=True):
    """``model`` as a ``.keras`` archive (Keras 3 layout), written atomically."""
    from kzoo import __version__
    from kzoo.converters.atomic import atomic_path
    from kzoo.converters.keras_config import keras3_model_config
    config = keras3_model_config(model)
    training = getattr(model, '_training_config', None)
    if include_optimizer and training:
        config['compile_config'] = {
            'optimizer': training.get('optimizer_config'), 'loss': training.get('loss'),
            'metrics': training.get('metrics'), 'loss_weights': training.get('loss_weights'),
            'weighted_metrics': training.get('weighted_metrics')}
    metadata = {'keras_version': WRITE_KERAS_VERSION, 'kzoo_version': __version__,
                'date_saved': datetime.datetime.now().strftime('%Y-%m-%d@%H:%M:%S')}
    weights = io.BytesIO()
    write_weights_file(model, weights)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, 'w', compression=zipfile.ZIP_STORED) as z:
            z.writestr(_METADATA, to_json_text(metadata))
            z.writestr(_CONFIG, to_json_text(config))
            z.writestr(_WEIGHTS, weights.getvalue())


def describe(path):
    """Facts for ``kzoo info`` without building the model."""
    with Archive(path) as archive:
        metadata = parse_json(archive.read(_METADATA), _METADATA) if archive.has(_METADATA) \
            else {}
        config = parse_json(archive.read(_CONFIG), _CONFIG)
        version = metadata.get('keras_version') if isinstance(metadata, dict) else None
        return {'era': keras3_era(version), 'config': config,
                'members': sorted(archive.members), 'major': major_version(version)}

