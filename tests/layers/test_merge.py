"""Merge layers against Keras 3 (masks of Concatenate against tf_keras, whose Keras 2
rule kzoo follows), Keras 1 ``merge``/``Merge`` against the Keras 2 layers that
replaced them, on every kzoo backend.

Tolerance: ``assert_matches(..., 1e-5)`` (largest difference scaled by
``max(1, max|expected|)``, float32); masks and shapes exactly.
"""
import json
import os

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.errors import ConfigError, ShapeError, UnsafeInputError
from kzoo.models import Model, Sequential, model_from_config
from kzoo.utils.generic_utils import CustomObjectScope
from kzoo.utils.safe_mode import safe_mode_scope

keras = pytest.importorskip('keras')
pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(99)
CORPUS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'corpus', 'keras')


def data(*shape):
    return RNG.uniform(-2., 2., shape).astype('float32')


def keras_np(x):
    return keras.ops.convert_to_numpy(x)


def check(make_kzoo, make_keras, inputs, tol=1e-5):
    assert_matches(make_kzoo()(inputs), keras_np(make_keras()(inputs)), tol)
    kz = make_kzoo()([kl.Input(shape=x.shape[1:]) for x in inputs])
    ke = make_keras()([keras.Input(shape=x.shape[1:]) for x in inputs])
    assert tuple(kz.shape) == tuple(ke.shape)


def roundtrip(layer):
    config = json.loads(json.dumps({'class_name': type(layer).__name__,
                                    'config': layer.get_config()}))
    clone = deserialize_layer(config)
    assert json.loads(json.dumps(clone.get_config())) == config['config']
    return clone


ELEMENTWISE = ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum']
SHAPE_SETS = {
    'two_2d': [(3, 4), (3, 4)],
    'three_3d': [(2, 3, 4)] * 3,
    'broadcast_rank': [(2, 4), (2, 3, 4)],
    'broadcast_one': [(2, 1, 4), (2, 3, 4)],
}


@pytest.mark.parametrize('name', ELEMENTWISE)
@pytest.mark.parametrize('shapes', sorted(SHAPE_SETS))
def test_elementwise_merge_matches_keras(kbackend, name, shapes):
    shapes = SHAPE_SETS[shapes]
    if name == 'Subtract' and len(shapes) != 2:
        pytest.skip('Subtract takes two inputs')
    inputs = [data(*s) for s in shapes]
    check(lambda: getattr(kl, name)(), lambda: getattr(keras.layers, name)(), inputs)
    roundtrip(getattr(kl, name)())


def test_elementwise_errors(kbackend):
    with pytest.raises(ShapeError, match='add_bad'):
        kl.Add(name='add_bad')([kl.Input(shape=(3,)), kl.Input(shape=(4,))])
    with pytest.raises(ShapeError, match='exactly 2'):
        kl.Subtract()([kl.Input(shape=(3,))] * 3)


@pytest.mark.parametrize('shapes,axis', [([(2, 3), (2, 5)], -1), ([(2, 3, 4), (2, 5, 4)], 1),
                                         ([(2, 3, 4), (2, 3, 2), (2, 3, 1)], 2),
                                         ([(2, 3, 4, 2), (2, 3, 1, 2)], -2)])
def test_concatenate_matches_keras(kbackend, shapes, axis):
    inputs = [data(*s) for s in shapes]
    check(lambda: kl.Concatenate(axis=axis), lambda: keras.layers.Concatenate(axis=axis), inputs)
    assert roundtrip(kl.Concatenate(axis=axis)).axis == axis


def test_concatenate_shape_errors_and_unknown_sizes(kbackend):
    with pytest.raises(ShapeError, match='concat_bad'):
        kl.Concatenate(axis=-1, name='concat_bad')([kl.Input(shape=(3, 4)),
                                                    kl.Input(shape=(5, 4))])
    y = kl.Concatenate(axis=1)([kl.Input(shape=(None, 4)), kl.Input(shape=(2, 4))])
    assert tuple(y.shape) == (None, None, 4)


