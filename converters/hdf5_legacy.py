"""Legacy HDF5 files: whole models (``model.save('m.h5')``) and weights (``save_weights``).

Reads what Keras 1.x (Theano or TensorFlow), Keras 2.x, tf.keras and Keras 3 wrote in
this layout; writes the Keras 2 layout that tf-keras and Keras 3 read:

- root attributes ``keras_version``, ``backend``, ``model_config`` (JSON) and, for a
  compiled model, ``training_config``;
- ``model_weights`` (the root itself in a weights-only file) with attribute
  ``layer_names``; one group per layer with attribute ``weight_names``; datasets at those
  names. Attributes over 64,512 bytes are split into ``layer_names0``, ``layer_names1``...

Weights are matched to layers by position (or by name with ``by_name=True``) and within
a layer by position, never by dataset name (keras-formats.md).

>>> import numpy as np, os, tempfile
>>> from kzoo.layers import Dense
>>> from kzoo.models import Sequential
>>> model = Sequential([Dense(2, input_dim=3, name='d')])
>>> path = os.path.join(tempfile.mkdtemp(), 'm.h5')
>>> save_model(model, path)
>>> restored = load_model(path)
>>> np.array_equal(restored.get_weights()[0], model.get_weights()[0])
True
"""
import collections
import os
import warnings

import numpy as np

from kzoo import backend as K
from kzoo.converters import h5safe
from kzoo.converters.build import build_model, restore_training_config
from kzoo.converters.era import Report, legacy_era
from kzoo.converters.json_yaml import parse_json, to_json_text
from kzoo.converters.weight_upgrade import convert_weights
from kzoo.engine.base_layer import skipping_initializers
from kzoo.errors import ConversionError, FileFormatError, KzooError, ShapeError

HDF5_OBJECT_HEADER_LIMIT = 64512
WRITE_KERAS_VERSION = '2.2.4'  # the layout written: Keras 2's, read by tf-keras and Keras 3


# ---- detection --------------------------------------------------------------------------

def probe(path):
    """``'model'``, ``'weights'`` or ``None`` for a legacy HDF5 file (cheap, no data read).

    A file with the HDF5 signature that cannot be opened raises the reason (a
    :class:`FileFormatError`), rather than being reported as "not a model file"."""
    if not h5safe.is_hdf5(path):
        return None
    try:  # detection asks once per format: the same unchanged file is opened once
        st = os.stat(path)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except (OSError, TypeError, ValueError):
        key = None
    if key is not None and key in _PROBED:
        return _PROBED[key]
    kind = None
    with h5safe.H5File(path) as h5:
        names = h5.attr_names(h5.root)
        if 'model_config' in names:
            kind = 'model'
        elif 'layer_names' in names or 'layer_names0' in names:
            kind = 'weights'
    if key is not None:
        _PROBED[key] = kind
        while len(_PROBED) > 64:
            _PROBED.popitem(last=False)
    return kind


_PROBED = collections.OrderedDict()  # probe's answers, by file identity and change times


# ---- reading ----------------------------------------------------------------------------

def _weights_group(h5):
    """The group holding ``layer_names``: ``model_weights`` in a whole-model file."""
    names = h5.attr_names(h5.root)
    if 'layer_names' in names or 'layer_names0' in names:
        return h5.root
    if h5.has(h5.root, 'model_weights'):
        return h5.get(h5.root, 'model_weights', kind='group')
    raise FileFormatError('%s holds no Keras weights (no layer_names attribute and no '
                          'model_weights group)' % h5.label)


def read_layer_entries(h5, group):
    """``[(layer_name, [weight_name, ...])]`` from ``layer_names`` / ``weight_names``."""
    layer_names = h5.split_attr(group, 'layer_names')
    if layer_names is None:
        raise FileFormatError('%s: group %s has no layer_names attribute'
                              % (h5.label, group.name))
    entries = []
    for name in layer_names:
        if not isinstance(name, str):
            raise FileFormatError('%s: layer name %r is not text' % (h5.label, name))
        layer_group = h5.get(group, name, kind='group')
        weight_names = h5.split_attr(layer_group, 'weight_names') or []
        entries.append((name, [str(w) for w in weight_names], layer_group))
    return entries


