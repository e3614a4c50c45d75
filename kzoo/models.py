"""Models and their files: ``Sequential``, ``Model``, ``load_model``, ``save_model``,
``model_from_config`` / ``_json`` / ``_yaml``.

Every era of Keras file is read (Keras 1.x with Theano or TensorFlow, Keras 2.x,
tf.keras, Keras 3 ``.h5`` and ``.keras``); files are written in layouts today's Keras
reads. The work happens in :mod:`kzoo.converters`; this module is the Keras API.

>>> import os, tempfile
>>> from kzoo.layers import Dense
>>> model = Sequential([Dense(2, input_dim=3)])
>>> path = os.path.join(tempfile.mkdtemp(), 'model.h5')
>>> model.save(path)
>>> load_model(path).layers[0].units
2
"""
from kzoo.engine.network import Container, deserialize_layer  # noqa: F401
from kzoo.engine.sequential import Sequential
from kzoo.engine.training import Model

__all__ = ['Sequential', 'Model', 'Container', 'load_model', 'save_model',
           'model_from_config', 'model_from_json', 'model_from_yaml']


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A model from a Keras file of any era (format found from the file's content).

    ``safe_mode=True`` (the default) refuses Lambda layers holding marshalled Python
    code; supply such functions as ``custom_objects={'<layer name>': fn}`` instead.
    ``compile=True`` restores the stored training config (optimizer, loss).

    On the torch backend, the weights of a legacy HDF5 file that are stored plainly
    (contiguous, unfiltered, native float) are mapped from the file copy-on-write
    rather than read: loading VGG16's 553 MB takes a tenth of a second, and writes to
    the weights never reach the file. Replacing the file afterwards is safe (kzoo's own
    saves write a new file and rename it); another program editing it in place shows
    through in pages not yet written, and truncating it would end the process on the
    next read of those weights. ``KZOO_MMAP_WEIGHTS=0`` reads into memory instead.
    """
    from kzoo.converters import formats
    return formats.load_model(filepath, custom_objects=custom_objects, compile=compile,
                              safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """``.keras`` -> Keras 3 archive; anything else -> legacy HDF5 (Keras 2 layout)."""
    from kzoo.converters import formats
    formats.save_model(model, filepath, overwrite=overwrite,
                       include_optimizer=include_optimizer)


def model_from_config(config, custom_objects=None, safe_mode=True):
    """A model (or layer) from ``{'class_name': ..., 'config': ...}`` (Keras 1, 2 or 3)."""
    from kzoo.converters.text_config import model_from_config as _from_config
    return _from_config(config, custom_objects, safe_mode)


def model_from_json(json_string, custom_objects=None, safe_mode=True):
    """A model from ``to_json()`` text of any Keras era (double-encoded JSON too)."""
    from kzoo.converters.text_config import model_from_json as _from_json
    return _from_json(json_string, custom_objects, safe_mode)


def model_from_yaml(yaml_string, custom_objects=None, safe_mode=True):
    """A model from ``to_yaml()`` text, read with YAML's safe loader only."""
    from kzoo.converters.text_config import model_from_yaml as _from_yaml
    return _from_yaml(yaml_string, custom_objects, safe_mode)