@pytest.mark.parametrize('shapes,axes,normalize', [
    ([(3, 4), (3, 4)], 1, False), ([(3, 4), (3, 4)], -1, True),
    ([(2, 3, 4), (2, 5, 4)], (2, 2), False), ([(2, 3, 4), (2, 4, 5)], (2, 1), False),
    ([(2, 3, 4), (2, 3, 5)], 1, True), ([(2, 4), (2, 4, 3)], (1, 1), False)])
def test_dot_matches_keras(kbackend, shapes, axes, normalize):
    inputs = [data(*s) for s in shapes]
    check(lambda: kl.Dot(axes, normalize=normalize),
          lambda: keras.layers.Dot(axes, normalize=normalize), inputs)
    clone = roundtrip(kl.Dot(axes, normalize=normalize))
    assert (clone.axes, clone.normalize) == (axes, normalize)


def test_functional_forms(kbackend):
    a, b = data(2, 3), data(2, 3)
    assert_matches(kl.add([a, b]), keras_np(keras.layers.add([a, b])))
    assert_matches(kl.subtract([a, b]), keras_np(keras.layers.subtract([a, b])))
    assert_matches(kl.multiply([a, b]), keras_np(keras.layers.multiply([a, b])))
    assert_matches(kl.average([a, b]), keras_np(keras.layers.average([a, b])))
    assert_matches(kl.maximum([a, b]), keras_np(keras.layers.maximum([a, b])))
    assert_matches(kl.minimum([a, b]), keras_np(keras.layers.minimum([a, b])))
    assert_matches(kl.concatenate([a, b], axis=-1), keras_np(keras.layers.concatenate([a, b])))
    assert_matches(kl.dot([a, b], axes=1), keras_np(keras.layers.dot([a, b], axes=1)))


# ---- masks -------------------------------------------------------------------------------

def _masks():
    x1, x2 = data(2, 4, 3), data(2, 4, 3)
    m1 = np.array([[True, True, False, True], [False, True, True, True]])
    m2 = np.array([[True, False, True, True], [True, True, True, False]])
    return x1, x2, m1, m2


def _kz_mask(layer, xs, ms):
    xs = [K.convert_to_tensor(x) for x in xs]
    ms = [None if m is None else K.convert_to_tensor(m) for m in ms]
    out = layer.compute_mask(xs, ms)
    return None if out is None else K.to_numpy(out)


def _tf_keras_mask(layer, xs, ms):
    import tensorflow as tf
    out = layer.compute_mask([tf.constant(x) for x in xs],
                             [None if m is None else tf.constant(m) for m in ms])
    return None if out is None else out.numpy()


@pytest.mark.parametrize('name', ['Add', 'Subtract', 'Multiply', 'Average', 'Maximum',
                                  'Minimum'])
def test_elementwise_mask_matches_keras2(kbackend, name):
    # Keras 2 keeps a step when every given mask keeps it; Keras 3 changed this to
    # "any, and no mask if one input has none". kzoo follows Keras 2 (tf_keras), the
    # meaning of the files kzoo reads.
    tf_keras = pytest.importorskip('tf_keras')
    x1, x2, m1, m2 = _masks()
    for ms in ([m1, m2], [m1, None], [None, m2]):
        expected = _tf_keras_mask(getattr(tf_keras.layers, name)(), [x1, x2], ms)
        np.testing.assert_array_equal(_kz_mask(getattr(kl, name)(), [x1, x2], ms), expected)
    assert _kz_mask(getattr(kl, name)(), [x1, x2], [None, None]) is None


@pytest.mark.parametrize('axis', [-1, 1])
def test_concatenate_mask_matches_keras(kbackend, axis):
    tf_keras = pytest.importorskip('tf_keras')
    x1, x2, m1, m2 = _masks()
    # The Keras 2 rule (tf_keras: "all" over the concatenated masks); Keras 3 uses
    # "any", which agrees when concatenating along time (axis 1). There tf_keras fails
    # when one input has no mask (it does not broadcast the mask); Keras 3 is the oracle.
    for ms in ([m1, m2], [m1, None], [None, m2]):
        if axis == 1:
            expected = keras_np(keras.layers.Concatenate(axis=1).compute_mask([x1, x2], ms))
        else:
            expected = _tf_keras_mask(tf_keras.layers.Concatenate(axis=axis), [x1, x2], ms)
        np.testing.assert_array_equal(_kz_mask(kl.Concatenate(axis=axis), [x1, x2], ms),
                                      expected)
    if axis == 1:
        np.testing.assert_array_equal(
            _kz_mask(kl.Concatenate(axis=1), [x1, x2], [m1, m2]),
            _tf_keras_mask(tf_keras.layers.Concatenate(axis=1), [x1, x2], [m1, m2]))


