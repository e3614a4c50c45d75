"""Embedding against Keras 3 (tf_keras for ``input_length``, which Keras 3 dropped), on
every kzoo backend: outputs exactly (a lookup), masks exactly, shapes, config round trip,
and the Keras 1 spellings.
"""
import warnings

import numpy as np
import pytest

from keras_oracle import (built, check_config_exchange, check_layer, keras_mask, keras_output,
                          keras_output_shape)
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.errors import ConfigError

pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(23)


def tokens(*shape, high=7):
    return RNG.integers(0, high, shape).astype('int32')


@pytest.mark.parametrize('mask_zero', [False, True])
@pytest.mark.parametrize('shape', [(3, 5), (2, 3, 4), (4,)])
def test_embedding(kbackend, mask_zero, shape):
    x = tokens(*shape)
    kwargs = dict(input_dim=7, output_dim=3, mask_zero=mask_zero)
    layer, _ = check_layer(kl.Embedding, kwargs, x, tol=0)
    want_mask = keras_mask('Embedding', kwargs, x)
    got_mask = layer.compute_mask(x)
    if mask_zero:
        np.testing.assert_array_equal(np.asarray(got_mask), want_mask)
    else:
        assert got_mask is None and want_mask is None


def test_float_indices_are_cast(kbackend):
    x = tokens(3, 4).astype('float32')
    layer, weights = built(kl.Embedding(7, 2), x.shape)
    np.testing.assert_array_equal(layer(x), keras_output('Embedding', dict(input_dim=7,
                                                                           output_dim=2),
                                                         x.astype('int32'), weights))


def test_input_length_tf_keras(kbackend):
    x = tokens(2, 6)
    kwargs = dict(input_dim=7, output_dim=3, input_length=6)
    check_layer(kl.Embedding, kwargs, x, lib='tf_keras', tol=0)
    layer = kl.Embedding(**kwargs)
    assert layer.get_config()['batch_input_shape'] == (None, 6)
    assert layer.compute_output_shape((None, None)) == keras_output_shape(
        'Embedding', kwargs, (None, None), lib='tf_keras')


def test_keras1_embedding():
    # As Keras 1.2.2 wrote it (dl4j embedding_lstm_theano_1).
    config = {"name": "embedding_1", "trainable": True, "batch_input_shape": [None, 10],
              "input_dtype": "int32", "input_dim": 4, "output_dim": 5, "init": "uniform",
              "input_length": 10, "mask_zero": False, "activity_regularizer": None,
              "W_regularizer": None, "W_constraint": None, "dropout": 0.0}
    layer = deserialize_layer({'class_name': 'Embedding', 'config': config})
    written = layer.get_config()
    assert written['output_dim'] == 5 and written['input_length'] == 10
    assert written['dtype'] == 'float32'  # the int32 was the input's dtype
    assert written['embeddings_initializer']['class_name'] == 'RandomUniform'
    assert not {'init', 'W_regularizer', 'dropout', 'input_dtype'} & set(written)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        kl.Embedding(4, 5, dropout=0.2)
    assert any('dropout' in str(w.message) for w in caught)
    with pytest.raises(ConfigError, match='input_dim'):
        kl.Embedding(0, 3)


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
def test_configs_exchange_with_keras(lib):
    check_config_exchange('Embedding', (5, 3), lib)