def _era(h5, group, entries):
    version = h5.text_attr(h5.root, 'keras_version') or h5.text_attr(group, 'keras_version')
    backend = h5.text_attr(h5.root, 'backend') or h5.text_attr(group, 'backend')
    names = [w for _, weight_names, _ in entries for w in weight_names]
    return legacy_era(version, backend, names)


def _text(value):
    if isinstance(value, list):
        value = value[0] if value else None
    return value if value is None else str(value)


def load_model(path, custom_objects=None, compile=True, safe_mode=True):
    """A kzoo model from a legacy HDF5 whole-model file of any Keras era.

    Torch weights that need no conversion become private copy-on-write views of the
    file (:meth:`~kzoo.converters.h5safe.H5File.map_dataset`: loading reads no weight
    bytes, and writes to the weights never reach the file, but a later change of the file
    *in place* by another program shows through); ``$KZOO_MMAP_WEIGHTS=0`` copies them."""
    label = os.fspath(path)
    with h5safe.H5File(path, label) as h5:
        raw = h5.text_attr(h5.root, 'model_config')
        if raw is None:
            if 'layer_names' in h5.attr_names(h5.root):
                raise FileFormatError('%s holds only weights (save_weights); build the model '
                                      'and call model.load_weights() instead' % label)
            raise FileFormatError('%s is an HDF5 file but not a Keras model (no model_config '
                                  'attribute)' % label)
        config = parse_json(raw, '%s model_config' % label)
        group = _weights_group(h5)
        entries = read_layer_entries(h5, group)
        era = _era(h5, group, entries)
        report = Report(label, 'legacy HDF5 model', era)
        # every weight is set from the file next: no random initial values to draw
        with skipping_initializers():
            model = build_model(config, era.major, report, custom_objects, safe_mode, label,
                                weights_budget=h5.budget)
        assign_entries(model, h5, entries, era, report, mapped=_mapping_allowed())
        training = h5.text_attr(h5.root, 'training_config')
        if training is not None:
            restore_training_config(model, parse_json(training, '%s training_config'
                                                      % label), compile, report, label)
        if h5.has(h5.root, 'optimizer_weights'):
            _restore_optimizer_state(model, h5, compile, report)
    model._kzoo_report = report
    return model


def load_weights(model, path, by_name=False, skip_mismatch=False, kernels=None):
    """Legacy weights (weights-only or whole-model file) into ``model``; returns a Report.

    ``kernels`` ('theano' or 'tensorflow') overrides the convention read from the file,
    for files whose origin is known from elsewhere (a zoo weight card)."""
    label = os.fspath(path)
    with h5safe.H5File(path, label) as h5:
        group = _weights_group(h5)
        entries = read_layer_entries(h5, group)
        era = _era(h5, group, entries)
        if kernels is not None:
            era.kernels = kernels
        report = Report(label, 'legacy HDF5 weights', era)
        assign_entries(model, h5, entries, era, report, by_name, skip_mismatch)
    return report


def assign_entries(model, h5, entries, era, report, by_name=False, skip_mismatch=False,
                   mapped=False):
    """Match file layer entries to model layers, convert their arrays and set them.

    ``mapped=True`` (a model built for this file, whose weights nobody else holds yet)
    lets weights that need no conversion become copy-on-write views of the file
    (:meth:`~kzoo.converters.h5safe.H5File.map_dataset`) instead of copies."""
    with_weights = [e for e in entries if e[1]]
    layers = [l for l in model.layers if l.weights]
    pairs = []
    if by_name:
        index = {e[0]: e for e in with_weights}
        for layer in layers:
            if layer.name in index:
                pairs.append((layer, index[layer.name]))
    else:
        if len(with_weights) != len(layers):
            raise ShapeError(
                '%s holds weights for %d layers (%s), but model %r has %d layers with weights '
                '(%s); load by name with by_name=True if only some layers match' % (
                    h5.label, len(with_weights), ', '.join(e[0] for e in with_weights),
                    model.name, len(layers), ', '.join(l.name for l in layers)))
        pairs = list(zip(layers, with_weights))
    values, direct = [], []
    for layer, (name, weight_names, group) in pairs:
        targets = _direct_targets(layer, h5, group, weight_names, era)
        if targets is not None:  # read later, straight into the weights' own memory
            direct.append(targets)
            continue
        arrays = [h5.read(group, w) for w in weight_names]
        try:
            arrays = convert_weights(layer, arrays, era, report)
            values.extend(_match(layer, arrays, name, h5.label))
        except ShapeError as e:
            if not skip_mismatch:
                if h5.label in str(e):
                    raise
                raise ShapeError('%s: %s' % (h5.label, e)) from None
            warnings.warn('skipping layer %r: %s' % (layer.name, e))
            report.note('layer %r skipped: %s' % (layer.name, e))
    # Every check has passed (shapes of the direct reads were checked from metadata).
    raw = []  # (view, offset, variable): the file's bytes are the weight's, read as such
    for targets in direct:
        for variable, view, ds in targets:
            if mapped and _adopt(variable, h5, ds, view):
                _written(variable)
                continue
            extent = h5.contiguous_extent(ds, None, view.dtype, view.shape)
            if extent is None:
                h5.read_into(ds, None, view)  # HDF5 converts (byte order, float64, filters)
                _written(variable)
            else:
                raw.append((view, extent[0], variable))
    h5.read_extents([(view, offset) for view, offset, _ in raw])
    for _, _, variable in raw:
        _written(variable)
    K.batch_set_value(values)


