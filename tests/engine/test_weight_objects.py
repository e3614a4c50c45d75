"""Initializers, regularizers and constraints: found by name and by config (kzoo's,
Keras 2's from tf_keras and Keras 3's), serialized back to the same config, and
computing what Keras computes.

Random initializers cannot match value for value across libraries; their sample
statistics are compared with Keras 3's for the same shape (a loose statistical
tolerance, stated below). ``identity`` and ``orthogonal`` are checked for their exact
properties; regularizer penalties and constraints against Keras 3 at 1e-5.
"""
import numpy as np
import pytest

from helpers import assert_matches
from kzoo import backend as K
from kzoo import constraints, initializers, regularizers
from kzoo.errors import ConfigError, UnknownObjectError

keras = pytest.importorskip('keras')
tf_keras = pytest.importorskip('tf_keras')
pytestmark = pytest.mark.oracle

RANDOM = ['random_uniform', 'random_normal', 'truncated_normal', 'variance_scaling',
          'glorot_uniform', 'glorot_normal', 'he_uniform', 'he_normal', 'lecun_uniform',
          'lecun_normal', 'orthogonal']
FIXED = ['zeros', 'ones', 'identity']
KERAS1_NAMES = {'uniform': 'RandomUniform', 'normal': 'RandomNormal', 'zero': 'Zeros',
                'one': 'Ones'}


def same_config(ours, theirs):
    """kzoo's serialized config carries every field the other library wrote (values
    equal); Keras 3 adds ``module`` and ``registered_name``, which kzoo ignores."""
    assert ours['class_name'] == theirs['class_name']
    for key, value in theirs['config'].items():
        if key in ('input_axes', 'output_axes') and value is None:
            continue  # Keras 3.15 defaults, not written by kzoo (a Keras 2 layout)
        assert ours['config'].get(key) == value, (key, ours, theirs)


@pytest.mark.parametrize('name', RANDOM + FIXED)
def test_initializer_configs_round_trip_with_keras(name):
    ours = initializers.serialize(initializers.get(name))
    assert initializers.serialize(initializers.get(ours)) == ours
    for lib in (keras, tf_keras):
        theirs = lib.initializers.serialize(lib.initializers.get(name))
        same_config(ours, theirs)
        same_config(initializers.serialize(initializers.get(theirs)), theirs)


@pytest.mark.parametrize('name,class_name', sorted(KERAS1_NAMES.items()))
def test_keras1_initializer_names(name, class_name):
    assert type(initializers.get(name)).__name__ == class_name


def test_initializer_configs_with_arguments():
    for config in ({'class_name': 'RandomUniform', 'config': {'minval': -1., 'maxval': 2.,
                                                             'seed': 3}},
                   {'class_name': 'VarianceScaling', 'config': {
                       'scale': 2., 'mode': 'fan_out', 'distribution': 'uniform', 'seed': None}},
                   {'class_name': 'Constant', 'config': {'value': 0.5}},
                   {'class_name': 'Orthogonal', 'config': {'gain': 2., 'seed': 1}}):
        assert initializers.serialize(initializers.get(config)) == config
    with pytest.raises(UnknownObjectError, match='no_such_init'):
        initializers.get('no_such_init')
    with pytest.raises(ConfigError, match='mode'):
        initializers.get({'class_name': 'VarianceScaling', 'config': {'mode': 'fan_sideways'}})


@pytest.mark.parametrize('name', [n for n in RANDOM if n != 'orthogonal'])
@pytest.mark.parametrize('shape', [(300, 200), (3, 3, 32, 64)])
def test_random_initializer_statistics_match_keras(name, shape):
    # 60,000+ draws: sample stds agree within 3% and means within 5% of the spread
    # (many standard errors); the largest |value| of bounded (uniform or truncated)
    # draws within 5% of Keras's.
    ours = np.asarray(initializers.get(name)(shape), 'float64')
    theirs = keras.ops.convert_to_numpy(keras.initializers.get(name)(shape)).astype('float64')
    assert ours.shape == theirs.shape and ours.dtype != object
    assert abs(ours.std() / theirs.std() - 1.) < 0.03
    assert abs(ours.mean() - theirs.mean()) < 0.05 * theirs.std()
    if name != 'random_normal':  # bounded draws (uniform or truncated): same bound
        assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1.) < 0.05
    seeded = initializers.get({'class_name': initializers.serialize(initializers.get(name))
                               ['class_name'], 'config': {'seed': 7}})
    np.testing.assert_array_equal(seeded(shape), seeded(shape))  # a seed repeats


