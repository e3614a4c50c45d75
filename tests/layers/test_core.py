"""Core layers and Dense against Keras 3 (tf_keras where Keras 3 changed the meaning),
on the same weights and inputs, on every kzoo backend.

Tolerance: ``assert_matches(..., 1e-5)``, the largest difference scaled by
``max(1, max|expected|)`` (float32). Output shapes of symbolic calls must equal Keras's.
"""
import json

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights
from kzoo import backend as K
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.errors import ConfigError, ShapeError, UnknownObjectError, UnsafeInputError
from kzoo.utils.generic_utils import CustomObjectScope
from kzoo.utils.safe_mode import safe_mode_scope

keras = pytest.importorskip('keras')
pytestmark = pytest.mark.oracle

RNG = np.random.default_rng(1234)


def data(*shape, low=-3., high=3.):
    return RNG.uniform(low, high, shape).astype('float32')


def keras_out(layer, inputs, **kwargs):
    return keras.ops.convert_to_numpy(layer(inputs, **kwargs))


def symbolic_shapes(make_kzoo, make_keras, inputs):
    """Output shape of a symbolic call (unknown batch) in kzoo and in Keras 3."""
    arrays = inputs if isinstance(inputs, list) else [inputs]
    kz_in = [kl.Input(shape=a.shape[1:]) for a in arrays]
    ke_in = [keras.Input(shape=a.shape[1:]) for a in arrays]
    kz = make_kzoo()(kz_in if isinstance(inputs, list) else kz_in[0])
    ke = make_keras()(ke_in if isinstance(inputs, list) else ke_in[0])
    return tuple(kz.shape), tuple(ke.shape)


def check(make_kzoo, make_keras, inputs, tol=1e-5):
    """Same output as Keras on ``inputs``; same symbolic output shape."""
    assert_matches(make_kzoo()(inputs), keras_out(make_keras(), inputs), tol)
    kz_shape, ke_shape = symbolic_shapes(make_kzoo, make_keras, inputs)
    assert kz_shape == ke_shape


def roundtrip(layer):
    """get_config -> JSON -> from_config gives the same config again."""
    config = json.loads(json.dumps({'class_name': type(layer).__name__,
                                    'config': layer.get_config()}))
    clone = deserialize_layer(config)
    assert json.loads(json.dumps(clone.get_config())) == config['config']
    return clone


# ---- Activation -------------------------------------------------------------------

KERAS3_ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax', 'softplus', 'softsign',
                      'elu', 'selu', 'exponential']


@pytest.mark.parametrize('name', KERAS3_ACTIVATIONS)
@pytest.mark.parametrize('shape', [(4, 7), (2, 3, 5)])
def test_activation_layer_matches_keras(kbackend, name, shape):
    x = data(*shape, low=-8., high=8.)
    check(lambda: kl.Activation(name), lambda: keras.layers.Activation(name), x)
    assert roundtrip(kl.Activation(name)).get_config()['activation'] == name


def test_hard_sigmoid_is_the_keras2_one(kbackend):
    # Keras 3 redefined hard_sigmoid; files of the Keras 1/2 era mean clip(0.2 x + 0.5).
    tf_keras = pytest.importorskip('tf_keras')
    x = data(5, 9, low=-4., high=4.)
    expected = tf_keras.activations.hard_sigmoid(tf_keras.backend.constant(x)).numpy()
    assert_matches(kl.Activation('hard_sigmoid')(x), expected)


def test_unknown_activation_is_a_clear_error():
    with pytest.raises(UnknownObjectError, match='no_such_act'):
        kl.Activation('no_such_act')


# ---- Dropout --------------------------------------------------------------------------

@pytest.mark.parametrize('kwargs', [{'rate': 0.5}, {'rate': 0.2, 'noise_shape': (None, 1, 4)},
                                    {'rate': 0.9, 'seed': 3}])
