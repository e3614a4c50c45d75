"""ZeroPadding, Cropping and UpSampling layers against Keras 3 on every kzoo backend.

Outputs: ``assert_matches(..., 1e-5)`` (largest difference scaled by
``max(1, max|expected|)``, float32); shapes exactly (also with unknown dimensions);
``get_config`` -> JSON -> ``from_config`` gives the same config and output. Bilinear
upsampling is Keras 3's (``tf.image.resize``, half-pixel centres).
"""
import numpy as np
import pytest

from helpers import assert_matches
from keras_oracle import check_config_exchange, check_layer, keras_output, keras_output_shape
from kzoo import layers as kl
from kzoo.errors import ConfigError

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(11)
SHAPES = {1: (2, 6, 3), 2: (2, 5, 4, 3), 3: (2, 4, 3, 5, 2)}
FORMATS = ['channels_last', 'channels_first']


def data(*shape):
    return RNG.uniform(-1., 1., shape).astype('float32')


def laid_out(rank, data_format):
    x = data(*SHAPES[rank])
    return x if data_format == 'channels_last' else np.ascontiguousarray(np.moveaxis(x, -1, 1))


def check(class_name, kwargs, rank, data_format='channels_last'):
    x = laid_out(rank, data_format)
    layer, _ = check_layer(getattr(kl, class_name), kwargs, x, class_name)
    unknown = [None] + list(x.shape[1:])
    unknown[1 if data_format == 'channels_last' else 2] = None
    assert layer.compute_output_shape(tuple(unknown)) == keras_output_shape(class_name, kwargs,
                                                                            unknown)
    return layer


CASES = [
    ('ZeroPadding1D', 1, [{}, {'padding': 2}, {'padding': (0, 3)}]),
    ('ZeroPadding2D', 2, [{}, {'padding': 2}, {'padding': (1, 0)},
                          {'padding': ((1, 2), (0, 3))}]),
    ('ZeroPadding3D', 3, [{'padding': 1}, {'padding': ((1, 0), (0, 2), (2, 1))}]),
    ('Cropping1D', 1, [{}, {'cropping': 2}, {'cropping': (0, 3)}]),
    ('Cropping2D', 2, [{'cropping': 1}, {'cropping': ((1, 2), (0, 1))}, {'cropping': (2, 1)}]),
    ('Cropping3D', 3, [{}, {'cropping': ((1, 0), (0, 1), (2, 1))}]),
    ('UpSampling1D', 1, [{}, {'size': 3}]),
    ('UpSampling2D', 2, [{}, {'size': (2, 3)}, {'size': 3, 'interpolation': 'bilinear'},
                         {'size': (2, 3), 'interpolation': 'bilinear'},
                         {'size': (1, 4), 'interpolation': 'bilinear'}]),
    ('UpSampling3D', 3, [{}, {'size': (1, 2, 3)}]),
]
GRID = [(name, rank, kwargs, fmt) for name, rank, cases in CASES for kwargs in cases
        for fmt in (FORMATS if rank > 1 else ['channels_last'])]


@pytest.mark.parametrize('class_name,rank,kwargs,data_format', GRID,
                         ids=['%s-%s-%s' % (n, k, f) for n, _, k, f in GRID])
def test_shape_layers(kbackend, class_name, rank, kwargs, data_format):
    if rank > 1:
        kwargs = dict(kwargs, data_format=data_format)
    check(class_name, kwargs, rank, data_format)


def test_keras1_spellings(kbackend):
    x = laid_out(2, 'channels_first')
    want = keras_output('ZeroPadding2D', dict(padding=((1, 2), (3, 0)),
                                              data_format='channels_first'), x)
    # Keras 1: (top, bottom, left, right) or a dict, and dim_ordering.
    assert_matches(kl.ZeroPadding2D((1, 2, 3, 0), dim_ordering='th')(x), want)
    assert_matches(kl.ZeroPadding2D({'top_pad': 1, 'bottom_pad': 2, 'left_pad': 3},
                                    dim_ordering='th')(x), want)
    x1 = laid_out(1, 'channels_last')
    assert_matches(kl.UpSampling1D(length=3)(x1), keras_output('UpSampling1D', {'size': 3}, x1))
    assert kl.UpSampling2D(size=(2, 2), dim_ordering='tf').get_config()['data_format'] == \
        'channels_last'
    assert kl.Cropping2D(cropping=((1, 1), (1, 1))).get_config()['cropping'] == ((1, 1), (1, 1))


def test_errors():
    with pytest.raises(ConfigError, match='interpolation'):
        kl.UpSampling2D(interpolation='bicubic')
    with pytest.raises(ConfigError, match='padding'):
        kl.ZeroPadding2D(((1, 2, 3), (1, 1)))
    with pytest.raises(ConfigError, match='cropping'):
        kl.Cropping1D((4, 3)).compute_output_shape((None, 6, 2))


def test_zero_padding_1d_channels_first(kbackend):
    # Keras 3 added data_format to ZeroPadding1D; written only when channels_first.
    x = laid_out(1, 'channels_first')
    check_layer(kl.ZeroPadding1D, dict(padding=(1, 2), data_format='channels_first'), x)
    assert 'data_format' not in kl.ZeroPadding1D(2).get_config()


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
@pytest.mark.parametrize('class_name', [n for n, _, _ in CASES])
def test_configs_exchange_with_keras(class_name, lib):
    check_config_exchange(class_name, (), lib)
