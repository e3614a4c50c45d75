"""The steps of batch prediction, shared by the one-process and the Ray paths.

Paths are cut into groups of ``batch_size`` in input order; a group is decoded and
preprocessed as one unit (:func:`decode_group`) and goes through the model as one
batch (:func:`predict_group`). Both paths use the same groups and the same
functions, so they give the same numbers, whichever process runs a group, as long as
the model runs with the same number of threads (``Plan.threads``): torch splits work
between its threads differently for different counts, and the last bits of float32
results follow (scores near underflow move most).

>>> plan = Plan(target_size=(8, 8), channels=3, data_format='channels_last',
...             mode='none', top=2, batch_size=4)
>>> group = decode_group(['/no/such.png'], plan)
>>> group.pixels.shape, group.errors[0].startswith('FileFormatError')
((0, 8, 8, 3), True)
"""
import contextlib
import dataclasses
import os
import tempfile
from typing import Optional, Tuple

import numpy as np

from kzoo.errors import ConfigError

COLUMNS = ('path', 'class_ids', 'class_names', 'scores', 'error')
_COLOR_MODES = {1: 'grayscale', 3: 'rgb', 4: 'rgba'}


@dataclasses.dataclass(frozen=True)
class Plan:
    """How images become model inputs, and how many classes to report."""
    target_size: Tuple[int, int]   # (height, width)
    channels: int
    data_format: str               # of the model's input
    mode: str                      # preprocess_input mode, or 'none'
    top: int
    batch_size: int
    threads: Optional[int] = None  # the model's intra-op threads (None: leave as is)
    precision: Optional[str] = None  # passed to Model.predict (kzoo.engine.inference)
    provider: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What a worker needs to load the model once: an application name (its weights
    come through the shared cache), a model file path, or a saved model's bytes."""
    source: Optional[str] = None
    weights: Optional[str] = 'imagenet'
    blob: Optional[bytes] = None

    def load(self):
        from kzoo.commands._models import load_model_or_application
        if self.blob is None:
            return load_model_or_application(self.source, self.weights)[0]
        from kzoo.models import load_model
        fd, tmp = tempfile.mkstemp(suffix='.h5')
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(self.blob)
            return load_model(tmp, compile=False)
        finally:
            os.remove(tmp)


def resolve(model, weights='imagenet', preprocess=None, top=5, batch_size=32,
            target_size=None, need_model=True, threads=None, precision=None, provider=None):
    """``(spec, plan, loaded model or None)`` for ``model``: an application name, a model
    file, or a kzoo ``Model``.

    An application's input size and preprocessing come from its registry entry, so it
    is built here only when ``need_model``; a file is loaded to read its input shape
    (and to fail here, not on every worker, when it is unreadable).
    """
    from kzoo.commands._models import is_model_file, load_model_or_application
    if top < 1 or batch_size < 1 or (threads is not None and threads < 1):
        raise ConfigError('top, batch_size and threads must be at least 1; got top=%r '
                          'batch_size=%r threads=%r' % (top, batch_size, threads))
    app = None
    if isinstance(model, (str, os.PathLike)):
        spec_text = os.fspath(model)
        if is_model_file(spec_text):
            spec = ModelSpec(source=os.path.abspath(spec_text), weights=None)
            loaded = load_model_or_application(spec.source)[0]
        else:
            from kzoo.registry import get_application
            app = get_application(spec_text)
            if weights not in (None, 'imagenet'):
                # a weights file: checked here, and absolute for workers elsewhere
                if not os.path.isfile(os.fspath(weights)):
                    raise ConfigError("weights must be 'imagenet', None or a weights file "
                                      'that exists; got %r' % (weights,))
                weights = os.path.abspath(os.fspath(weights))
            spec = ModelSpec(source=app.name, weights=weights)
            loaded = spec.load() if need_model else None
    elif hasattr(model, 'predict') and hasattr(model, 'input_shape'):
        spec, loaded = ModelSpec(blob=None), model
    else:
        raise ConfigError('model must be an application name, a model file or a kzoo Model; '
                          'got %r' % (model,))
    mode = preprocess or (app.preprocessing if app else 'none')
    if mode not in ('caffe', 'tf', 'torch', 'none'):
        raise ConfigError("preprocess must be 'caffe', 'tf', 'torch' or 'none'; got %r" % mode)
    if loaded is not None:
        shape = _input_shape(loaded)
    else:
        shape = (None, app.input_size, app.input_size, 3)
    data_format = 'channels_first' if (shape[1] in (1, 3, 4) and shape[3] not in (1, 3, 4)) \
        else 'channels_last'
    height, width, channels = (shape[2], shape[3], shape[1]) if data_format == \
        'channels_first' else (shape[1], shape[2], shape[3])
    if target_size is not None:
        height, width = target_size
    default = app.input_size if app else 224
    plan = Plan(target_size=(int(height or default), int(width or default)),
                channels=int(channels or 3), data_format=data_format, mode=mode, top=int(top),
                batch_size=int(batch_size), threads=int(threads) if threads else None,
                # The compiled plan unless asked otherwise: 'auto' times the providers in
                # each process and may pick differently, and the local and Ray paths
                # promise the same rows.
                precision=precision, provider=provider or 'torch')
    if plan.channels not in _COLOR_MODES:
        raise ConfigError('the model takes %d-channel images; kzoo predict reads images with '
                          '1, 3 or 4 channels' % plan.channels)
    return spec, plan, loaded