def test_dropout_is_identity_at_inference(kbackend, kwargs):
    x = data(3, 5, 4)
    check(lambda: kl.Dropout(**kwargs), lambda: keras.layers.Dropout(**kwargs), x)
    clone = roundtrip(kl.Dropout(**kwargs))
    assert clone.rate == kwargs['rate']


def test_dropout_keras1_p(kbackend):
    layer = kl.Dropout(p=0.3)
    assert layer.rate == 0.3
    assert layer.get_config()['rate'] == 0.3
    assert deserialize_layer({'class_name': 'Dropout', 'config': {'p': 0.25}}).rate == 0.25


@pytest.mark.parametrize('rate', [0.2, 0.6])
def test_dropout_training_statistics_match_keras(kbackend, rate):
    # Random masks differ between libraries; compare what they must share: the kept
    # values are x / (1 - rate), and the dropped fraction is close to rate (50,000
    # draws: 4 standard deviations is below 0.01).
    x = np.ones((100, 500), 'float32')
    out = kl.Dropout(rate)(x, training=True)
    expected = keras_out(keras.layers.Dropout(rate), x, training=True)
    for result in (out, expected):
        kept = result[result != 0]
        assert_matches(kept, np.full(kept.shape, 1. / (1. - rate), 'float32'))
        assert abs((result == 0).mean() - rate) < 0.01
    assert abs((out == 0).mean() - (expected == 0).mean()) < 0.02


def test_dropout_noise_shape_broadcasts_the_mask(kbackend):
    x = data(8, 6, 5, low=1., high=2.)
    out = kl.Dropout(0.5, noise_shape=(None, 1, 5), seed=7)(x, training=True)
    dropped = out == 0
    # one mask per (sample, feature), shared over the time axis
    assert (dropped == dropped[:, :1, :]).all()
    assert 0 < dropped.mean() < 1


def test_dropout_seed_repeats(kbackend):
    x = data(4, 10)
    a = kl.Dropout(0.5, seed=11)(x, training=True)
    b = kl.Dropout(0.5, seed=11)(x, training=True)
    np.testing.assert_array_equal(a, b)


# ---- Flatten, Reshape, Permute, RepeatVector --------------------------------------------

@pytest.mark.parametrize('shape', [(2, 3), (2, 3, 4), (2, 3, 4, 5), (2, 2, 3, 4, 2)])
@pytest.mark.parametrize('data_format', ['channels_last', 'channels_first'])
def test_flatten_matches_keras(kbackend, shape, data_format):
    x = data(*shape)
    check(lambda: kl.Flatten(data_format=data_format),
          lambda: keras.layers.Flatten(data_format=data_format), x)
    roundtrip(kl.Flatten(data_format=data_format))


def test_flatten_keras1_dim_ordering_and_unknown_dims(kbackend):
    assert kl.Flatten(dim_ordering='th').data_format == 'channels_first'
    assert tuple(kl.Flatten()(kl.Input(shape=(None, 3))).shape) == (None, None)


@pytest.mark.parametrize('shape,target', [((2, 12), (3, 4)), ((2, 12), (-1, 2)),
                                          ((2, 3, 4), (12,)), ((2, 3, 4), (2, -1, 3)),
                                          ((2, 6), (1, 1, 6))])
def test_reshape_matches_keras(kbackend, shape, target):
    x = data(*shape)
    check(lambda: kl.Reshape(target), lambda: keras.layers.Reshape(target), x)
    clone = roundtrip(kl.Reshape(target))
    assert clone.target_shape == target


def test_reshape_errors_name_the_layer(kbackend):
    with pytest.raises(ShapeError, match='bad_reshape'):
        kl.Reshape((5,), name='bad_reshape')(np.zeros((2, 6)))
    with pytest.raises(ConfigError, match='only one'):
        kl.Reshape((-1, -1))
    assert tuple(kl.Reshape((-1, 2))(kl.Input(shape=(None, 4))).shape) == (None, None, 2)


@pytest.mark.parametrize('shape,dims', [((2, 3, 4), (2, 1)), ((2, 3, 4, 5), (3, 1, 2)),
                                        ((2, 3, 4, 5), (1, 3, 2)), ((2, 3), (1,))])