def test_dot_has_no_mask(kbackend):
    x1, x2, m1, m2 = _masks()
    assert _kz_mask(kl.Dot(2), [x1, x2], [m1, m2]) is None


def test_masks_flow_through_a_graph(kbackend):
    a, b = kl.Input(shape=(4, 3)), kl.Input(shape=(4, 3))
    merged = kl.Add()([kl.Masking()(a), kl.Masking()(b)])
    model = Model([a, b], merged)
    x1, x2, m1, m2 = _masks()
    x1[~m1], x2[~m2] = 0., 0.
    _, masks = model._run_graph([K.convert_to_tensor(x1), K.convert_to_tensor(x2)])
    tf_keras = pytest.importorskip('tf_keras')
    import tensorflow as tf
    oracle_masks = [tf_keras.layers.Masking().compute_mask(tf.constant(x)).numpy()
                    for x in (x1, x2)]
    expected = _tf_keras_mask(tf_keras.layers.Add(), [x1, x2], oracle_masks)
    np.testing.assert_array_equal(K.to_numpy(masks[0]), expected)


# ---- Keras 1: merge() and Merge -------------------------------------------------------------

KERAS1_MODES = {
    'sum': lambda kw: keras.layers.Add(),
    'mul': lambda kw: keras.layers.Multiply(),
    'ave': lambda kw: keras.layers.Average(),
    'max': lambda kw: keras.layers.Maximum(),
    'concat': lambda kw: keras.layers.Concatenate(axis=kw.get('concat_axis', -1)),
    'dot': lambda kw: keras.layers.Dot(axes=kw.get('dot_axes', -1)),
    # Keras 1 cos: x.y / max(|x||y|, eps), the normalized dot product
    'cos': lambda kw: keras.layers.Dot(axes=kw.get('dot_axes', -1), normalize=True),
}


@pytest.mark.parametrize('mode,kwargs,shapes', [
    ('sum', {}, [(3, 4)] * 3), ('mul', {}, [(3, 4)] * 2), ('ave', {}, [(2, 3, 4)] * 2),
    ('max', {}, [(3, 4)] * 2), ('concat', {}, [(3, 4), (3, 2)]),
    ('concat', {'concat_axis': 1}, [(2, 3, 4), (2, 1, 4)]), ('dot', {'dot_axes': 1}, [(3, 4)] * 2),
    ('dot', {'dot_axes': [2, 2]}, [(2, 3, 4), (2, 5, 4)]), ('cos', {}, [(3, 4)] * 2),
    ('cos', {'dot_axes': 1}, [(5, 6)] * 2)])
def test_keras1_merge_modes_match_their_keras2_layers(kbackend, mode, kwargs, shapes):
    inputs = [data(*s) for s in shapes]
    expected = keras_np(KERAS1_MODES[mode](kwargs)(inputs))
    assert_matches(kl.merge(inputs, mode=mode, **kwargs), expected)
    symbolic = kl.merge([kl.Input(shape=s[1:]) for s in shapes], mode=mode, **kwargs)
    oracle = KERAS1_MODES[mode](kwargs)([keras.Input(shape=s[1:]) for s in shapes])
    assert tuple(symbolic.shape) == tuple(oracle.shape)
    layer = kl.Merge(mode=mode, **kwargs)
    layer(inputs)
    roundtrip(layer)


def test_keras1_cos_output_shape_is_batch_by_one(kbackend):
    y = kl.merge([kl.Input(shape=(8,)), kl.Input(shape=(8,))], mode='cos', name='cosine')
    assert tuple(y.shape) == (None, 1)
    assert y._keras_history[0].name == 'cosine'
    assert kl.merge([data(2, 8), data(2, 8)], mode='cos').shape == (2, 1)


def weighted(xs, w=1.):
    return xs[0] * w + xs[1]


