"""The model inspection API against tf_keras (Keras 2.21) for the same architectures:
single-input, multi-input/multi-output, a shared layer, a nested model called twice.

Compared exactly: layer order, ``layers_by_depth`` names per depth (tf_keras's
``_map_graph_network``), input/output names and shapes, parameter counts (total,
trainable, non-trainable), weight shapes in order, and the graph part of
``get_config`` (layer names, classes, inbound nodes, input and output layers).
Predictions on the same weights: ``assert_matches(..., 1e-5)`` (scaled max error).
"""
import json

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.errors import ConfigError, ShapeError
from kzoo.models import Container, Model, model_from_config

tf_keras = pytest.importorskip('tf_keras')
pytestmark = pytest.mark.oracle


def build(L, Input, Model, which):
    """One architecture, written once for kzoo and for tf_keras (same layer names)."""
    if which == 'single':
        x = Input(shape=(8,), name='x')
        h = L.Dense(16, activation='relu', name='h')(x)
        h = L.Dropout(0.5, name='drop')(h)
        return Model(x, L.Dense(4, activation='softmax', name='out')(h), name='single')
    if which == 'multi':
        a, b = Input(shape=(5,), name='a'), Input(shape=(3,), name='b')
        ha, hb = L.Dense(6, name='ha')(a), L.Dense(6, name='hb')(b)
        o1 = L.Dense(2, name='o1')(L.Concatenate(name='cat')([ha, hb]))
        o2 = L.Dense(1, activation='sigmoid', name='o2')(L.Add(name='add')([ha, hb]))
        return Model([a, b], [o1, o2], name='multi')
    if which == 'shared':
        x1, x2 = Input(shape=(4,), name='x1'), Input(shape=(4,), name='x2')
        shared = L.Dense(3, name='shared')
        d = L.Subtract(name='sub')([shared(x1), shared(x2)])
        return Model([x1, x2], L.Dense(1, name='out', trainable=False)(d), name='shared_m')
    if which == 'nested':
        i = Input(shape=(4,), name='inner_in')
        inner = Model(i, L.Dense(3, activation='tanh', name='inner_d')(i), name='inner')
        x, x2 = Input(shape=(4,), name='outer_in'), Input(shape=(4,), name='outer_in2')
        y = L.Add(name='sum')([inner(x), inner(x2)])
        z = L.Dense(2, name='head')(L.Dense(5, name='mid')(y))
        skip = L.Dense(2, name='skip')(x)
        return Model([x, x2], L.Maximum(name='mx')([z, skip]), name='outer')
    raise ValueError(which)


ARCHS = ['single', 'multi', 'shared', 'nested']
INPUT_SHAPES = {'single': [(8,)], 'multi': [(5,), (3,)], 'shared': [(4,), (4,)],
                'nested': [(4,), (4,)]}


@pytest.fixture(scope='module')
def oracles():
    return {w: build(tf_keras.layers, tf_keras.Input, tf_keras.Model, w) for w in ARCHS}


def kzoo_model(which):
    return build(kl, kl.Input, Model, which)


def inputs_for(which, n=7, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (n,) + s).astype('float32') for s in INPUT_SHAPES[which]]


def names(layers):
    return [layer.name for layer in layers]


def count(weights):
    return int(sum(np.prod(K.int_shape(w)) for w in weights))


@pytest.mark.parametrize('which', ARCHS)
def test_structure_matches_tf_keras(kbackend, oracles, which):
    from tf_keras.src.engine.functional import _map_graph_network
    oracle, model = oracles[which], kzoo_model(which)
    assert names(model.layers) == names(oracle.layers)
    expected = {d: names(ls) for d, ls in _map_graph_network(oracle.inputs, oracle.outputs)[3].items()}
    assert {d: names(ls) for d, ls in model.layers_by_depth.items()} == expected
    assert model.input_names == oracle.input_names
    assert model.output_names == oracle.output_names
    assert names(model.input_layers) == names(l for l in oracle._input_layers)
    assert names(model.output_layers) == names(l for l in oracle._output_layers)
    assert model.input_shape == oracle.input_shape
    assert model.output_shape == oracle.output_shape
    assert [tuple(x.shape) for x in model.inputs] == [tuple(x.shape) for x in oracle.inputs]
    assert [tuple(x.shape) for x in model.outputs] == [tuple(x.shape) for x in oracle.outputs]
    assert model.count_params() == oracle.count_params()
    assert count(model.trainable_weights) == count(oracle.trainable_weights)
    assert count(model.non_trainable_weights) == count(oracle.non_trainable_weights)
    assert [K.int_shape(w) for w in model.weights] == [tuple(w.shape) for w in oracle.weights]
    for layer in model.layers:
        assert layer.count_params() == oracle.get_layer(layer.name).count_params()


@pytest.mark.parametrize('which', ARCHS)
def test_predictions_match_tf_keras_on_the_same_weights(kbackend, oracles, which):
    oracle, model = oracles[which], kzoo_model(which)
    model.set_weights(oracle.get_weights())
    xs = inputs_for(which)
    expected = oracle.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    got = model.predict(xs if len(xs) > 1 else xs[0], batch_size=3)
    for g, e in zip(*(v if isinstance(v, list) else [v] for v in (got, expected))):
        assert_matches(g, e)


