"""GaussianNoise, GaussianDropout and SpatialDropout1D/2D/3D on every kzoo backend.

At inference each is the identity: compared with Keras 3 exactly. In training the noise
is random, so no oracle can give the same draw; instead the tests check the defining
properties on large samples: additive noise of mean 0 and the given stddev, multiplicative
noise of mean 1 and stddev ``sqrt(rate / (1 - rate))`` (Keras's formula), and whole
channels dropped with probability ``rate`` and the rest scaled by ``1 / (1 - rate)``.
Statistical tolerances are 5 standard errors or more (false failure odds below 1e-6).
"""
import numpy as np
import pytest

from keras_oracle import check_config_exchange, check_layer, keras_output
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.errors import ConfigError

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(31)


def data(*shape):
    return RNG.uniform(0.5, 2., shape).astype('float32')


CASES = [('GaussianNoise', dict(stddev=0.3), (2, 3, 4)),
         ('GaussianDropout', dict(rate=0.4), (2, 3, 4)),
         ('SpatialDropout1D', dict(rate=0.5), (2, 3, 4)),
         ('SpatialDropout2D', dict(rate=0.5, data_format='channels_first'), (2, 3, 4, 5)),
         ('SpatialDropout2D', dict(rate=0.2), (2, 3, 4, 5)),
         ('SpatialDropout3D', dict(rate=0.3), (2, 3, 4, 2, 5))]


@pytest.mark.parametrize('class_name,kwargs,shape', CASES)
def test_identity_at_inference(kbackend, class_name, kwargs, shape):
    x = data(*shape)
    layer, out = check_layer(getattr(kl, class_name), kwargs, x, tol=0)
    np.testing.assert_array_equal(out, x)
    np.testing.assert_array_equal(layer(x, training=False), x)


def test_gaussian_noise_training(kbackend):
    x = data(200, 500)
    y = kl.GaussianNoise(0.3)(x, training=True)
    noise = (y - x).ravel()
    assert abs(noise.mean()) < 5 * 0.3 / np.sqrt(noise.size)
    assert abs(noise.std() - 0.3) < 0.3 * 5 / np.sqrt(2 * noise.size)


@pytest.mark.parametrize('rate', [0.2, 0.5])
def test_gaussian_dropout_training(kbackend, rate):
    x = data(200, 500)
    factor = (kl.GaussianDropout(rate)(x, training=True) / x).ravel()
    stddev = np.sqrt(rate / (1. - rate))
    assert abs(factor.mean() - 1.) < 5 * stddev / np.sqrt(factor.size)
    assert abs(factor.std() - stddev) < stddev * 5 / np.sqrt(2 * factor.size)


@pytest.mark.parametrize('class_name,data_format,shape', [
    ('SpatialDropout1D', None, (100, 6, 50)),
    ('SpatialDropout2D', 'channels_last', (100, 3, 4, 50)),
    ('SpatialDropout2D', 'channels_first', (100, 50, 3, 4)),
    ('SpatialDropout3D', 'channels_last', (50, 2, 3, 2, 40)),
    ('SpatialDropout3D', 'channels_first', (50, 40, 2, 3, 2))])
def test_spatial_dropout_training(kbackend, class_name, data_format, shape):
    rate = 0.4
    kwargs = {} if data_format is None else {'data_format': data_format}
    x = data(*shape)
    y = getattr(kl, class_name)(rate, **kwargs)(x, training=True)
    kept = (y != 0).astype('float32')
    # Kept entries are scaled by 1 / (1 - rate) (float32 arithmetic: 1e-6 relative).
    np.testing.assert_allclose(y[kept == 1], x[kept == 1] / (1. - rate), rtol=1e-6)
    # One decision per (sample, channel), shared by every position.
    channels = -1 if data_format != 'channels_first' else 1
    per_map = np.moveaxis(kept, channels, 1).reshape(shape[0], shape[channels], -1)
    assert (per_map == per_map[..., :1]).all()
    dropped = (per_map[..., 0] == 0).mean()
    n = per_map[..., 0].size
    assert abs(dropped - rate) < 5 * np.sqrt(rate * (1 - rate) / n)


def test_seeded_layers_repeat_their_sequence(kbackend):
    x = data(4, 8)
    a, b = kl.GaussianNoise(1., seed=3), kl.GaussianNoise(1., seed=3)
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # a fresh draw on each call


def test_keras1_spellings_and_errors():
    assert kl.GaussianNoise(sigma=0.2).stddev == 0.2
    assert kl.GaussianDropout(p=0.3).rate == 0.3
    assert kl.SpatialDropout2D(p=0.1, dim_ordering='th').data_format == 'channels_first'
    config = {"name": "spatial_dropout2d_46", "trainable": True, "dtype": "float32",
              "rate": 0.2, "noise_shape": None, "seed": None}  # tf.keras 2.2.4 (dl4j cnn2d_43)
    assert kl.SpatialDropout2D.from_config(config).rate == 0.2
    with pytest.raises(ConfigError, match='rate'):
        kl.GaussianDropout(1.)
    with pytest.raises(ConfigError, match='stddev'):
        kl.GaussianNoise(-1.)


def test_training_flag_through_a_model(kbackend):
    from kzoo.models import Sequential
    model = Sequential([kl.GaussianNoise(1., input_shape=(5,))])
    x = data(3, 5)
    np.testing.assert_array_equal(model.predict(x), keras_output('GaussianNoise',
                                                                 dict(stddev=1.), x))
    assert K.backend() == kbackend


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
@pytest.mark.parametrize('class_name,args', [('GaussianNoise', (0.1,)),
                                             ('GaussianDropout', (0.1,)),
                                             ('SpatialDropout1D', (0.5,)),
                                             ('SpatialDropout2D', (0.5,)),
                                             ('SpatialDropout3D', (0.5,))])
def test_configs_exchange_with_keras(class_name, args, lib):
    check_config_exchange(class_name, args, lib)
