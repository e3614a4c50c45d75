"""Activation layers against Keras 3 (tf_keras for ThresholdedReLU, which Keras 3
dropped), on every kzoo backend, plus the real Keras 2.3 files of the keras-io-pairs
corpus (ReLU, LeakyReLU, ELU, Softmax, ThresholdedReLU after a Dense; Conv1D with every
kernel size, stride, dilation and padding there) against the outputs Keras computed.

Tolerance: ``assert_matches(..., 1e-5)``: largest difference scaled by
``max(1, max|expected|)`` (corpus MANIFEST.md), float32.
"""
import glob
import json
import os

import numpy as np
import pytest

from helpers import assert_matches
from keras_oracle import check_config_exchange, check_layer, keras_output
from kzoo import layers as kl
from kzoo.errors import ConfigError, ShapeError
from kzoo.models import model_from_config

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(29)
PAIRS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'corpus',
                     'keras-io-pairs')


def data(*shape):
    return RNG.uniform(-3., 3., shape).astype('float32')


RELU = [dict(), dict(max_value=6.), dict(max_value=1.4), dict(negative_slope=0.2),
        dict(threshold=0.5), dict(max_value=2., negative_slope=0.1),
        dict(max_value=1.4, negative_slope=0.2, threshold=0.2),
        dict(negative_slope=0.3, threshold=1.5), dict(max_value=0.)]


@pytest.mark.parametrize('kwargs', RELU, ids=[str(k) for k in RELU])
def test_relu(kbackend, kwargs):
    check_layer(kl.ReLU, kwargs, data(3, 4, 5))


@pytest.mark.parametrize('alpha', [0.3, 0.01, 1.5])
def test_leaky_relu(kbackend, alpha):
    x = data(3, 7)
    layer, _ = check_layer(kl.LeakyReLU, dict(negative_slope=alpha), x)
    assert layer.get_config()['alpha'] == np.float32(alpha)  # Keras 2 spelling when written
    assert_matches(kl.LeakyReLU(alpha=alpha)(x),
                   keras_output('LeakyReLU', dict(negative_slope=alpha), x))
    assert_matches(kl.LeakyReLU()(x), keras_output('LeakyReLU', {}, x))


@pytest.mark.parametrize('shared_axes', [None, [1], [1, 2], [2, 3], 3])
def test_prelu(kbackend, shared_axes):
    check_layer(kl.PReLU, dict(shared_axes=shared_axes), data(2, 3, 4, 5))


def test_prelu_keras1_init():
    layer = kl.PReLU(init='one')
    assert layer.get_config()['alpha_initializer']['class_name'] == 'Ones'


@pytest.mark.parametrize('alpha', [1.0, 0.5, 2.0])
def test_elu(kbackend, alpha):
    check_layer(kl.ELU, dict(alpha=alpha), data(3, 6))


@pytest.mark.parametrize('theta', [1.0, 0.0, 0.7])
def test_thresholded_relu(kbackend, theta):
    check_layer(kl.ThresholdedReLU, dict(theta=theta), data(3, 6), lib='tf_keras')


@pytest.mark.parametrize('axis', [-1, 1, [1, 2]])
def test_softmax(kbackend, axis):
    check_layer(kl.Softmax, dict(axis=axis), data(2, 3, 4))


def test_softmax_mask(kbackend):
    x = data(2, 3, 4)
    mask = RNG.uniform(size=(2, 3, 4)) > 0.3
    mask[0, 1] = False  # a row entirely masked gives zeros
    assert_matches(kl.Softmax()(x, mask=mask), keras_output('Softmax', {}, x, mask=mask))
    with pytest.raises(ShapeError, match='mask'):
        kl.Softmax()(x, mask=np.ones((2, 3), bool))


def test_errors():
    with pytest.raises(ConfigError, match='max_value'):
        kl.ReLU(max_value=-1.)
    with pytest.raises(ConfigError, match='threshold'):
        kl.ReLU(threshold=-0.5)  # Keras refuses it too
    with pytest.raises(ConfigError, match='alpha or negative_slope'):
        kl.LeakyReLU(alpha=0.1, negative_slope=0.2)


# ---- real files: keras-io-pairs (Keras 2.3.1, TensorFlow) -----------------------------------

def corpus_folders():
    names = ['ELU_0', 'LeakyReLU_0', 'ReLU_0', 'ReLU_1', 'ReLU_2', 'ReLU_3', 'Softmax_0',
             'ThresholdReLU_0']
    folders = [os.path.join(PAIRS, n) for n in names]
    folders += sorted(glob.glob(os.path.join(PAIRS, 'conv1d_*')))
    return [f for f in folders if os.path.isdir(f)]


def load_pair(folder):
    """A model from ``*_config.json`` with weights from ``*_weights.h5`` (weights-only
    layout: root ``layer_names``, each group's ``weight_names``), and the inputs and
    activations Keras computed."""
    h5py = pytest.importorskip('h5py')
    base = os.path.join(folder, os.path.basename(folder))
    with open(base + '_config.json') as f:
        model = model_from_config(json.load(f))
    with h5py.File(base + '_weights.h5', 'r') as f:
        for name in f.attrs['layer_names']:
            name = name.decode() if isinstance(name, bytes) else name
            group = f[name]
            weights = [np.asarray(group[n.decode() if isinstance(n, bytes) else n])
                       for n in group.attrs['weight_names']]
            if weights:
                model.get_layer(name).set_weights(weights)
    with h5py.File(base + '_inputs_and_outputs.h5', 'r') as f:
        inputs = [np.asarray(f['inputs'][n]) for n in json.loads(f.attrs['inputs'])['inputs']]
        activations = {n: np.asarray(f['activations'][n]) for n in f['activations']}
    return model, inputs, activations


@pytest.mark.skipif(not corpus_folders(), reason='keras-io-pairs corpus not present')
@pytest.mark.parametrize('folder', corpus_folders(), ids=os.path.basename)
def test_keras_io_pairs(kbackend, folder):
    model, inputs, activations = load_pair(folder)
    x = inputs[0]
    for layer in model.layers:
        x = layer(x)
        assert_matches(x, activations[layer.name], 1e-5, what='%s output' % layer.name)


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
@pytest.mark.parametrize('class_name', ['ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'Softmax',
                                        'ThresholdedReLU'])
def test_configs_exchange_with_keras(class_name, lib):
    if class_name == 'ThresholdedReLU' and lib == 'keras':
        pytest.skip('Keras 3 has no ThresholdedReLU')
    check_config_exchange(class_name, (), lib)
