"""The format registry: every model file format kzoo reads or writes, found by content.

Each format registers what it can do (``load_model``, ``load_weights``, ``save_model``,
``save_weights``, ``describe``), how to recognise a file (``detect``, from its bytes,
never its name) and which file names it writes (``extensions``). Readers ask
:func:`detect` which format a file is; writers pick by the destination's name.

>>> sorted(f.name for f in all_formats())[:3]
['hdf5-model', 'hdf5-weights', 'json-config']
"""
import collections
import os

from kzoo.errors import ConversionError, FileFormatError

FileFormat = collections.namedtuple(
    'FileFormat', 'name description detect extensions load_model load_weights save_model '
                  'save_weights describe')

_FORMATS = collections.OrderedDict()


def register_format(name, description, detect, extensions=(), load_model=None,
                    load_weights=None, save_model=None, save_weights=None, describe=None):
    """Add a format; ``detect(path) -> bool`` must be cheap and safe on any file."""
    if name in _FORMATS:
        raise ValueError('file format %r is registered twice' % name)
    _FORMATS[name] = FileFormat(name, description, detect, tuple(extensions), load_model,
                                load_weights, save_model, save_weights, describe)
    return _FORMATS[name]


def all_formats():
    _ensure_builtin()
    return list(_FORMATS.values())


def get_format(name):
    _ensure_builtin()
    if name not in _FORMATS:
        raise ConversionError('unknown file format %r; kzoo knows: %s'
                              % (name, ', '.join(_FORMATS)))
    return _FORMATS[name]


def detect(path):
    """The :class:`FileFormat` of the file at ``path`` (by content)."""
    _ensure_builtin()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileFormatError('%s: no such file' % path)
    if not os.path.isfile(path):
        raise FileFormatError('%s is not a regular file' % path)
    for fmt in _FORMATS.values():
        if fmt.detect(path):
            return fmt
    raise FileFormatError('%s is not a model file kzoo can read (not a Keras HDF5 model or '
                          'weights file, .keras archive, or JSON/YAML model config)' % path)


def for_writing(path, what):
    """The format that writes ``what`` (``'save_model'`` or ``'save_weights'``) to ``path``."""
    _ensure_builtin()
    name = os.path.basename(os.fspath(path)).lower()
    best, best_len = None, -1
    for fmt in _FORMATS.values():
        if getattr(fmt, what) is None:
            continue
        for ext in fmt.extensions:
            if name.endswith(ext) and len(ext) > best_len:
                best, best_len = fmt, len(ext)
    if best is None:  # Keras 2 wrote HDF5 whatever the name
        best = _FORMATS['hdf5-model' if what == 'save_model' else 'hdf5-weights']
    return best


# ---- the operations, as the models API calls them -----------------------------------------

def load_model(path, custom_objects=None, compile=True, safe_mode=True):
    fmt = detect(path)
    if fmt.load_model is None:
        raise FileFormatError('%s is a %s: it holds no architecture. Build the model in code '
                              '(or from its JSON) and call model.load_weights()'
                              % (os.fspath(path), fmt.description))
    return fmt.load_model(path, custom_objects=custom_objects, compile=compile,
                          safe_mode=safe_mode)


def load_weights(model, path, by_name=False, skip_mismatch=False):
    fmt = detect(path)
    if fmt.load_weights is None:
        raise FileFormatError('%s is a %s, which holds no weights' % (os.fspath(path),
                                                                     fmt.description))
    return fmt.load_weights(model, path, by_name=by_name, skip_mismatch=skip_mismatch)


def save_model(model, path, overwrite=True, include_optimizer=True):
    _check_overwrite(path, overwrite)
    fmt = for_writing(path, 'save_model')
    fmt.save_model(model, path, include_optimizer=include_optimizer)


def save_weights(model, path, overwrite=True):
    _check_overwrite(path, overwrite)
    fmt = for_writing(path, 'save_weights')
    fmt.save_weights(model, path)


def _check_overwrite(path, overwrite):
    if not overwrite and os.path.exists(path):
        raise ConversionError('%s exists and overwrite=False' % os.fspath(path))


# ---- the built-in formats ----------------------------------------------------------------------

_loaded = []


def _ensure_builtin():
    if _loaded:
        return
    _loaded.append(True)
    from kzoo.converters import hdf5_legacy, keras3, text_config

    def keras3_weights_loader(model, path, by_name=False, skip_mismatch=False):
        if by_name:
            raise FileFormatError('%s is a Keras 3 .weights.h5 file: it stores no layer names, '
                                  'so it cannot be loaded by_name' % os.fspath(path))
        return keras3.load_weights(model, path, skip_mismatch=skip_mismatch)

    register_format('keras3-archive', 'Keras 3 .keras archive', keras3.is_keras_archive,
                    ('.keras',), load_model=keras3.load_model, save_model=keras3.save_model,
                    describe=keras3.describe)
    register_format('hdf5-model', 'legacy HDF5 whole model (Keras 1/2, tf.keras, Keras 3 .h5)',
                    lambda p: hdf5_legacy.probe(p) == 'model', ('.h5', '.hdf5', '.keras.h5'),
                    load_model=hdf5_legacy.load_model, load_weights=hdf5_legacy.load_weights,
                    save_model=hdf5_legacy.save_model, describe=hdf5_legacy.describe)
    register_format('hdf5-weights', 'legacy HDF5 weights file (save_weights)',
                    lambda p: hdf5_legacy.probe(p) == 'weights', ('.h5', '.hdf5'),
                    load_weights=hdf5_legacy.load_weights,
                    save_weights=hdf5_legacy.save_weights, describe=hdf5_legacy.describe)
    register_format('keras3-weights', 'Keras 3 .weights.h5 file', keras3.is_keras3_weights,
                    ('.weights.h5',), load_weights=keras3_weights_loader,
                    save_weights=keras3.save_weights)
    register_format('json-config', 'JSON model config (to_json)', text_config.is_json,
                    ('.json',), load_model=text_config.load_json_file,
                    describe=text_config.describe)
    register_format('yaml-config', 'YAML model config (to_yaml)', text_config.is_yaml,
                    ('.yaml', '.yml'), load_model=text_config.load_yaml_file,
                    describe=text_config.describe)
    # ONNX and torch state dicts (kzoo.converters.convert registers them)
    from kzoo.converters.convert import register_formats
    register_formats(register_format)
