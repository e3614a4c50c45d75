"""BatchNormalization and LayerNormalization against Keras 3 (tf_keras for a list of BN
axes, which Keras 3 refuses), on every kzoo backend.

Inference uses the moving statistics; ``training=True`` uses the batch statistics and
updates the moving ones by Keras's momentum rule: both the outputs and the updated
moving statistics are compared with Keras's after one training call. Tolerance:
``assert_matches(..., 1e-5)`` (largest difference scaled by ``max(1, max|expected|)``,
float32).
"""
import numpy as np
import pytest

from helpers import assert_matches
from keras_oracle import built, check_config_exchange, check_layer, keras_weights_after
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.errors import ConfigError

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(17)


def data(*shape, low=-2., high=2.):
    return RNG.uniform(low, high, shape).astype('float32')


def bn_weights(size, center=True, scale=True):
    shape = size if isinstance(size, tuple) else (size,)
    weights = []
    if scale:
        weights.append(data(*shape, low=0.5, high=1.5))
    if center:
        weights.append(data(*shape, low=-0.5, high=0.5))
    return weights + [data(*shape, low=-0.5, high=0.5), data(*shape, low=0.5, high=1.5)]


BN = [dict(axis=axis, center=c, scale=s, epsilon=eps, momentum=m)
      for (axis, c, s, eps, m) in [(-1, True, True, 1e-3, 0.99), (1, True, True, 1e-3, 0.9),
                                   (2, False, True, 0.1, 0.99), (-1, True, False, 1e-5, 0.5),
                                   (1, False, False, 1e-3, 0.99), (3, True, True, 0.01, 0.8)]]


def ids(cases):
    return ['-'.join(str(v) for v in c.values()) for c in cases]


@pytest.mark.parametrize('kwargs', BN, ids=ids(BN))
def test_batch_normalization_inference(kbackend, kwargs):
    x = data(3, 4, 5, 6)
    size = x.shape[kwargs['axis']]
    check_layer(kl.BatchNormalization, kwargs, x,
                weights=bn_weights(size, kwargs['center'], kwargs['scale']))


@pytest.mark.parametrize('kwargs', BN[:4], ids=ids(BN[:4]))
def test_batch_normalization_training_updates_moving_statistics(kbackend, kwargs):
    x = data(8, 4, 5, 6, low=-1., high=3.)
    weights = bn_weights(x.shape[kwargs['axis']], kwargs['center'], kwargs['scale'])
    layer, _ = built(kl.BatchNormalization(**kwargs), x.shape, weights)
    expected, keras_after = keras_weights_after('BatchNormalization', kwargs, x, weights)
    assert_matches(layer(x, training=True), expected)
    for got, want in zip(layer.get_weights(), keras_after):
        assert_matches(got, want)
    # Inference afterwards uses the updated moving statistics, as Keras does.
    assert_matches(layer(x), keras_infer(kwargs, x, keras_after))


def keras_infer(kwargs, x, weights):
    from keras_oracle import keras_output
    return keras_output('BatchNormalization', kwargs, x, weights)


def test_batch_normalization_2d_input_and_axis_list(kbackend):
    x = data(5, 7)
    check_layer(kl.BatchNormalization, dict(), x, weights=bn_weights(7))
    x4 = data(2, 3, 4, 5)
    check_layer(kl.BatchNormalization, dict(axis=[1, 3]), x4, lib='tf_keras',
                weights=bn_weights((1, 3, 1, 5)))
    layer, weights = built(kl.BatchNormalization(axis=[1, 3], momentum=0.5), x4.shape,
                           bn_weights((1, 3, 1, 5)))
    expected, keras_after = keras_weights_after('BatchNormalization', dict(axis=[1, 3],
                                                momentum=0.5), x4, weights, lib='tf_keras')
    assert_matches(layer(x4, training=True), expected)
    for got, want in zip(layer.get_weights(), keras_after):
        assert_matches(got, want)


def test_batch_normalization_training_is_differentiable_on_torch():
    torch = pytest.importorskip('torch')
    with K.using('torch'):
        layer, weights = built(kl.BatchNormalization(momentum=0.5), (4, 3), bn_weights(3))
        x = torch.tensor(data(4, 3), requires_grad=True)
        y = layer(x, training=True)
        (y * torch.arange(3.)).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert layer.moving_mean.grad is None and not layer.moving_mean.requires_grad
        assert_matches(layer.get_weights()[2],
                       weights[2] * 0.5 + data_mean(x) * 0.5)


def data_mean(x):
    return x.detach().numpy().mean(axis=0)


def test_keras1_batch_normalization():
    config = {"name": "batchnormalization_1", "trainable": True, "epsilon": 0.001, "mode": 0,
              "axis": -1, "gamma_regularizer": None, "beta_regularizer": None,
              "momentum": 0.99}  # as Keras 1.2.2 wrote it (dl4j batch_to_conv2d_tensorflow_1)
    layer = deserialize_layer({'class_name': 'BatchNormalization', 'config': config})
    assert 'mode' not in layer.get_config() and layer.epsilon == 0.001
    for mode in (1, 2):
        with pytest.raises(ConfigError, match='mode=%d' % mode):
            deserialize_layer({'class_name': 'BatchNormalization',
                               'config': dict(config, mode=mode)})
    layer = kl.BatchNormalization(beta_init='one', gamma_init='zero')
    assert layer.get_config()['beta_initializer']['class_name'] == 'Ones'
    with pytest.raises(ConfigError, match='renorm'):
        kl.BatchNormalization(renorm=True)
    assert kl.BatchNormalization(renorm=False, synchronized=False, fused=True).built is False


LN = [dict(axis=a, center=c, scale=s, epsilon=e)
      for a, c, s, e in [(-1, True, True, 1e-3), ([1, 2], True, True, 1e-5),
                         ([-2, -1], False, True, 1e-3), (1, True, False, 0.1),
                         ([1, 3], False, False, 1e-3)]]


@pytest.mark.parametrize('kwargs', LN, ids=ids(LN))
def test_layer_normalization(kbackend, kwargs):
    x = data(3, 4, 5, 6, low=-1., high=3.)
    check_layer(kl.LayerNormalization, kwargs, x)


def test_layer_normalization_3d(kbackend):
    check_layer(kl.LayerNormalization, dict(), data(2, 5, 7))


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
@pytest.mark.parametrize('class_name', ['BatchNormalization', 'LayerNormalization'])
def test_configs_exchange_with_keras(class_name, lib):
    check_config_exchange(class_name, (), lib)