def test_permute_matches_keras(kbackend, shape, dims):
    x = data(*shape)
    check(lambda: kl.Permute(dims), lambda: keras.layers.Permute(dims), x)
    assert roundtrip(kl.Permute(dims)).dims == dims


def test_permute_rejects_a_bad_permutation():
    with pytest.raises(ConfigError, match='permutation'):
        kl.Permute((0, 1))


@pytest.mark.parametrize('n', [1, 4])
def test_repeat_vector_matches_keras(kbackend, n):
    x = data(3, 5)
    check(lambda: kl.RepeatVector(n), lambda: keras.layers.RepeatVector(n), x)
    assert roundtrip(kl.RepeatVector(n)).n == n


# ---- Masking ------------------------------------------------------------------------------

@pytest.mark.parametrize('mask_value', [0., -1.])
def test_masking_output_and_mask_match_keras(kbackend, mask_value):
    x = data(3, 6, 4)
    x[0, 2] = mask_value
    x[1, 0] = mask_value
    x[2, 5] = mask_value
    x[2, 4, 1] = mask_value  # only part of a step: not masked
    check(lambda: kl.Masking(mask_value), lambda: keras.layers.Masking(mask_value), x)
    layer = kl.Masking(mask_value)
    mask = K.to_numpy(layer.compute_mask(K.convert_to_tensor(x)))
    expected = keras.ops.convert_to_numpy(keras.layers.Masking(mask_value).compute_mask(x))
    np.testing.assert_array_equal(mask, expected)
    assert roundtrip(layer).mask_value == mask_value


# ---- ActivityRegularization ---------------------------------------------------------------

@pytest.mark.parametrize('l1,l2', [(0.01, 0.), (0., 0.1), (0.02, 0.03)])
def test_activity_regularization_matches_keras(kbackend, l1, l2):
    x = data(4, 5)
    check(lambda: kl.ActivityRegularization(l1, l2),
          lambda: keras.layers.ActivityRegularization(l1, l2), x)
    layer = kl.ActivityRegularization(l1, l2)
    layer(x)
    assert layer.losses == []  # nothing at inference
    layer(x, training=True)
    oracle = keras.layers.ActivityRegularization(l1, l2)
    oracle(x, training=True)
    assert_matches(K.to_numpy(layer.losses[0]), keras.ops.convert_to_numpy(oracle.losses[0]))
    clone = roundtrip(layer)
    assert (clone.l1, clone.l2) == (l1, l2)


# ---- Lambda -------------------------------------------------------------------------------

def scale_and_shift(x, scale=2., shift=1.):
    return x * scale + shift


def pair_difference(xs):
    return xs[0] - xs[1]


LAMBDA_CASES = {
    'square': ((lambda x: x * x + 1.), (lambda x: x * x + 1.), {}, None, [(3, 4)]),
    'arguments': (scale_and_shift, scale_and_shift, {'scale': -3., 'shift': .5}, None,
                  [(2, 3, 4)]),
    'sum_axis': ((lambda x: K.sum(x, axis=1)), (lambda x: keras.ops.sum(x, axis=1)), {},
                 None, [(2, 5, 3)]),
    'tuple_shape': ((lambda x: K.reshape(x, (-1, 2, 6))),
                    (lambda x: keras.ops.reshape(x, (-1, 2, 6))), {}, (2, 6), [(3, 12)]),
    'function_shape': ((lambda x: K.concatenate([x, x], axis=-1)),
                       (lambda x: keras.ops.concatenate([x, x], axis=-1)), {},
                       lambda s: s[:-1] + (2 * s[-1],), [(2, 3)]),
    'two_inputs': (pair_difference, pair_difference, {}, None, [(2, 4), (2, 4)]),
}