def _input_shape(model):
    shape = model.input_shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ConfigError('model %r has %d inputs; batch prediction needs one image input'
                              % (model.name, len(shape)))
        shape = shape[0]
    if len(shape) != 4:
        raise ConfigError('model %r takes inputs of shape %s; batch prediction needs images '
                          '(batch, height, width, channels)' % (model.name, tuple(shape)))
    return tuple(shape)


def with_blob(spec, model):
    """``spec`` carrying ``model`` saved as HDF5 bytes (for workers in other processes)."""
    if spec.blob is not None or spec.source is not None:
        return spec
    fd, tmp = tempfile.mkstemp(suffix='.h5')
    os.close(fd)
    try:
        model.save(tmp)
        with open(tmp, 'rb') as f:
            return ModelSpec(blob=f.read())
    finally:
        os.remove(tmp)


@contextlib.contextmanager
def model_threads(threads):
    """Run the model with ``threads`` intra-op threads (torch), restored afterwards."""
    if not threads:
        yield
        return
    import torch
    saved = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def chunks(paths, size):
    """``paths`` cut into lists of ``size`` (the last may be shorter)."""
    return [list(paths[i:i + size]) for i in range(0, len(paths), size)]


# ---- decoding --------------------------------------------------------------------------------

@dataclasses.dataclass
class Group:
    """One batch: every path, an error message per path ('' when it decoded), and the
    preprocessed pixels of the paths that decoded, in order."""
    paths: list
    errors: list
    pixels: np.ndarray


def decode_group(paths, plan):
    """Decode and preprocess ``paths``; an image that fails gets an error, never raises."""
    from kzoo.preprocessing.image import img_to_array, load_img
    color_mode = _COLOR_MODES[plan.channels]
    arrays, errors = [], []
    for path in paths:
        try:
            img = load_img(path, color_mode=color_mode, target_size=plan.target_size)
            arrays.append(img_to_array(img, data_format='channels_last', dtype='float32'))
            errors.append('')
        except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, ...
            errors.append('%s: %s' % (type(e).__name__, e) if str(e) else type(e).__name__)
    height, width = plan.target_size
    pixels = np.stack(arrays) if arrays else np.zeros((0, height, width, plan.channels),
                                                      'float32')
    if plan.mode != 'none' and len(pixels):
        from kzoo.registry import imagenet
        pixels = imagenet.preprocess_input(pixels, data_format='channels_last', mode=plan.mode)
    if plan.data_format == 'channels_first':
        pixels = pixels.transpose(0, 3, 1, 2)
    return Group(list(paths), errors, np.ascontiguousarray(pixels, dtype='float32'))


# ---- prediction --------------------------------------------------------------------------------

def predict_group(model, group, plan):
    """Result columns (:data:`COLUMNS`) for one decoded group, one row per path."""
    columns = {name: [] for name in COLUMNS}
    preds = None
    if len(group.pixels):
        options = {k: v for k, v in (('precision', plan.precision),
                                     ('provider', plan.provider)) if v is not None}
        preds = np.asarray(model.predict(group.pixels, batch_size=len(group.pixels), **options))
        preds = preds.reshape(len(preds), -1)
    names = _class_names(preds.shape[1]) if preds is not None else None
    k = 0
    for path, error in zip(group.paths, group.errors):
        columns['path'].append(path)
        if error:
            ids, scores, error_value = [], [], error
        else:
            row = preds[k]
            k += 1
            # stable sort: equal scores keep class order, the same on every worker
            ids = np.argsort(-row, kind='stable')[:plan.top].tolist()
            scores = [float(s) for s in row[ids].astype('float32')]
            error_value = None
        columns['class_ids'].append(ids)
        columns['class_names'].append([names[i] for i in ids])
        columns['scores'].append(scores)
        columns['error'].append(error_value)
    return columns


def _class_names(count):
    if count == 1000:
        from kzoo.registry import imagenet
        return imagenet.class_names()
    return ['class_%d' % i for i in range(count)]


def rows(columns):
    """Column lists as row dicts."""
    return [dict(zip(COLUMNS, values)) for values in zip(*(columns[c] for c in COLUMNS))]
