"""Architectures as text: ``to_json`` / ``to_yaml`` and ``model_from_json`` / ``_yaml``.

Written in the Keras 2 layout (with ``keras_version`` and ``backend``, as Keras 2's
``to_json`` wrote them), so that tf-keras reads them; read from any era, including JSON
that was encoded twice. Writing then reading gives back the same text.

>>> from kzoo.layers import Dense
>>> from kzoo.models import Sequential
>>> text = to_json(Sequential([Dense(2, input_dim=3, name='d')], name='s'))
>>> to_json(model_from_json(text)) == text
True
"""
import os

from kzoo.converters.build import build_model
from kzoo.converters.era import major_version
from kzoo.converters.json_yaml import parse_json, parse_yaml, to_json_text, to_yaml_text
from kzoo.errors import FileFormatError

MAX_TEXT_BYTES = 64 << 20


def model_config_dict(model):
    from kzoo.converters.hdf5_legacy import WRITE_KERAS_VERSION
    from kzoo.converters.keras_config import portable_model_config
    config = portable_model_config(model)
    config['keras_version'] = WRITE_KERAS_VERSION
    config['backend'] = 'tensorflow'
    return config


def to_json(model, **kwargs):
    return to_json_text(model_config_dict(model), **kwargs)


def to_yaml(model, **kwargs):
    return to_yaml_text(model_config_dict(model), **kwargs)


def _major(config):
    if isinstance(config, dict) and config.get('keras_version'):
        return major_version(config['keras_version'])
    return None


def model_from_config(config, custom_objects=None, safe_mode=True, label='model config'):
    """A model (or layer) from ``{'class_name', 'config'}`` of any Keras era."""
    if not isinstance(config, dict):
        raise FileFormatError('%s must be a dict with class_name and config, got %s'
                              % (label, type(config).__name__))
    return build_model(config, _major(config), None, custom_objects, safe_mode, label,
                       require_model=False)


def _from_text_config(config, custom_objects, safe_mode, label, kind):
    from kzoo.converters.era import Era, Report
    version = config.get('keras_version') if isinstance(config, dict) else None
    backend = config.get('backend') if isinstance(config, dict) else None
    report = Report(label, kind, Era(version, backend, 'tensorflow', kind))
    model = build_model(config, _major(config), report, custom_objects, safe_mode, label)
    model._kzoo_report = report
    return model


def model_from_json(text, custom_objects=None, safe_mode=True, label='JSON config'):
    return _from_text_config(parse_json(text, label), custom_objects, safe_mode, label,
                             'JSON config')


def model_from_yaml(text, custom_objects=None, safe_mode=True, label='YAML config'):
    return _from_text_config(parse_yaml(text, label), custom_objects, safe_mode, label,
                             'YAML config')


# ---- as files -----------------------------------------------------------------------------

def _read_text(path):
    size = os.path.getsize(path)
    if size > MAX_TEXT_BYTES:
        raise FileFormatError('%s is %d bytes: too large for a model config' % (path, size))
    with open(path, 'rb') as f:
        return f.read()


def _head(path, n=512):
    try:
        with open(path, 'rb') as f:
            return f.read(n).lstrip()
    except OSError:
        return b''


def is_json(path):
    head = _head(path)
    return head[:1] in (b'{', b'"')


def is_yaml(path):
    if not str(path).lower().endswith(('.yaml', '.yml')):
        head = _head(path)
        return head.startswith((b'class_name:', b'backend:', b'config:', b'keras_version:'))
    return True


def load_json_file(path, custom_objects=None, compile=True, safe_mode=True):
    return model_from_json(_read_text(path), custom_objects, safe_mode, os.fspath(path))


def load_yaml_file(path, custom_objects=None, compile=True, safe_mode=True):
    return model_from_yaml(_read_text(path), custom_objects, safe_mode, os.fspath(path))


def describe(path):
    text = _read_text(path)
    config = parse_yaml(text, os.fspath(path)) if is_yaml(path) and not is_json(path) \
        else parse_json(text, os.fspath(path))
    return {'config': config, 'major': _major(config)}