# ---- direct reads --------------------------------------------------------------------------
# Converters that change nothing for a Keras 2+ file with TensorFlow kernels whose arrays
# already have the layer's shapes (weight_upgrade.py: only Keras 1 layouts, Theano kernels
# and mismatched shapes are converted).
_IDENTICAL_WHEN_MODERN = frozenset(['Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose',
                                    'BatchNormalization'])


def _direct_targets(layer, h5, group, weight_names, era):
    """``[(variable, writable array view, dataset)]`` when ``layer``'s datasets can be
    read straight into its weights (no conversion, same shapes, floats); else None."""
    from kzoo.engine.network import Container
    if isinstance(layer, Container):
        return None
    converter = _converter_name(layer)
    if converter is not None and (converter not in _IDENTICAL_WHEN_MODERN or era.major < 2
                                  or era.theano_kernels):
        return None
    variables = layer.weights
    if len(variables) != len(weight_names) or not variables:
        return None
    targets = []
    for variable, weight_name in zip(variables, weight_names):
        view = _writable_view(variable)
        if view is None:
            return None
        try:
            ds = h5.get(group, weight_name, kind='dataset')
            shape, dtype = h5.dataset_info(ds, charge=False)
            if tuple(shape or ()) != view.shape or dtype.kind != 'f':
                return None
        except KzooError:
            return None  # the usual path reports it
        targets.append((variable, view, ds))
    return targets


def _converter_name(layer):
    """The class name the weight converter of ``layer`` is registered under, or None."""
    from kzoo.converters.weight_upgrade import _CONVERTERS
    for cls in type(layer).__mro__:
        if cls.__name__ in _CONVERTERS:
            return cls.__name__
    return None


def _writable_view(variable):
    """A writable C-contiguous numpy array sharing ``variable``'s memory, or None."""
    if isinstance(variable, np.ndarray):
        array = variable
    elif hasattr(variable, 'detach') and hasattr(variable, 'is_contiguous'):  # torch
        tensor = variable.detach()
        if tensor.device.type != 'cpu' or not tensor.is_contiguous():
            return None
        try:
            array = tensor.numpy()
        except (RuntimeError, TypeError):
            return None
    else:
        return None
    if not (array.flags.writeable and array.flags.c_contiguous):
        return None
    return array


MMAP_ENV = 'KZOO_MMAP_WEIGHTS'


def _mapping_allowed():
    """``load_model`` maps weights from the file unless ``$KZOO_MMAP_WEIGHTS`` is ``0``
    (then every weight is a private copy, as Keras makes: nothing shows through if the
    file is later changed in place; see ``H5File.map_dataset`` for the trade-off)."""
    return os.environ.get(MMAP_ENV, '1').strip().lower() not in ('0', 'false', 'no', 'off')


def _adopt(variable, h5, ds, view):
    """Make a file view of ``ds`` the memory of ``variable`` (a CPU torch weight: a
    numpy weight is an array the layer owns); False when it cannot be (then copy)."""
    if not (hasattr(variable, 'set_') and hasattr(variable, 'device')) or \
            variable.device.type != 'cpu':
        return False
    array = h5.map_dataset(ds, None, view.dtype, view.shape)
    if array is None:
        return False
    import torch
    with torch.no_grad():
        variable.set_(torch.from_numpy(array))  # in place: the object and its version stay
    return True