def test_keras1_merge_with_a_function_mode(kbackend):
    a, b = data(2, 3), data(2, 3)
    out = kl.merge([a, b], mode=weighted, arguments={'w': 2.}, output_shape=(3,))
    assert_matches(out, keras_np(keras.layers.Lambda(lambda xs: xs[0] * 2. + xs[1])([a, b])))
    y = kl.merge([kl.Input(shape=(3,)), kl.Input(shape=(3,))], mode=weighted)
    assert tuple(y.shape) == (None, 3)  # inferred by running the function
    layer = y._keras_history[0]
    config = json.loads(json.dumps(layer.get_config()))
    assert (config['mode'], config['mode_type']) == ('weighted', 'function')
    with CustomObjectScope({'weighted': weighted}):
        assert kl.Merge.from_config(config).mode is weighted
    lam = kl.Merge(mode=lambda xs: xs[0] - xs[1], name='lam_merge')
    config = json.loads(json.dumps(lam.get_config()))
    with pytest.raises(UnsafeInputError, match='lam_merge'):
        kl.Merge.from_config(config)
    with safe_mode_scope(False):
        restored = kl.Merge.from_config(config)
    assert_matches(restored([a, b]), a - b)


def test_keras1_merge_unknown_mode():
    with pytest.raises(ConfigError, match='unknown mode'):
        kl.Merge(mode='median')


def _keras1_critic_config():
    with open(os.path.join(CORPUS, 'ddpgtorcs__criticmodel.json')) as f:
        config = json.load(f)
    return json.loads(config) if isinstance(config, str) else config


@pytest.mark.skipif(not os.path.exists(os.path.join(CORPUS, 'ddpgtorcs__criticmodel.json')),
                    reason='corpus not available')
def test_keras1_functional_config_with_merge_matches_keras(kbackend):
    # A real Keras 1.1 config (two inputs, Merge mode 'sum'), rebuilt by kzoo and
    # compared with the same architecture written with Keras 3's Add.
    config = _keras1_critic_config()
    model = model_from_config(config)
    assert model.input_names == ['input_3', 'action2']
    merge = model.get_layer('merge_3')
    assert isinstance(merge, kl.Merge) and merge.mode == 'sum'
    weights = seeded_weights([tuple(K.int_shape(w)) for w in model.weights], seed=5, scale=0.1)
    model.set_weights(weights)

    s, a = keras.Input(shape=(29,)), keras.Input(shape=(3,))
    h = keras.layers.Dense(300, activation='relu', name='dense_11')(s)
    h = keras.layers.Dense(600, name='dense_13')(h)
    a2 = keras.layers.Dense(600, name='dense_12')(a)
    h = keras.layers.Add()([h, a2])
    h = keras.layers.Dense(600, activation='relu', name='dense_14')(h)
    out = keras.layers.Dense(3, name='dense_15')(h)
    oracle = keras.Model([s, a], out)
    by_name = dict(zip([l.name for l in model.layers if l.weights],
                       [w for l in model.layers if l.weights for w in [l.get_weights()]]))
    for layer in oracle.layers:
        if layer.weights:
            layer.set_weights(by_name[layer.name])
    xs = [data(5, 29), data(5, 3)]
    assert_matches(model.predict(xs), keras_np(oracle(xs)))
    assert model.count_params() == oracle.count_params()


def test_merge_in_functional_keras1_config_handwritten(kbackend):
    config = {'class_name': 'Model', 'config': {
        'name': 'm', 'input_layers': [['a', 0, 0], ['b', 0, 0]],
        'output_layers': [['merge_cos', 0, 0]],
        'layers': [
            {'class_name': 'InputLayer', 'name': 'a', 'inbound_nodes': [],
             'config': {'batch_input_shape': [None, 4], 'input_dtype': 'float32',
                        'sparse': False, 'name': 'a'}},
            {'class_name': 'InputLayer', 'name': 'b', 'inbound_nodes': [],
             'config': {'batch_input_shape': [None, 4], 'input_dtype': 'float32',
                        'sparse': False, 'name': 'b'}},
            {'class_name': 'Merge', 'name': 'merge_cos',
             'inbound_nodes': [[['a', 0, 0], ['b', 0, 0]]],
             'config': {'name': 'merge_cos', 'mode': 'cos', 'mode_type': 'raw',
                        'concat_axis': -1, 'dot_axes': [[1], [1]], 'output_shape': None,
                        'output_shape_type': 'raw', 'output_mask': None,
                        'output_mask_type': 'raw', 'arguments': {}}}]}}
    model = model_from_config(config)
    x = [data(3, 4), data(3, 4)]
    expected = keras_np(keras.layers.Dot(axes=1, normalize=True)(x))
    assert_matches(model.predict(x), expected)
    assert model.output_shape == (None, 1)