@pytest.mark.parametrize('case', sorted(LAMBDA_CASES))
def test_lambda_matches_keras(kbackend, case):
    kz_fn, ke_fn, arguments, output_shape, shapes = LAMBDA_CASES[case]
    inputs = [data(*s) for s in shapes]
    inputs = inputs if len(inputs) > 1 else inputs[0]
    check(lambda: kl.Lambda(kz_fn, output_shape=output_shape, arguments=arguments),
          lambda: keras.layers.Lambda(ke_fn, output_shape=output_shape, arguments=arguments),
          inputs)


def test_lambda_infers_unknown_dimensions(kbackend):
    x = kl.Input(shape=(None, 4))
    y = kl.Lambda(lambda t: K.concatenate([t, t], axis=1))(x)
    assert tuple(y.shape) == (None, None, 4)
    y = kl.Lambda(lambda t: [t[:, :1], t * 2])(x)
    assert [tuple(s.shape) for s in y] == [(None, 1, 4), (None, None, 4)]


def test_lambda_mask_function_and_fixed_mask(kbackend):
    x = K.convert_to_tensor(data(2, 3, 4))
    m = K.convert_to_tensor(np.array([[True, False, True], [True, True, False]]))
    keep = kl.Lambda(lambda t: t)
    assert keep.compute_mask(x, m) is None  # Keras: no mask argument, no mask
    flip = kl.Lambda(lambda t: t, mask=lambda inputs, mask: K.equal(mask, False))
    np.testing.assert_array_equal(K.to_numpy(flip.compute_mask(x, m)), ~K.to_numpy(m))
    oracle = keras.layers.Lambda(lambda t: t, mask=lambda inputs, mask: keras.ops.equal(mask, False))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(oracle.compute_mask(K.to_numpy(x), K.to_numpy(m))),
        ~K.to_numpy(m))


def test_lambda_function_receives_mask_when_it_asks(kbackend):
    from kzoo.models import Model
    seen = {}

    def probe(x, mask=None):
        seen['mask'] = mask
        return x

    inp = kl.Input(shape=(3, 2))
    model = Model(inp, kl.Lambda(probe)(kl.Masking()(inp)))
    x = data(2, 3, 2)
    x[0, 1] = 0.
    model.predict(x)
    np.testing.assert_array_equal(K.to_numpy(seen['mask']),
                                  [[True, False, True], [True, True, True]])


# ---- Lambda serialization and safe mode -----------------------------------------------------

def test_lambda_config_keras2_layout_for_a_named_function():
    layer = kl.Lambda(scale_and_shift, output_shape=(3,), arguments={'scale': 2.}, name='ss')
    config = layer.get_config()
    assert (config['function'], config['function_type']) == ('scale_and_shift', 'function')
    assert (config['output_shape'], config['output_shape_type']) == ((3,), 'raw')
    with pytest.raises(UnknownObjectError, match='scale_and_shift'):
        kl.Lambda.from_config(config)
    for key in ('ss', 'scale_and_shift'):  # by the layer's name or the function's
        with CustomObjectScope({key: scale_and_shift}):
            clone = kl.Lambda.from_config(config)
        assert clone.function is scale_and_shift and clone.arguments == {'scale': 2.}
    clone = deserialize_layer({'class_name': 'Lambda', 'config': config},
                              custom_objects={'scale_and_shift': scale_and_shift})
    assert clone.get_config() == config


def test_lambda_bytecode_is_keras2_marshal_and_refused_in_safe_mode(kbackend, tmp_path):
    sentinel = tmp_path / 'ran'
    fn = lambda x, path=str(sentinel): (open(path, 'w').close(), x * 3.)[1]  # noqa: E731
    layer = kl.Lambda(fn, name='payload')
    config = json.loads(json.dumps(layer.get_config()))
    assert config['function_type'] == 'lambda'
    code, defaults, closure = config['function']
    import base64
    import marshal
    assert marshal.loads(base64.b64decode(code)).co_code == fn.__code__.co_code

    with pytest.raises(UnsafeInputError) as err:
        kl.Lambda.from_config(config)
    message = str(err.value)
    assert "'payload'" in message and 'custom_objects' in message and 'safe_mode=False' in message
    assert not sentinel.exists()

    # the function supplied by the layer's name wins without unmarshalling anything
    with CustomObjectScope({'payload': lambda x: x * 3.}):
        clone = kl.Lambda.from_config(config)
    assert not sentinel.exists()
    assert_matches(clone(np.ones((1, 2), 'float32')), [[3., 3.]])

    with safe_mode_scope(False):
        clone = kl.Lambda.from_config(config)
    assert_matches(clone(np.ones((1, 2), 'float32')), [[3., 3.]])
    assert sentinel.exists()