def _written(variable):
    """Tell torch the weight changed behind its back (plans compiled from it recompile)."""
    if hasattr(variable, '_version'):
        import torch
        torch.autograd.graph.increment_version(variable)


def _match(layer, arrays, file_layer, label):
    """``(variable, value)`` pairs after count and shape checks that name both sides."""
    from kzoo.engine.network import Container
    if isinstance(layer, Container):
        variables = [w for sub in layer.layers for w in sub.weights]
    else:
        variables = layer.weights
    if len(variables) != len(arrays):
        raise ShapeError('%s: layer %r (%s) expects %d weight arrays, but the file\'s layer %r '
                         'has %d' % (label, layer.name, type(layer).__name__, len(variables),
                                     file_layer, len(arrays)))
    pairs = []
    for i, (variable, value) in enumerate(zip(variables, arrays)):
        expected = tuple(K.int_shape(variable))
        if tuple(value.shape) != expected:
            raise ShapeError('%s: layer %r (%s) weight %d has shape %s in kzoo, but the file\'s '
                             'layer %r stores shape %s' % (label, layer.name, type(layer).__name__,
                                                           i, expected, file_layer, value.shape))
        pairs.append((variable, np.asarray(value, dtype=K.dtype(variable))))
    return pairs


# ---- writing ----------------------------------------------------------------------------

def save_attributes(group, name, data):
    """Keras's ``save_attributes_to_hdf5_group``: split lists over the header limit."""
    data = [d.encode('utf8') if isinstance(d, str) else d for d in data]
    too_long = [x for x in data if len(x) > HDF5_OBJECT_HEADER_LIMIT]
    if too_long:
        raise ConversionError('cannot save attribute %r: the name %r is longer than %d bytes'
                              % (name, too_long[0][:64], HDF5_OBJECT_HEADER_LIMIT))
    array = np.asarray(data, dtype='S') if data else np.zeros((0,), 'S1')
    chunks, n = [array], 1
    while any(c.nbytes > HDF5_OBJECT_HEADER_LIMIT for c in chunks):
        n += 1
        chunks = np.array_split(array, n)
    if n > 1:
        for i, chunk in enumerate(chunks):
            group.attrs['%s%d' % (name, i)] = chunk
    else:
        group.attrs[name] = array


def weight_entries(layer):
    """``[(name, variable)]`` for ``layer`` in Keras order, with unique Keras-style names."""
    from kzoo.engine.network import Container
    if isinstance(layer, Container):
        entries, rest = [], []
        for sub in layer.layers:
            sub_entries = weight_entries(sub)
            n_train = len(sub.trainable_weights)
            entries.extend(sub_entries[:n_train])
            rest.extend(sub_entries[n_train:])
        return _unique(entries + rest)
    names = layer.weight_names() if hasattr(layer, 'weight_names') else [
        '%s/weight_%d:0' % (layer.name, i) for i in range(len(layer.weights))]
    return _unique(list(zip(names, layer.weights)))


def _unique(entries):
    seen, out = {}, []
    for name, variable in entries:
        if name in seen:
            seen[name] += 1
            base, colon, suffix = name.rpartition(':')
            name = '%s_%d:%s' % (base, seen[name], suffix) if colon else '%s_%d' % (
                name, seen[name])
        seen.setdefault(name, 0)
        out.append((name, variable))
    return out


def write_weights_group(group, model):
    """Write every layer's weights into ``group`` in the Keras 2 layout."""
    layers = model.layers
    save_attributes(group, 'layer_names', [l.name for l in layers])
    group.attrs['backend'] = np.bytes_(b'tensorflow')
    group.attrs['keras_version'] = np.bytes_(WRITE_KERAS_VERSION.encode())
    for layer in layers:
        layer_group = group.create_group(_group_name(layer.name))
        entries = weight_entries(layer)
        save_attributes(layer_group, 'weight_names', [n for n, _ in entries])
        for (name, _), value in zip(entries, K.batch_get_value([v for _, v in entries])):
            layer_group.create_dataset(name, data=np.asarray(value))