@pytest.mark.parametrize('which', ARCHS)
def test_config_graph_matches_tf_keras_and_round_trips(kbackend, oracles, which):
    oracle, model = oracles[which], kzoo_model(which)
    weights = seeded_weights([K.int_shape(w) for w in model.weights], seed=4)
    model.set_weights(weights)
    config = json.loads(json.dumps(model.get_config()))
    expected = json.loads(json.dumps(oracle.get_config()))
    graph = lambda c: [(l['name'], l['inbound_nodes']) for l in c['layers']]  # noqa: E731
    assert graph(config) == graph(expected)
    assert config['input_layers'] == expected['input_layers']
    assert config['output_layers'] == expected['output_layers']

    clone = Model.from_config(config)
    assert json.loads(json.dumps(clone.get_config())) == config
    clone.set_weights(weights)
    xs = inputs_for(which)
    for a, b in zip(*(v if isinstance(v, list) else [v]
                      for v in (model.predict(xs), clone.predict(xs)))):
        assert_matches(a, b, 0.)

    # and tf_keras reads kzoo's config and computes the same thing
    keras_clone = tf_keras.Model.from_config(config)
    keras_clone.set_weights(weights)
    expected = keras_clone.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    for a, b in zip(*(v if isinstance(v, list) else [v] for v in (model.predict(xs), expected))):
        assert_matches(a, b)


@pytest.mark.parametrize('which', ARCHS)
def test_summary_lines(oracles, which):
    model, oracle = kzoo_model(which), oracles[which]
    lines = []
    model.summary(print_fn=lines.append)
    text = '\n'.join(lines)
    assert lines[0] == 'Model: "%s"' % model.name
    assert 'Layer (type)' in lines[2] and 'Output Shape' in lines[2] and 'Param #' in lines[2]
    assert ('Connected to' in lines[2]) == (which != 'single')
    for layer in model.layers:
        row = [l for l in lines if l.startswith('%s (%s)' % (layer.name, type(layer).__name__))]
        assert len(row) == 1, layer.name
        assert row[0].split()[-1 if which == 'single' else -2].replace(',', '') in (
            str(layer.count_params()),) or str(layer.count_params()) in row[0]
    trainable = count(oracle.trainable_weights)
    assert 'Total params: {:,}'.format(oracle.count_params()) in text
    assert 'Trainable params: {:,}'.format(trainable) in text
    assert 'Non-trainable params: {:,}'.format(oracle.count_params() - trainable) in text
    if which == 'shared':
        assert any(l.strip() == 'shared[1][0]' for l in lines)  # the second call's node


def test_summary_of_a_chain_with_a_shared_layer_is_not_sequential_like():
    # Keras 2 prints the "Connected to" column once a layer is called twice.
    x = kl.Input(shape=(3,))
    d = kl.Dense(3)
    model = Model(x, d(d(x)))
    lines = []
    model.summary(print_fn=lines.append)
    assert 'Connected to' in lines[2]


# ---- the API, piece by piece ---------------------------------------------------------------

def test_input_tensors():
    x = kl.Input(shape=(3, 4), name='img', dtype='int32')
    assert tuple(x.shape) == (None, 3, 4) and x.get_shape().as_list() == [None, 3, 4]
    assert x.dtype == 'int32'
    layer = x._keras_history[0]
    assert layer.name == 'img' and isinstance(layer, kl.InputLayer)
    y = kl.Input(batch_shape=(2, 5))
    assert tuple(y.shape) == (2, 5)
    assert tuple(kl.Input(shape=7).shape) == (None, 7)
    with pytest.raises(ConfigError, match='shape'):
        kl.Input()


def test_auto_names_count_per_class_from_one():
    from kzoo.engine import clear_session
    clear_session()
    assert [kl.Dense(1).name for _ in range(3)] == ['dense_1', 'dense_2', 'dense_3']
    assert kl.Dropout(0.1).name == 'dropout_1'
    assert kl.Input(shape=(2,))._keras_history[0].name == 'input_1'
    assert kl.RepeatVector(2).name == 'repeat_vector_1'
    clear_session()
    assert kl.Dense(1).name == 'dense_1'


def test_layer_input_output_and_shapes():
    x = kl.Input(shape=(3,))
    dense = kl.Dense(2)
    y = dense(x)
    assert dense.input is x and dense.output is y
    assert dense.input_shape == (None, 3) and dense.output_shape == (None, 2)
    assert dense.get_input_at(0) is x and dense.get_output_shape_at(0) == (None, 2)
    dense(kl.Input(shape=(3,)))
    with pytest.raises(ConfigError, match='multiple inbound nodes'):
        dense.input
    assert dense.input_shape == (None, 3)  # the same at every node: Keras gives it
    with pytest.raises(ConfigError, match='never been called'):
        kl.Dense(2).output
    assert kl.Dense(2, input_shape=(5,)).input_shape == (None, 5)


