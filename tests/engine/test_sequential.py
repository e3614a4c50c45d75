"""``Sequential`` against tf_keras's Sequential on the same weights: add, pop, layers,
input_shape/input_dim on the first layer, deferred building, nesting, configs.

Predictions: ``assert_matches(..., 1e-5)``; parameter counts and shapes exactly.
"""
import json

import numpy as np
import pytest

from helpers import assert_matches
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.errors import ConfigError
from kzoo.models import Model, Sequential, model_from_config

tf_keras = pytest.importorskip('tf_keras')
pytestmark = pytest.mark.oracle


def x_data(*shape, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype('float32')


def oracle_mlp():
    return tf_keras.Sequential([tf_keras.layers.Dense(5, activation='relu', input_shape=(3,)),
                                tf_keras.layers.Dropout(0.3),
                                tf_keras.layers.Dense(2, activation='softmax')])


def kzoo_mlp(first_kwargs):
    return Sequential([kl.Dense(5, activation='relu', **first_kwargs), kl.Dropout(0.3),
                       kl.Dense(2, activation='softmax')])


@pytest.mark.parametrize('first_kwargs', [{'input_shape': (3,)}, {'input_dim': 3},
                                          {'batch_input_shape': (None, 3)}])
def test_sequential_matches_tf_keras(kbackend, first_kwargs):
    oracle, model = oracle_mlp(), kzoo_mlp(first_kwargs)
    assert [type(l).__name__ for l in model.layers] == ['Dense', 'Dropout', 'Dense']
    assert model.input_shape == oracle.input_shape == (None, 3)
    assert model.output_shape == oracle.output_shape
    assert model.count_params() == oracle.count_params()
    assert [K.int_shape(w) for w in model.weights] == [tuple(w.shape) for w in oracle.weights]
    model.set_weights(oracle.get_weights())
    x = x_data(9, 3)
    assert_matches(model.predict(x, batch_size=4), oracle.predict(x, verbose=0))
    for a, b in zip(model.layers, oracle.layers):
        assert a.count_params() == b.count_params()
        assert a.output_shape == b.output_shape


def test_add_pop_and_layers(kbackend):
    model = Sequential()
    model.add(kl.Dense(4, input_dim=3, name='first'))
    model.add(kl.Dense(6, name='second'))
    assert model.output_shape == (None, 6)
    model.add(kl.Dense(1, name='third'))
    assert [l.name for l in model.layers] == ['first', 'second', 'third']
    assert model.output_shape == (None, 1)
    model.pop()
    assert [l.name for l in model.layers] == ['first', 'second']
    assert model.output_shape == (None, 6) and model.count_params() == 16 + 30
    model.add(kl.Dense(2, name='again'))
    assert model.predict(x_data(2, 3)).shape == (2, 2)
    # re-connecting after add/pop does not pile up nodes on the layers
    assert len(model.get_layer('first').inbound_nodes) == 1
    with pytest.raises(ConfigError, match="already has a layer named 'again'"):
        model.add(kl.Dense(2, name='again'))
    with pytest.raises(ConfigError, match='takes a layer'):
        model.add('dense')
    model.pop(), model.pop(), model.pop()
    with pytest.raises(ConfigError, match='no layers to pop'):
        model.pop()


def test_input_layer_first_and_deferred_build(kbackend):
    model = Sequential([kl.InputLayer(input_shape=(4,)), kl.Dense(2)])
    assert [type(l).__name__ for l in model.layers] == ['Dense']  # as Keras: no InputLayer
    assert model.input_shape == (None, 4)
    deferred = Sequential([kl.Dense(3), kl.Dense(1)])
    assert deferred.inputs == []
    assert deferred.predict(x_data(5, 7)).shape == (5, 1)
    assert deferred.input_shape == (None, 7) and deferred.count_params() == 24 + 4
    other = Sequential([kl.Dense(3)])
    other.build((None, 2))
    assert other.output_shape == (None, 3)


def test_sequential_inside_models(kbackend):
    inner = Sequential([kl.Dense(4, input_dim=3, activation='tanh'), kl.Dense(2)], name='inner')
    outer = Sequential([inner, kl.Dense(1)])
    assert outer.count_params() == inner.count_params() + 3
    x = x_data(4, 3)
    assert_matches(outer.predict(x), outer.layers[1](inner.predict(x)), 1e-6)
    inp = kl.Input(shape=(3,))
    functional = Model(inp, inner(inp))
    assert_matches(functional.predict(x), inner.predict(x), 0.)

    oracle_inner = tf_keras.Sequential([tf_keras.layers.Dense(4, activation='tanh', input_shape=(3,)),
                                        tf_keras.layers.Dense(2)])
    oracle = tf_keras.Sequential([oracle_inner, tf_keras.layers.Dense(1)])
    assert outer.count_params() == oracle.count_params()
    outer.set_weights(oracle.get_weights())
    assert_matches(outer.predict(x), oracle.predict(x, verbose=0))


def test_config_round_trip_and_keras_layouts(kbackend):
    model = kzoo_mlp({'input_dim': 3})
    config = json.loads(json.dumps({'class_name': 'Sequential', 'config': model.get_config()}))
    assert config['config']['layers'][0]['config']['batch_input_shape'] == [None, 3]
    clone = model_from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config['config']
    clone.set_weights(model.get_weights())
    x = x_data(3, 3)
    assert_matches(clone.predict(x), model.predict(x), 0.)
    # Keras 1 and Keras 2.0/2.1 wrote the bare list of layers
    listed = Sequential.from_config(config['config']['layers'])
    assert listed.count_params() == model.count_params()
    # tf_keras reads kzoo's Sequential config and computes the same
    oracle = tf_keras.Sequential.from_config(config['config'])
    oracle.set_weights(model.get_weights())
    assert_matches(model.predict(x), oracle.predict(x, verbose=0))
    with pytest.raises(ConfigError, match='Sequential config'):
        Sequential.from_config({'nope': 1})


def test_sequential_summary(kbackend):
    model = kzoo_mlp({'input_dim': 3})
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == 'Model: "%s"' % model.name
    assert 'Connected to' not in lines[2]
    assert sum(1 for l in lines if '(Dense)' in l) == 2
    assert 'Total params: {:,}'.format(oracle_mlp().count_params()) in lines