def _group_name(name):
    """``name`` as a group path: 'a/b' nests groups (as Keras does); names that HDF5
    cannot hold or that this reader would refuse ('..', '/x', '') are refused here, so
    kzoo never writes a file it will not read back."""
    parts = name.split('/') if name else ['']
    if '\x00' in name or name.startswith('/') or any(p in ('', '.', '..') for p in parts):
        raise ConversionError('layer name %.200r cannot be stored in an HDF5 file (empty, '
                              'absolute, a "." or ".." component, or a NUL)' % (name,))
    return name


def save_model(model, path, include_optimizer=True):
    """``model`` as a Keras 2 layout whole-model HDF5 file, written atomically."""
    import h5py
    from kzoo import __version__
    from kzoo.converters.keras_config import keras2_model_config
    from kzoo.converters.atomic import atomic_path
    config = keras2_model_config(model)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, 'w') as f:
            f.attrs['keras_version'] = np.bytes_(WRITE_KERAS_VERSION.encode())
            f.attrs['backend'] = np.bytes_(b'tensorflow')
            f.attrs['kzoo_version'] = np.bytes_(__version__.encode())
            # A variable-length string lives on the global heap, so large configs
            # (InceptionV3's is over 64 KiB) fit; tf.keras writes it the same way.
            f.attrs['model_config'] = to_json_text(config)
            training = getattr(model, '_training_config', None)
            if include_optimizer and training:
                f.attrs['training_config'] = to_json_text(training)
            write_weights_group(f.create_group('model_weights'), model)
            if include_optimizer and training:
                _write_optimizer_state(f, model)


def _write_optimizer_state(f, model):
    """Keras 2's ``optimizer_weights`` group: ``weight_names`` and one dataset each."""
    optimizer = getattr(model, 'optimizer', None)
    if optimizer is None or not getattr(optimizer, 'built', False):
        return  # never stepped: no state to keep, as Keras writes nothing either
    values, names = optimizer.get_weights(), optimizer.weight_names()
    if not values:
        return
    group = f.create_group('optimizer_weights')
    group.attrs['weight_names'] = [n.encode('utf8') for n in names]
    for name, value in zip(names, values):
        group.create_dataset(name, data=np.asarray(value))


def _restore_optimizer_state(model, h5, compile, report):
    """Set the optimizer's state from ``optimizer_weights`` (after compiling), as Keras."""
    optimizer = getattr(model, 'optimizer', None)
    if not compile or optimizer is None:
        report.note('optimizer state present in the file; not restored (model not compiled)')
        return
    group = h5.get(h5.root, 'optimizer_weights', kind='group')
    names = h5.split_attr(group, 'weight_names') or []
    values = [h5.read(group, str(name)) for name in names]
    try:
        model._make_train_function()
        optimizer.set_weights(values)
    except (ValueError, KzooError) as e:
        message = ('%s: the saved optimizer state does not fit this optimizer (%s); the '
                   'optimizer starts fresh' % (h5.label, e))
        warnings.warn(message)
        report.note(message)
        return
    report.note('optimizer state restored (%d arrays)' % len(values))


def save_weights(model, path):
    """The legacy weights-only layout (as the published application weight files)."""
    import h5py
    from kzoo import __version__
    from kzoo.converters.atomic import atomic_path
    with atomic_path(path) as tmp:
        with h5py.File(tmp, 'w') as f:
            write_weights_group(f, model)
            f.attrs['kzoo_version'] = np.bytes_(__version__.encode())


# ---- inspection -----------------------------------------------------------------------------

def describe(path):
    """Facts for ``kzoo info``: kind, era, and the layer/weight table, without building."""
    label = os.fspath(path)
    with h5safe.H5File(path, label) as h5:
        group = _weights_group(h5)
        entries = read_layer_entries(h5, group)
        era = _era(h5, group, entries)
        has_config = 'model_config' in h5.attr_names(h5.root)
        params = 0
        for _, weight_names, layer_group in entries:
            for w in weight_names:
                shape, _ = h5.dataset_info(layer_group, w)  # refuses what read() refuses
                params += int(np.prod(shape or ()))
    return {'kind': 'model' if has_config else 'weights', 'era': era,
            'layers': [(n, len(w)) for n, w, _ in entries], 'params': params}