def test_lambda_output_shape_bytecode_is_refused_too():
    layer = kl.Lambda(scale_and_shift, output_shape=lambda s: s, name='shape_payload')
    config = json.loads(json.dumps(layer.get_config()))
    assert config['output_shape_type'] == 'lambda'
    with CustomObjectScope({'scale_and_shift': scale_and_shift}):
        with pytest.raises(UnsafeInputError, match='output_shape'):
            kl.Lambda.from_config(config)
        clone = kl.Lambda.from_config(config, safe_mode=False)
    assert clone.compute_output_shape((None, 3)) == (None, 3)


def test_lambda_reads_keras3_and_keras1_configs():
    k3 = keras.layers.Lambda(lambda x: x * 2., name='k3').get_config()
    with pytest.raises(UnsafeInputError, match='k3'):
        kl.Lambda.from_config(dict(k3))
    with safe_mode_scope(False):
        layer = kl.Lambda.from_config(dict(k3))
    assert_matches(layer(np.ones((1, 2), 'float32')), [[2., 2.]])
    # Keras 1 wrote marshal bytes as a raw unicode string, not base64
    import marshal
    raw = marshal.dumps((lambda x: x + 1.).__code__).decode('raw_unicode_escape')
    k1 = {'name': 'k1', 'function': [raw, None, None], 'function_type': 'lambda',
          'output_shape': [2], 'output_shape_type': 'raw', 'arguments': {}}
    with pytest.raises(UnsafeInputError):
        kl.Lambda.from_config(dict(k1))
    with safe_mode_scope(False):
        layer = kl.Lambda.from_config(dict(k1))
    assert layer.compute_output_shape((None, 2)) == (None, 2)
    assert_matches(layer(np.ones((1, 2), 'float32')), [[2., 2.]])


def test_lambda_configs_travel_between_kzoo_and_tf_keras(kbackend):
    # tf_keras (Keras 2) writes and reads the same layout as kzoo
    tf_keras = pytest.importorskip('tf_keras')
    from tf_keras.src.saving.serialization_lib import SafeModeScope
    x = data(2, 3)
    theirs = tf_keras.layers.Lambda(lambda t, a=2.: t * a + 1., name='from_tk')
    config = json.loads(json.dumps(theirs.get_config()))
    with pytest.raises(UnsafeInputError, match='from_tk'):
        kl.Lambda.from_config(config)
    with safe_mode_scope(False):
        ours = kl.Lambda.from_config(config)
    assert_matches(ours(x), theirs(x).numpy())
    ours = kl.Lambda(lambda t: t * t - 3., name='from_kz')
    with SafeModeScope(False):
        theirs = tf_keras.layers.Lambda.from_config(json.loads(json.dumps(ours.get_config())))
    assert_matches(ours(x), theirs(x).numpy())


def test_lambda_bad_bytecode_is_a_clear_error():
    config = {'name': 'broken', 'function': ['bm90IGNvZGU=\n', None, None],
              'function_type': 'lambda', 'output_shape': None, 'output_shape_type': 'raw'}
    with safe_mode_scope(False):
        with pytest.raises(ConfigError, match='broken'):
            kl.Lambda.from_config(config)


# ---- Dense ------------------------------------------------------------------------------------

@pytest.mark.parametrize('units,activation,use_bias,shape', [
    (3, None, True, (4, 5)), (1, 'relu', True, (2, 7)), (6, 'tanh', False, (2, 3, 4)),
    (4, 'softmax', True, (3, 2, 2, 5))])
