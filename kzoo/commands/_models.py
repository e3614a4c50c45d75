"""Shared by the commands: resolve ``NAME|FILE`` to a model, and save by extension."""
import os

from kzoo.errors import ConfigError, FileFormatError


def weights_argument(value):
    """``imagenet`` / ``none`` / a path, as the ``--weights`` option spells them."""
    return None if value is None or str(value).lower() == 'none' else value


def is_model_file(spec):
    return os.path.sep in spec or os.path.exists(spec) or spec.endswith(
        ('.h5', '.hdf5', '.keras', '.json', '.yaml', '.yml', '.onnx'))


def load_model_or_application(spec, weights='imagenet', include_top=True):
    """``(model, application or None)`` for an application name or a model file."""
    if is_model_file(spec):
        if not os.path.exists(spec):
            raise FileFormatError('model file %s does not exist' % spec)
        from kzoo.models import load_model
        return load_model(spec, compile=False), None
    from kzoo.registry import get_application
    app = get_application(spec)
    return app.builder(include_top=include_top, weights=weights_argument(weights)), app


def save_by_extension(model, path):
    """Write ``model`` in the format its extension names (atomically)."""
    ext = os.path.splitext(path)[1].lower()
    if ext in ('.h5', '.hdf5', '.keras'):
        model.save(path)
    elif ext in ('.json', '.yaml', '.yml'):
        from kzoo.utils.io_utils import atomic_write
        text = model.to_json(indent=2) if ext == '.json' else model.to_yaml()
        with atomic_write(path, 'w') as f:
            f.write(text)
    elif ext == '.onnx':
        try:
            from kzoo.converters import to_onnx
        except ImportError:
            raise ConfigError('ONNX export is not available in this kzoo build') from None
        to_onnx(model, path)
    else:
        raise ConfigError('cannot tell the format of %s from its extension; use .h5, .keras, '
                          '.json, .yaml or .onnx' % path)
