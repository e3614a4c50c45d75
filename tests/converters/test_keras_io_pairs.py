"""Keras-import test pairs of another project: each model (whole-model ``*_model.h5``,
and ``*_config.json`` + ``*_weights.h5``) reproduces what Keras itself computed,
stored beside it: predictions and every layer's activations.

These are the only oracle for Keras 1 files (no installable Keras reads them).
Tolerance 1e-5 scaled by magnitude (``helpers.assert_matches``; MANIFEST.md explains
why pre-activations in the hundreds need the scaling).
"""
import glob
import json
import os

import numpy as np
import pytest

from helpers import assert_matches
from kzoo.models import Model, load_model, model_from_json

PAIRS = '/work/shared/corpus/keras-io-pairs'
FOLDERS = sorted(d for d in os.listdir(PAIRS) if d != 'keras_simple_cnn_tf') \
    if os.path.isdir(PAIRS) else []


def _cases():
    cases = []
    for folder in FOLDERS:
        base = os.path.join(PAIRS, folder)
        if glob.glob(base + '/*_model.h5'):
            cases.append((folder, 'model.h5'))
        if glob.glob(base + '/*_config.json') and glob.glob(base + '/*_weights.h5'):
            cases.append((folder, 'config+weights'))
    return cases


def _load(folder, kind):
    base = os.path.join(PAIRS, folder)
    if kind == 'model.h5':
        return load_model(glob.glob(base + '/*_model.h5')[0])
    with open(glob.glob(base + '/*_config.json')[0]) as f:
        model = model_from_json(f.read())
    model.load_weights(glob.glob(base + '/*_weights.h5')[0])
    return model


def _stored(folder):
    import h5py
    path = glob.glob(os.path.join(PAIRS, folder, '*_inputs_and_outputs.h5'))[0]
    with h5py.File(path, 'r') as f:
        inputs = json.loads(f.attrs['inputs'])['inputs']
        outputs = json.loads(f.attrs['outputs'])['outputs']
        x = [f['inputs'][n][()] for n in inputs]
        # Older files keep only the targets given to evaluate(), which newer ones made
        # equal to the predictions; those files carry no predictions to compare.
        group = 'predictions' if 'predictions' in f else None
        predictions = [f[group][n][()] for n in outputs] if group else None
        activations = {k: f['activations'][k][()] for k in f['activations']} \
            if 'activations' in f else {}
    return x, predictions, activations


def _tf_keras_predictions(folder, kind, feed, tfk):
    """For the files that kept only targets: what tf-keras computes from the same file."""
    base = os.path.join(PAIRS, folder)
    if kind == 'model.h5':
        oracle = tfk.models.load_model(glob.glob(base + '/*_model.h5')[0], compile=False)
    else:
        with open(glob.glob(base + '/*_config.json')[0]) as f:
            oracle = tfk.models.model_from_json(f.read())
        oracle.load_weights(glob.glob(base + '/*_weights.h5')[0])
    out = oracle(feed, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


@pytest.mark.parametrize('folder,kind', _cases())
def test_pair_reproduces_keras(folder, kind, request):
    model = _load(folder, kind)
    x, predictions, activations = _stored(folder)
    feed = x[0] if len(x) == 1 else x
    if predictions is None:
        predictions = _tf_keras_predictions(folder, kind, feed, request.getfixturevalue('tfk'))
    if not activations:
        actual = model.predict(feed)
        actual = actual if isinstance(actual, list) else [actual]
        for a, e in zip(actual, predictions):
            assert_matches(a, e, 1e-5, what='%s predictions (tf-keras)' % folder)
        return
    if predictions is not None:
        actual = model.predict(feed)
        actual = actual if isinstance(actual, list) else [actual]
        for a, e in zip(actual, predictions):
            assert_matches(a, e, 1e-5, what='%s predictions' % folder)
    assert activations, '%s has no activations to compare' % folder
    for name, expected in sorted(activations.items()):
        layer = model.get_layer(name)
        actual = Model(model.inputs, layer.output).predict(feed)
        assert_matches(actual, expected, 1e-5, what='%s activation of %s' % (folder, name))


def test_simple_cnn_tf_reproduces_keras():
    """``keras_simple_cnn_tf``: one image stored (channels, rows, columns) as text, for a
    channels_last model, and Keras's output for it."""
    base = os.path.join(PAIRS, 'keras_simple_cnn_tf')
    if not os.path.isdir(base):
        pytest.skip('corpus folder missing')
    image = np.loadtxt(os.path.join(base, 'cnn_tf_input.txt')).astype('float32')
    expected = np.loadtxt(os.path.join(base, 'cnn_tf_output.txt')).reshape(1, -1)
    for model in (load_model(os.path.join(base, 'cnn_tf_model.h5')), _json_model(base)):
        rows, cols, channels = model.input_shape[1:]
        x = image.reshape(channels, rows, cols).transpose(1, 2, 0)[None]
        assert_matches(model.predict(x), expected, 1e-5, what='cnn_tf output')


def _json_model(base):
    with open(os.path.join(base, 'cnn_tf_config.json')) as f:
        model = model_from_json(f.read())
    model.load_weights(os.path.join(base, 'cnn_tf_weights.h5'))
    return model
