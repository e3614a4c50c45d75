"""Pooling layers against Keras 3 on every kzoo backend.

Outputs: ``assert_matches(..., 1e-5)`` (largest difference scaled by
``max(1, max|expected|)``, float32); shapes exactly; ``get_config`` -> JSON ->
``from_config`` gives the same config and output. channels_first oracle values come from
the channels_last Keras layer on transposed inputs (TensorFlow's CPU pooling kernels are
NHWC). ``same`` average pooling divides by the real (unpadded) cells, as TensorFlow does:
the odd sizes and strides below make the padding asymmetric.
"""
import itertools

import numpy as np
import pytest

from helpers import assert_matches
from keras_oracle import check_config_exchange, check_layer, keras_output, keras_output_shape
from kzoo import layers as kl

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(5)


def data(*shape):
    return RNG.uniform(-1., 1., shape).astype('float32')


def laid_out(shape_last, data_format):
    x = data(*shape_last)
    return x if data_format == 'channels_last' else np.ascontiguousarray(np.moveaxis(x, -1, 1))


def pool_cases(rank, pool_sizes, strides):
    return [dict(pool_size=p, strides=s, padding=pad, data_format=f)
            for p, s, pad, f in itertools.product(pool_sizes, strides, ['valid', 'same'],
                                                  ['channels_last', 'channels_first'])]


SHAPES = {1: (2, 9, 3), 2: (2, 7, 6, 3), 3: (2, 5, 6, 4, 2)}
FAST = {1: pool_cases(1, [2, 3], [None, 1, 2]),
        2: pool_cases(2, [2, (3, 2)], [None, 1, (2, 1)]),
        3: pool_cases(3, [2, (3, 2, 2)], [None, (1, 2, 1)])}
SLOW = {2: pool_cases(2, [3, (1, 3), 4], [3, (1, 2), (3, 1)])}


def ids(cases):
    return ['-'.join(str(v) for v in c.values()) for c in cases]


def check_pool(class_name, kwargs, rank):
    x = laid_out(SHAPES[rank], kwargs['data_format'])
    layer, _ = check_layer(getattr(kl, class_name), kwargs, x, class_name,
                           via_channels_last=kwargs['data_format'] == 'channels_first')
    unknown = [None] + list(x.shape[1:])
    unknown[1 if kwargs['data_format'] == 'channels_last' else -1] = None
    assert layer.compute_output_shape(tuple(unknown)) == keras_output_shape(
        class_name, kwargs, unknown)


@pytest.mark.parametrize('mode', ['Max', 'Average'])
@pytest.mark.parametrize('rank,kwargs', [(r, c) for r in (1, 2, 3) for c in FAST[r]],
                         ids=['%dD-%s' % (r, i) for r in (1, 2, 3) for i in ids(FAST[r])])
def test_pooling(kbackend, mode, rank, kwargs):
    check_pool('%sPooling%dD' % (mode, rank), kwargs, rank)


@pytest.mark.slow
@pytest.mark.parametrize('mode', ['Max', 'Average'])
@pytest.mark.parametrize('kwargs', SLOW[2], ids=ids(SLOW[2]))
def test_pooling_2d_more(kbackend, mode, kwargs):
    check_pool('%sPooling2D' % mode, kwargs, 2)


def test_keras1_spellings(kbackend):
    x = data(2, 8, 8, 3)
    expected = keras_output('MaxPooling2D', dict(pool_size=(2, 2)), x)
    assert_matches(kl.MaxPooling2D(poolsize=(2, 2))(x), expected)
    assert_matches(kl.MaxPooling2D(pool_size=(2, 2), border_mode='valid', dim_ordering='tf')(x),
                   expected)
    assert kl.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)).get_config()['strides'] == (2, 2)
    one = kl.MaxPooling1D(pool_length=3, stride=2, border_mode='same')
    assert (one.pool_size, one.strides, one.padding) == ((3,), (2,), 'same')
    assert_matches(one(data(2, 9, 3)[:1] * 0 + 1), np.ones((1, 5, 3), 'float32'))
    config = {'name': 'maxpooling2d_1', 'trainable': True, 'dim_ordering': 'th',
              'pool_size': [2, 2], 'strides': [2, 2], 'border_mode': 'valid'}
    layer = kl.MaxPooling2D.from_config(config)
    assert layer.data_format == 'channels_first' and 'border_mode' not in layer.get_config()
    assert type(kl.AveragePooling2D(2)).__name__ == 'AveragePooling2D'


# ---- global pooling ---------------------------------------------------------------------------

GLOBAL = [(mode, rank, fmt, keep) for mode in ('Max', 'Average') for rank in (1, 2, 3)
          for fmt in ('channels_last', 'channels_first') for keep in (False, True)]


@pytest.mark.parametrize('mode,rank,data_format,keepdims', GLOBAL)
def test_global_pooling(kbackend, mode, rank, data_format, keepdims):
    name = 'Global%sPooling%dD' % (mode, rank)
    kwargs = dict(data_format=data_format, keepdims=keepdims)
    x = laid_out(SHAPES[rank], data_format)
    layer, _ = check_layer(getattr(kl, name), kwargs, x, name)
    assert layer.compute_output_shape((None,) * (rank + 1) + (3,)) == keras_output_shape(
        name, kwargs, (None,) * (rank + 1) + (3,))


@pytest.mark.parametrize('data_format', ['channels_last', 'channels_first'])
@pytest.mark.parametrize('keepdims', [False, True])
def test_global_average_pooling_1d_mask(kbackend, data_format, keepdims):
    x = laid_out((3, 5, 4), data_format)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 0, 1], [1, 1, 1, 1, 1]], bool)
    kwargs = dict(data_format=data_format, keepdims=keepdims)
    layer = kl.GlobalAveragePooling1D(**kwargs)
    expected = keras_output('GlobalAveragePooling1D', kwargs, x, mask=mask)
    assert_matches(layer(x, mask=mask), expected)
    # Through a graph: Embedding(mask_zero) -> GlobalAveragePooling1D uses the mask.
    from kzoo.models import Sequential
    tokens = np.array([[3, 1, 0, 0], [2, 0, 0, 0]])
    model = Sequential([kl.Embedding(5, 3, input_length=4, mask_zero=True),
                        kl.GlobalAveragePooling1D()])
    table = model.layers[0].get_weights()[0]
    want = np.stack([table[[3, 1]].mean(0), table[[2]].mean(0)])
    assert_matches(model.predict(tokens), want)
    assert layer.compute_mask(x, mask) is None


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
@pytest.mark.parametrize('class_name', ['%s%d' % (n, r) + 'D' for n in (
    'MaxPooling', 'AveragePooling', 'GlobalMaxPooling', 'GlobalAveragePooling')
    for r in (1, 2, 3)])
def test_configs_exchange_with_keras(class_name, lib):
    args = (2,) if class_name.startswith('Average') else ()
    check_config_exchange(class_name, args, lib)