def test_dense_matches_keras(kbackend, units, activation, use_bias, shape):
    x = data(*shape)
    weights = seeded_weights([(shape[-1], units)] + ([(units,)] if use_bias else []), seed=units)
    layer = kl.Dense(units, activation=activation, use_bias=use_bias)
    out = layer(x)
    layer.set_weights(weights)
    out = layer(x)
    oracle = keras.layers.Dense(units, activation=activation, use_bias=use_bias)
    oracle.build((None,) + shape[1:])
    oracle.set_weights(weights)
    assert_matches(out, keras_out(oracle, x))
    kz_shape, ke_shape = symbolic_shapes(lambda: kl.Dense(units), lambda: keras.layers.Dense(units), x)
    assert kz_shape == ke_shape
    roundtrip(layer)


def test_dense_keras1_spelling(kbackend):
    from kzoo import regularizers, constraints, initializers
    layer = kl.Dense(output_dim=3, init='uniform', activation='relu',
                     W_regularizer=regularizers.l2(0.01), b_regularizer='l1',
                     W_constraint='maxnorm', b_constraint='nonneg', bias=True, input_dim=4)
    config = layer.get_config()
    assert config['units'] == 3 and config['batch_input_shape'] == (None, 4)
    assert config['kernel_initializer']['class_name'] == 'RandomUniform'
    assert config['kernel_regularizer'] == {'class_name': 'L2', 'config': {'l2': 0.01}}
    assert config['kernel_constraint']['class_name'] == 'MaxNorm'
    assert isinstance(layer.bias_constraint, constraints.NonNeg)
    assert isinstance(layer.kernel_initializer, initializers.RandomUniform)
    x = data(2, 4)
    weights = seeded_weights([(4, 3), (3,)])
    layer(x)
    layer.set_weights(weights)
    oracle = keras.layers.Dense(3, activation='relu')
    oracle.build((None, 4))
    oracle.set_weights(weights)
    assert_matches(layer(x), keras_out(oracle, x))
    clone = roundtrip(layer)
    assert clone.kernel_regularizer.l2 == 0.01
    with pytest.raises(ConfigError, match='units'):
        kl.Dense(3, output_dim=4)


def test_dense_set_weights_error_names_layer_and_shapes(kbackend):
    layer = kl.Dense(3, name='dense_oops')
    layer(np.zeros((1, 4), 'float32'))
    with pytest.raises(ShapeError, match=r"dense_oops.*\(4, 3\).*\(3, 4\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])
    with pytest.raises(ShapeError, match='dense_oops.*2 weight arrays'):
        layer.set_weights([np.zeros((4, 3))])


# ---- Keras 3 configs ------------------------------------------------------------------------

KERAS3_LAYERS = [
    ('Activation', {'activation': 'tanh'}, (2, 5)), ('Dropout', {'rate': 0.3, 'seed': 2}, (2, 5)),
    ('Flatten', {'data_format': 'channels_first'}, (2, 3, 4)),
    ('Reshape', {'target_shape': (-1, 2)}, (2, 6)), ('Permute', {'dims': (2, 1)}, (2, 3, 4)),
    ('RepeatVector', {'n': 3}, (2, 4)), ('Masking', {'mask_value': 0.5}, (2, 3, 4)),
    ('ActivityRegularization', {'l1': 0.1}, (2, 3)), ('Dense', {'units': 3}, (2, 4))]


@pytest.mark.parametrize('name,kwargs,shape', KERAS3_LAYERS)
def test_layers_read_keras3_configs(kbackend, name, kwargs, shape):
    oracle = getattr(keras.layers, name)(**kwargs)
    x = data(*shape)
    expected = keras_out(oracle, x)
    ours = deserialize_layer({'class_name': name, 'config': oracle.get_config()})
    assert ours.name == oracle.name
    ours(x)
    if oracle.weights:
        ours.set_weights([keras.ops.convert_to_numpy(w) for w in oracle.weights])
    assert_matches(ours(x), expected)
