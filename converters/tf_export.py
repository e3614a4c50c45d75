"""``to_tensorflow``: a kzoo model as a ``tf_keras`` (Keras 2.x on TensorFlow) model.

tf_keras, not Keras 3: it reads kzoo's Keras 2 config layout as is, keeps Keras 2
behaviours kzoo models come from (``hard_sigmoid`` as ``clip(0.2 x + 0.5)``, Keras 2
masks), and writes a TensorFlow SavedModel with ``model.save(dir, save_format='tf')``.
The config goes through :func:`kzoo.converters.keras_config.keras2_model_config` (Keras 1
legacy classes under their Keras 2 names); weights are copied layer by layer, by name.

:func:`from_tensorflow` goes the other way (a tf_keras model or SavedModel folder into
kzoo), through the same config layout.
"""
import os
import shutil
import tempfile

from kzoo.errors import ConversionError
from kzoo.utils.io_utils import remove_stale_staging, staging_prefix


def _tf_keras():
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    try:
        import tf_keras
    except ImportError:
        raise ConversionError('exporting to TensorFlow needs tf_keras (pip install tf-keras '
                              'tensorflow)') from None
    return tf_keras


def _copy_weights(source_layers, find_target, what):
    for layer in source_layers:
        weights = layer.get_weights()
        if not weights:
            continue
        target = find_target(layer.name)
        if hasattr(layer, '_plan') and hasattr(target, 'layers'):   # nested model
            _copy_weights(layer.layers, target.get_layer, what)
            continue
        try:
            target.set_weights(weights)
        except Exception as e:
            raise ConversionError('%s: cannot copy the weights of layer %r (%s): %s'
                                  % (what, layer.name, type(layer).__name__, e)) from e


def to_tensorflow(model):
    """A tf_keras model with ``model``'s architecture and weights."""
    from kzoo.converters.keras_config import keras2_model_config
    tf_keras = _tf_keras()
    config = keras2_model_config(model)
    try:
        tf_model = tf_keras.models.model_from_config(config)
    except Exception as e:
        raise ConversionError('tf_keras cannot build model %r from its Keras 2 config: %s: %s'
                              % (model.name, type(e).__name__, e)) from e
    _copy_weights(model.layers, tf_model.get_layer, 'exporting model %r to tf_keras'
                  % model.name)
    return tf_model


def save_savedmodel(tf_model, path):
    """Write ``tf_model`` as a SavedModel folder at ``path``, atomically: it is written
    beside ``path`` and renamed into place (an existing folder is replaced)."""
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ConversionError('cannot write %s: folder %s does not exist' % (path, parent))
    # Staging names carry our pid: what a killed writer left is removed by the next one.
    remove_stale_staging(parent, os.path.basename(path))
    staging = tempfile.mkdtemp(prefix=staging_prefix(path), suffix='.tmp', dir=parent)
    try:
        target = os.path.join(staging, 'saved_model')
        tf_model.save(target, save_format='tf', include_optimizer=False)
        replace_folder(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def replace_folder(source, path):
    """Move the folder ``source`` to ``path``; an old ``path`` is moved away first and
    removed after, so ``path`` is never a mix of the two."""
    old = None
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise ConversionError('%s exists and is not a folder' % path)
        old = tempfile.mkdtemp(prefix=staging_prefix(path) + 'old.', suffix='.tmp',
                               dir=os.path.dirname(path))
        os.rmdir(old)
        os.replace(path, old)
    os.replace(source, path)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def is_savedmodel(path):
    path = os.fspath(path)
    return os.path.isdir(path) and (os.path.isfile(os.path.join(path, 'saved_model.pb')) or
                                    os.path.isfile(os.path.join(path, 'saved_model.pbtxt')))


def load_savedmodel(path):
    """The tf_keras model saved in the SavedModel folder ``path``."""
    tf_keras = _tf_keras()
    if not is_savedmodel(path):
        raise ConversionError('%s is not a SavedModel folder (no saved_model.pb)' % path)
    try:
        return tf_keras.models.load_model(os.fspath(path), compile=False)
    except Exception as e:
        raise ConversionError('%s: tf_keras cannot load this SavedModel as a Keras model '
                              '(%s: %s)' % (path, type(e).__name__, e)) from e


def from_tensorflow(tf_model, safe_mode=True):
    """A kzoo model from a tf_keras model (or a SavedModel folder path)."""
    import json
    from kzoo.converters.text_config import model_from_json
    if isinstance(tf_model, (str, os.PathLike)):
        tf_model = load_savedmodel(tf_model)
    model = model_from_json(json.dumps({'class_name': type(tf_model).__name__,
                                        'config': tf_model.get_config(),
                                        'keras_version': '2.15.0', 'backend': 'tensorflow'}),
                            safe_mode=safe_mode, label='tf_keras model %r' % tf_model.name)
    _copy_weights(tf_model.layers, model.get_layer, 'importing tf_keras model %r'
                  % tf_model.name)
    return model