def test_truncated_normals_stay_within_two_stddevs():
    values = initializers.TruncatedNormal(stddev=0.5)((400, 100))
    assert np.abs(values).max() <= 1.0 + 1e-6


@pytest.mark.parametrize('shape', [(30, 20), (20, 30), (3, 3, 4, 8), (16, 16)])
@pytest.mark.parametrize('gain', [1., 1.7])
def test_orthogonal_is_orthogonal(shape, gain):
    w = initializers.Orthogonal(gain=gain)(shape).astype('float64')
    flat = w.reshape(-1, shape[-1])
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    assert_matches(gram, gain ** 2 * np.eye(small), 1e-5)
    assert w.shape == shape


@pytest.mark.parametrize('shape,gain', [((4, 4), 1.), ((3, 5), 2.), ((5, 3), 0.5)])
def test_identity_matches_keras(shape, gain):
    ours = initializers.get({'class_name': 'Identity', 'config': {'gain': gain}})(shape)
    theirs = keras.initializers.Identity(gain=gain)(shape)
    assert_matches(ours, keras.ops.convert_to_numpy(theirs), 0.)
    with pytest.raises(ConfigError, match='2-D'):
        initializers.Identity()((2, 2, 2))


def test_constant_zeros_ones_match_keras():
    for config in ('zeros', 'ones', {'class_name': 'Constant', 'config': {'value': -2.5}}):
        kconfig = config if isinstance(config, str) else {'class_name': 'Constant',
                                                          'config': {'value': -2.5}}
        assert_matches(initializers.get(config)((3, 4)),
                       keras.ops.convert_to_numpy(keras.initializers.get(kconfig)((3, 4))), 0.)


# ---- regularizers -------------------------------------------------------------------------

@pytest.mark.parametrize('config', [
    {'class_name': 'L1', 'config': {'l1': 0.01}}, {'class_name': 'L2', 'config': {'l2': 0.3}},
    {'class_name': 'L1L2', 'config': {'l1': 0.02, 'l2': 0.05}}])
def test_regularizers_round_trip_and_match_keras(kbackend, config):
    reg = regularizers.get(config)
    assert regularizers.serialize(reg) == config
    assert regularizers.serialize(regularizers.get(regularizers.serialize(reg))) == config
    x = np.random.default_rng(0).normal(size=(5, 7)).astype('float32')
    expected = keras.ops.convert_to_numpy(keras.regularizers.get(config)(x))
    assert_matches(K.to_numpy(reg(K.convert_to_tensor(x))), expected)
    theirs = tf_keras.regularizers.serialize(tf_keras.regularizers.get(config))
    assert regularizers.serialize(regularizers.get(theirs))['class_name'] == theirs['class_name']


def test_regularizer_names_and_keras1_layout():
    assert regularizers.serialize(regularizers.get('l2')) == {'class_name': 'L2',
                                                             'config': {'l2': 0.01}}
    assert isinstance(regularizers.get('l1_l2'), regularizers.L1L2)
    keras1 = regularizers.get({'name': 'WeightRegularizer', 'l1': 0., 'l2': 0.001})
    assert (keras1.l1, keras1.l2) == (0., 0.001)


# ---- constraints -------------------------------------------------------------------------

@pytest.mark.parametrize('name,config', [
    ('max_norm', {'class_name': 'MaxNorm', 'config': {'max_value': 1.5, 'axis': 0}}),
    ('non_neg', {'class_name': 'NonNeg', 'config': {}}),
    ('unit_norm', {'class_name': 'UnitNorm', 'config': {'axis': 1}}),
    ('min_max_norm', {'class_name': 'MinMaxNorm', 'config': {
        'min_value': 0.5, 'max_value': 1.2, 'rate': 0.7, 'axis': 0}})])
def test_constraints_round_trip_and_match_keras(kbackend, name, config):
    c = constraints.get(config)
    assert constraints.serialize(c) == config
    assert type(constraints.get(name)).__name__ == config['class_name']
    w = np.random.default_rng(1).normal(size=(6, 4)).astype('float32')
    expected = keras.ops.convert_to_numpy(keras.constraints.get(config)(w))
    assert_matches(K.to_numpy(c(K.convert_to_tensor(w))), expected)
    theirs = tf_keras.constraints.serialize(tf_keras.constraints.get(config))
    same_config(constraints.serialize(constraints.get(theirs)), theirs)


def test_keras1_constraint_layout():
    c = constraints.get({'name': 'MaxNorm', 'm': 3, 'axis': 0})
    assert (c.max_value, c.axis) == (3, 0)
    assert isinstance(constraints.get('maxnorm'), constraints.MaxNorm)
    assert isinstance(constraints.get('nonneg'), constraints.NonNeg)