def test_sequential_with_merged_sequential_branches(kbackend):
    left = Sequential([kl.Dense(4, input_dim=3, activation='relu')])
    right = Sequential([kl.Dense(5, input_dim=2)])
    model = Sequential()
    model.add(kl.Merge([left, right], mode='concat'))
    model.add(kl.Dense(2, activation='softmax'))
    assert len(model.inputs) == 2 and model.output_shape == (None, 2)
    # Keras 1 saved the weights of these layers in this order
    assert model.flattened_layers == left.layers + right.layers + model.layers[1:]
    assert model.count_params() == 3 * 4 + 4 + 2 * 5 + 5 + 9 * 2 + 2
    weights = seeded_weights([tuple(K.int_shape(w)) for w in model.weights], seed=3)
    model.set_weights(weights)

    # Keras 3: the same computation as a functional model
    a, b = keras.Input(shape=(3,)), keras.Input(shape=(2,))
    l, r = keras.layers.Dense(4, activation='relu'), keras.layers.Dense(5)
    d = keras.layers.Dense(2, activation='softmax')
    oracle = keras.Model([a, b], d(keras.layers.Concatenate()([l(a), r(b)])))
    l.set_weights(weights[:2])
    r.set_weights(weights[2:4])
    d.set_weights(weights[4:])
    xs = [data(6, 3), data(6, 2)]
    expected = keras_np(oracle(xs))
    assert_matches(model.predict(xs, batch_size=4), expected)

    # Keras 1 Sequential config: the Merge carries its branches under "layers"
    config = json.loads(json.dumps({'class_name': 'Sequential', 'config': model.get_config()}))
    first = config['config']['layers'][0]
    assert first['class_name'] == 'Merge' and len(first['config']['layers']) == 2
    assert 'batch_input_shape' not in first['config']
    clone = model_from_config(config)
    clone.set_weights(weights)
    assert_matches(clone.predict(xs), expected)
    # and the bare-list layout Keras 1 wrote
    clone = Sequential.from_config(config['config']['layers'])
    clone.set_weights(weights)
    assert_matches(clone.predict(xs), expected)


def test_keras1_merge_function_given_models_returns_the_layer(kbackend):
    left = Sequential([kl.Dense(2, input_dim=3)])
    right = Sequential([kl.Dense(2, input_dim=3)])
    layer = kl.merge([left, right], mode='sum', name='joined')
    assert isinstance(layer, kl.Merge) and layer.name == 'joined'
    model = Sequential([layer])
    assert len(model.inputs) == 2 and model.output_shape == (None, 2)


def test_merge_needs_connected_branches():
    with pytest.raises(ConfigError, match='no output'):
        kl.Merge([Sequential(), Sequential()], mode='sum')
    with pytest.raises(ConfigError, match='at least 2'):
        kl.Merge([Sequential([kl.Dense(2, input_dim=2)])])


@pytest.mark.parametrize('name,kwargs', [('Add', {}), ('Subtract', {}), ('Multiply', {}),
                                         ('Average', {}), ('Maximum', {}), ('Minimum', {}),
                                         ('Concatenate', {'axis': 1}),
                                         ('Dot', {'axes': 1, 'normalize': True})])
def test_merge_layers_read_keras3_configs(kbackend, name, kwargs):
    oracle = getattr(keras.layers, name)(**kwargs)
    inputs = [data(3, 4), data(3, 4)]
    ours = deserialize_layer({'class_name': name, 'config': oracle.get_config()})
    assert ours.name == oracle.name
    assert_matches(ours(inputs), keras_np(oracle(inputs)))
