"""What the crash-safety and concurrency tests run in child processes.

Module-level functions (so a forkserver child can run them): the ``kzoo convert``
command, ``get_file``, both in a row, and the checks of what they left on disk.
"""
import hashlib
import os

import numpy as np


def convert(src, dst):
    """``kzoo convert SRC DST`` (its exit status)."""
    from tests.security.entry_points import run_cli
    return run_cli(['convert', src, dst])


def download(fname, url, sha256, extract=False, cache_dir=None):
    from kzoo.utils.data_utils import get_file
    return get_file(fname, url, file_hash=sha256, extract=extract, cache_dir=cache_dir)


def download_then_convert(index, url, sha256, archive_url, archive_sha, out):
    """One of the concurrent processes: fetch the model and an archive into the shared
    cache, then convert the model to a file all of them write and to one of its own."""
    model_path = download('model.h5', url, sha256)
    folder = download('data.zip', archive_url, archive_sha, extract=True)
    shared = convert(model_path, os.path.join(out, 'model.onnx'))
    own = convert(model_path, os.path.join(out, 'model_%d.keras' % index))
    return {'model': model_path, 'folder': folder, 'status': [shared, own],
            'pid': os.getpid()}


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def model_outputs(path, x):
    """What a model file computes on ``x``: kzoo for Keras files, onnxruntime for ONNX."""
    if path.endswith('.onnx'):
        import onnxruntime
        session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
        name = session.get_inputs()[0].name
        return np.asarray(session.run(None, {name: x})[0])
    from kzoo.models import load_model
    return np.asarray(load_model(path, compile=False).predict(x))


def medium_model(path, seed=0):
    """A model with a few MB of weights (so writing it takes long enough to be
    interrupted part-way), saved to ``path``; returns its input shape."""
    from kzoo.layers import Conv2D, Dense, Flatten, Input
    from kzoo.models import Model
    x = Input(shape=(16, 16, 3), name='img')
    y = Conv2D(8, 3, padding='same', activation='relu', name='conv')(x)
    y = Dense(4, name='out')(Dense(256, activation='relu', name='wide')(Flatten()(y)))
    model = Model(x, y, name='medium')
    rng = np.random.default_rng(seed)
    model.set_weights([rng.standard_normal(w.shape).astype('float32') * 0.05
                       for w in model.get_weights()])
    model.save(path)
    return (1, 16, 16, 3)