def test_trainable_flags_and_weight_lists(kbackend):
    x = kl.Input(shape=(3,))
    a, b = kl.Dense(4, name='a'), kl.Dense(2, name='b', trainable=False)
    model = Model(x, b(a(x)))
    assert [w for w in model.trainable_weights] == [a.kernel, a.bias]
    assert [w for w in model.non_trainable_weights] == [b.kernel, b.bias]
    assert model.weights == [a.kernel, a.bias, b.kernel, b.bias]
    assert count(model.trainable_weights) == 16 and model.count_params() == 26
    a.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    a.trainable, model.trainable = True, False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4


def test_get_set_weights_are_shape_checked(kbackend):
    x = kl.Input(shape=(3,))
    model = Model(x, kl.Dense(2, name='d_check')(kl.Dense(4, name='first')(x)))
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4, 2), (2,)]
    model.set_weights([w + 1 for w in weights])
    assert_matches(model.get_weights()[0], weights[0] + 1, 0.)
    bad = list(weights)
    bad[2] = np.zeros((2, 4))
    with pytest.raises(ShapeError, match=r"d_check.*\(4, 2\).*\(2, 4\)"):
        model.set_weights(bad)
    with pytest.raises(ConfigError, match='expects 4 weight arrays'):
        model.set_weights(weights[:3])


def test_model_spellings_and_container():
    x = kl.Input(shape=(3,))
    y = kl.Dense(2)(x)
    assert Model(input=x, output=y).outputs == [y]
    assert Model(inputs=x, outputs=y, name='named').name == 'named'
    assert Model(x, y).inputs == [x]
    net = Container([x], [y])
    assert net.name.startswith('container_') and net.layers[0].name == x._keras_history[0].name
    assert net.get_config()['input_layers'] == [[x._keras_history[0].name, 0, 0]]


def test_get_layer_by_name_and_index():
    model = kzoo_model('multi')
    assert model.get_layer('cat').name == 'cat'
    assert model.get_layer(index=0).name == 'a'
    assert model.get_layer(index=-1).name == 'o2'
    with pytest.raises(ConfigError, match="no layer named 'nope'.*ha"):
        model.get_layer('nope')
    with pytest.raises(ConfigError, match='out of range'):
        model.get_layer(index=40)


def test_graph_errors_are_clear():
    x, other = kl.Input(shape=(3,), name='x_in'), kl.Input(shape=(3,), name='other_in')
    y = kl.Add()([x, other])
    with pytest.raises(ConfigError, match='disconnected|not connected'):
        Model(x, y)
    with pytest.raises(ConfigError, match='symbolic'):
        Model(x, np.zeros(3))
    d = kl.Dense(3, name='dup')
    z = kl.Dense(3, name='dup')(d(x))
    with pytest.raises(ConfigError, match="'dup'"):
        Model(x, z)


def test_nested_model_as_a_layer(kbackend):
    model = kzoo_model('nested')
    inner = model.get_layer('inner')
    assert isinstance(inner, Model) and len(inner.inbound_nodes) == 2
    x = inputs_for('nested')[0]
    # a model called eagerly on arrays computes like predict()
    assert_matches(inner(x), inner.predict(x), 0.)
    # and once more inside a third model: a new node, the same weights
    new_in = kl.Input(shape=(4,))
    outer2 = Model(new_in, inner(new_in))
    assert len(inner.inbound_nodes) == 3 and outer2.count_params() == inner.count_params()
    assert_matches(outer2.predict(x), inner.predict(x), 0.)


def test_nested_models_round_trip_through_deserialize_layer(kbackend):
    model = kzoo_model('nested')
    config = json.loads(json.dumps({'class_name': 'Model', 'config': model.get_config()}))
    clone = deserialize_layer(config)
    inner = clone.get_layer('inner')
    assert isinstance(inner, Model) and names(inner.layers) == ['inner_in', 'inner_d']
    assert clone.count_params() == model.count_params()


def test_predict_accepts_lists_dicts_and_batches(kbackend):
    model = kzoo_model('multi')
    xs = inputs_for('multi', n=10)
    out = model.predict(xs, batch_size=4)
    assert [o.shape for o in out] == [(10, 2), (10, 1)]
    by_dict = model.predict({'a': xs[0], 'b': xs[1]})
    for a, b in zip(out, by_dict):
        assert_matches(a, b, 1e-6)
    one = model.predict([x[:1] for x in xs])
    assert_matches(one[0], out[0][:1], 1e-6)
    assert isinstance(out[0], np.ndarray) and out[0].dtype == np.float32
    with pytest.raises(ShapeError, match="no data for input.*'b'"):
        model.predict({'a': xs[0]})
    with pytest.raises(ShapeError, match=r"input 'a' expects arrays of shape \(None, 5\)"):
        model.predict([xs[1], xs[1]])
    with pytest.raises(ShapeError, match='expects 2 input arrays'):
        model.predict(xs[0])


def test_model_from_config_reads_keras1_input_output_keys():
    x = kl.Input(shape=(3,), name='k1_in')
    model = Model(x, kl.Dense(2, name='k1_d')(x))
    config = model.get_config()
    assert model_from_config({'class_name': 'Model', 'config': config}).input_names == ['k1_in']
