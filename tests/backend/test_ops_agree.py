"""Every backend agrees with the numpy reference on every op of ``core.py`` and
``composite.py``.

The op list is read from the ``__all__`` of each backend's ``core.py`` and from the
functions of ``composite.py``, so a new op fails :func:`test_every_op_is_covered` until
it gets a case here. Ops whose result is not a plain array (predicates, shapes, dtypes,
variables, random draws, context managers) have their own checks below; the rest are
listed explicitly by name in ``NOT_AN_OP``.

Tolerance: ``assert_matches(..., 1e-5)`` (float32; scaled by ``max(1, max|expected|)``),
the same dtype and shape; integer and boolean results exactly.
"""
import importlib
import types

import numpy as np
import pytest

from helpers import assert_matches
from kzoo import backend as K
from kzoo.backend import composite

REFERENCE = 'numpy'
OTHERS = [b for b in K.available_backends() if b != REFERENCE]
CORE_BACKENDS = [name for name in K.BACKENDS]


def module(name):
    return importlib.import_module(K.BACKENDS[name])


def core_ops(name):
    try:
        core = importlib.import_module(K.BACKENDS[name] + '.core')
    except ImportError:
        return set()
    return set(getattr(core, '__all__', ()))


def composite_ops():
    return {n for n, f in vars(composite).items()
            if isinstance(f, types.FunctionType) and f.__module__ == composite.__name__}


# Names that are not backend-neutral ops; each says why it is not compared.
NOT_AN_OP = {
    'install': 'composite.install binds the composite ops into a backend module',
    'torch_dtype': 'torch-only helper mapping dtype names to torch dtypes',
    'tf_dtype': 'tensorflow-only helper mapping dtype names to tf dtypes',
}

RNG = np.random.default_rng(2024)


def f32(*shape, low=-2., high=2.):
    return RNG.uniform(low, high, shape).astype('float32')


X = f32(3, 4)
X3 = f32(2, 3, 4)
POS = f32(3, 4, low=0.1, high=3.)
INT = np.array([[0, 2, 1], [3, 3, 0]], dtype='int64')
BOOL = RNG.uniform(size=(3, 4)) > 0.5
WIDE = f32(4, 5, low=-9., high=9.)


def case(*args, **kwargs):
    return args, kwargs


# op -> cases of (args, kwargs); numpy arrays become tensors of the backend under test
CASES = {
    'constant': [case([[1., 2.], [3., 4.]]), case(2.5, shape=(2, 3)), case([1, 2], dtype='int32')],
    'convert_to_tensor': [case(X), case(INT), case(X, dtype='float64')],
    'to_numpy': [case(X)],
    'eval': [case(X3)],
    'cast': [case(X, 'int32'), case(INT, 'float32'), case(BOOL, 'float32'), case(X, 'float64')],
    'zeros': [case((2, 3)), case((4,), dtype='int32')],
    'ones': [case((2, 3)), case((1, 2, 2), dtype='float64')],
    'eye': [case(3), case(2, dtype='float64')],
    'zeros_like': [case(X), case(X, dtype='int64')],
    'ones_like': [case(X3), case(X, dtype='float64')],
    'dense': [case(X, f32(4, 5), f32(5)), case(X3, f32(4, 2), f32(2)), case(X, f32(4, 5))],
    'conv_bias': [case(f32(2, 7, 8, 3), f32(3, 2, 3, 4), f32(4)),
                  case(f32(2, 9, 3), f32(3, 3, 4), f32(4), 2, 'causal'),
                  case(f32(2, 3, 7, 8), f32(3, 3, 3, 4), f32(4), (2, 2), 'same',
                       'channels_first'),
                  case(f32(2, 5, 6, 7, 2), f32(2, 3, 2, 2, 3), None, padding='same'),
                  case(f32(2, 6, 6, 6), f32(3, 3, 2, 9), f32(9), padding='same', groups=3)],
    'dot': [case(X, f32(4, 5)), case(X3, f32(4, 2)), case(X3, f32(3, 4, 5)), case(f32(4), f32(4, 3))],
    'einsum': [case('ij,jk->ik', X, f32(4, 2)), case('bij,bjk->bik', X3, f32(2, 4, 3)),
               case('ij->j', X)],
    'transpose': [case(X), case(X3)],
    'permute_dimensions': [case(X3, (0, 2, 1)), case(X3, [2, 0, 1])],
    'reshape': [case(X3, (6, 4)), case(X3, (-1, 2)), case(X, [2, 6])],
    'expand_dims': [case(X), case(X, 0), case(X, 1), case(X3, -2)],
    'squeeze': [case(f32(3, 1, 4), 1), case(f32(1, 4), 0), case(f32(2, 3, 1), -1)],
    'flatten': [case(X3)],
    'tile': [case(X, (2, 3)), case(X3, [1, 2, 1])],
    'repeat_elements': [case(X, 2, 0), case(X3, 3, 2), case(X3, 1, -1)],
    'concatenate': [case([X, f32(3, 2)]), case([X3, f32(2, 1, 4)], axis=1),
                    case([X, X, X], axis=0)],
    'stack': [case([X, X]), case([X, X, X], axis=1), case([X, X], axis=-1)],
    'gather': [case(X, np.array([2, 0, 1, 1])), case(f32(4, 2, 3), INT)],
    'one_hot': [case(INT, 4), case(np.array([1, 0, 2]), 3)],
    'sum': [case(X3), case(X3, axis=1), case(X3, axis=[0, 2], keepdims=True),
            case(X3, axis=-1, keepdims=True)],
    'mean': [case(X3), case(X3, axis=0), case(X3, axis=(1, 2)), case(X, axis=1, keepdims=True)],
    'max': [case(X3), case(X3, axis=2), case(X3, axis=[0, 1], keepdims=True)],
    'min': [case(X3), case(X3, axis=-1), case(X, axis=0, keepdims=True)],
    'prod': [case(X3), case(X3, axis=1), case(X3, axis=[0, 2], keepdims=True)],
    'std': [case(X3), case(X3, axis=1), case(X, axis=0, keepdims=True)],
    'var': [case(X3), case(X3, axis=-1), case(X, axis=[0, 1], keepdims=True)],
    'any': [case(BOOL), case(BOOL, axis=1), case(X > 1.5, axis=0, keepdims=True)],
    'all': [case(BOOL), case(BOOL, axis=0), case(X > -1.5, axis=1, keepdims=True)],
    'argmax': [case(X), case(X3, axis=1), case(X, axis=0)],
    'argmin': [case(X), case(X3, axis=-1), case(X, axis=0)],
    'cumsum': [case(X), case(X3, axis=2), case(X, axis=1)],
    'logsumexp': [case(WIDE), case(WIDE, axis=1), case(X3, axis=[1, 2], keepdims=True)],
    'abs': [case(X)], 'square': [case(X)], 'sqrt': [case(POS)], 'exp': [case(X)],
    'log': [case(POS)], 'sign': [case(X)], 'round': [case(WIDE)],
    'sin': [case(WIDE)], 'cos': [case(WIDE)], 'erf': [case(X)],
    'pow': [case(POS, 2.5), case(POS, 2), case(X, 3)],
    'clip': [case(X, -0.5, 1.), case(WIDE, 0., 6.)],
    'maximum': [case(X, f32(3, 4)), case(X, 0.5)],
    'minimum': [case(X, f32(3, 4)), case(X, -0.5)],
    'equal': [case(INT, np.array([[0, 1, 1], [3, 0, 0]]))],
    'not_equal': [case(INT, np.array([[0, 1, 1], [3, 0, 0]])), case(X, 0.)],
    'greater': [case(X, f32(3, 4)), case(X, 0.)],
    'greater_equal': [case(INT, np.array([[0, 1, 1], [3, 0, 0]])), case(X, 0.)],
    'less': [case(X, f32(3, 4)), case(X, 0.)],
    'less_equal': [case(INT, np.array([[0, 1, 1], [3, 0, 0]])), case(X, 0.)],
    'switch': [case(BOOL, X, f32(3, 4))],
    'where': [case(BOOL, X, f32(3, 4))],
    'relu_plain': [case(X)],
    'leaky_relu': [case(X), case(X, alpha=0.3), case(X, 0.01)],
    'elu': [case(X), case(X, alpha=0.5)],
    'sigmoid': [case(WIDE)], 'tanh': [case(WIDE)],
    'softmax': [case(WIDE), case(X3, axis=1), case(X3, -1)],
    'log_softmax': [case(WIDE), case(X3, axis=1)],
    'softplus': [case(WIDE)], 'exponential': [case(X)],
    'selu': [case(WIDE)],
    'gelu': [case(WIDE), case(WIDE, approximate=True)],
    'stop_gradient': [case(X)],
    # composite
    'relu': [case(WIDE), case(WIDE, alpha=0.1), case(WIDE, max_value=6.),
             case(WIDE, max_value=6), case(WIDE, threshold=1.),
             case(WIDE, alpha=0.2, max_value=4., threshold=0.5), case(WIDE, alpha=0.3, threshold=-1.)],
    'hard_sigmoid': [case(WIDE)],
    'hard_sigmoid_keras3': [case(WIDE)],
    'softsign': [case(WIDE)], 'swish': [case(WIDE)], 'linear': [case(X)],
    'l2_normalize': [case(X), case(X3, axis=1), case(np.zeros((2, 3), 'float32'))],
    'batch_flatten': [case(X3), case(f32(2, 3, 2, 2))],
    'batch_dot': [case(X, f32(3, 4)), case(X, f32(3, 4), axes=1),
                  case(X3, f32(2, 4, 5), axes=(2, 1)), case(X3, f32(2, 3, 5), axes=1),
                  case(X3, f32(2, 5, 4), axes=[2, 2]), case(f32(2, 4), f32(2, 4, 3), axes=(1, 1))],
    'repeat': [case(X, 3), case(X, 1)],
}


def _to_backend(value, B):
    if isinstance(value, np.ndarray):
        return B.convert_to_tensor(value)
    if isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value):
        return [B.convert_to_tensor(v) for v in value]
    return value


def _run(B, op, args, kwargs):
    args = [_to_backend(a, B) for a in args]
    kwargs = {k: _to_backend(v, B) for k, v in kwargs.items()}
    return getattr(B, op)(*args, **kwargs)


def _as_array(B, value):
    return np.asarray(B.to_numpy(value))


def _compare(actual, expected, what):
    assert actual.shape == expected.shape, '%s: shape %s != %s' % (what, actual.shape,
                                                                    expected.shape)
    assert actual.dtype == expected.dtype, '%s: dtype %s != %s' % (what, actual.dtype,
                                                                    expected.dtype)
    if expected.dtype.kind in 'biu':
        np.testing.assert_array_equal(actual, expected, err_msg=what)
    else:
        assert_matches(actual, expected, 1e-5, what=what)


# ---- coverage --------------------------------------------------------------------------

def test_every_op_is_covered():
    ops = composite_ops()
    for name in CORE_BACKENDS:
        ops |= core_ops(name)
    missing = sorted(ops - set(CASES) - set(SPECIAL) - set(NOT_AN_OP))
    assert not missing, 'ops without an agreement case in test_ops_agree.py: %s' % missing


@pytest.mark.parametrize('backend', [REFERENCE] + OTHERS)
def test_every_backend_has_every_op(backend):
    B = module(backend)
    ops = (core_ops(REFERENCE) | composite_ops()) - set(NOT_AN_OP)
    missing = sorted(op for op in ops if not hasattr(B, op))
    assert not missing, 'backend %r lacks %s' % (backend, missing)


# ---- plain array ops ---------------------------------------------------------------------

@pytest.mark.parametrize('backend', OTHERS)
@pytest.mark.parametrize('op', sorted(CASES))
def test_op_agrees_with_numpy(backend, op):
    ref, B = module(REFERENCE), module(backend)
    for i, (args, kwargs) in enumerate(CASES[op]):
        expected = _as_array(ref, _run(ref, op, args, kwargs))
        actual = _as_array(B, _run(B, op, args, kwargs))
        _compare(actual, expected, '%s case %d on %s' % (op, i, backend))


# ---- ops with their own checks -----------------------------------------------------------

def _check_predicates(B, ref):
    for M in (ref, B):
        assert M.is_tensor(M.convert_to_tensor(X)) and not M.is_tensor([1., 2.])
        assert M.is_variable(M.variable(X))
        assert not M.is_tensor(3.0)


def _check_variables(B, ref):
    for M in (ref, B):
        v = M.variable(X, name='v')
        _compare(_as_array(M, v), X, 'variable')
        assert M.dtype(M.variable(INT, dtype='float64')) == 'float64'
        got = M.get_value(v)
        assert isinstance(got, np.ndarray)
        _compare(got, X, 'get_value')
        got[...] = 0.  # a copy: the variable keeps its value
        _compare(M.get_value(v), X, 'get_value copy')
        M.set_value(v, X * 2)
        _compare(M.get_value(v), X * 2, 'set_value')
        w = M.variable(np.zeros(3, 'float32'))
        M.batch_set_value([(v, X), (w, np.ones(3, 'float32'))])
        values = M.batch_get_value([v, w])
        _compare(values[0], X, 'batch_get_value')
        _compare(values[1], np.ones(3, 'float32'), 'batch_get_value')
        with pytest.raises(ValueError, match='shape'):
            M.set_value(w, np.zeros(4, 'float32'))


def _check_shapes(B, ref):
    for x in (X, X3, INT, np.zeros((0, 2), 'float32')):
        for M in (ref, B):
            t = M.convert_to_tensor(x)
            assert tuple(M.shape(t)) == x.shape
            assert M.int_shape(t) == x.shape
            assert M.ndim(t) == x.ndim
            assert M.dtype(t) == str(x.dtype)


def _check_no_grad(B, ref):
    for M in (ref, B):
        with M.no_grad():
            out = M.sum(M.convert_to_tensor(X))
        _compare(_as_array(M, out), np.sum(X).astype('float32').reshape(()), 'no_grad')


def _check_random(B, ref):
    # Draws differ between backends; their distributions must not. 60,000 draws per
    # case: tolerances are many standard errors wide.
    shape = (200, 300)
    for M in (ref, B):
        u = _as_array(M, M.random_uniform(shape, -2., 3., seed=1))
        assert u.shape == shape and u.dtype == np.float32
        assert u.min() >= -2. and u.max() < 3. and abs(u.mean() - 0.5) < 0.05
        np.testing.assert_array_equal(u, _as_array(M, M.random_uniform(shape, -2., 3., seed=1)))
        n = _as_array(M, M.random_normal(shape, 1., 2., seed=2))
        assert n.dtype == np.float32 and abs(n.mean() - 1.) < 0.05 and abs(n.std() - 2.) < 0.05
        t = _as_array(M, M.truncated_normal(shape, 0., 0.5, seed=3))
        assert np.abs(t).max() <= 1. + 1e-6 and 0.42 < t.std() < 0.46  # 0.5 * 0.8796
        b = _as_array(M, M.random_binomial(shape, p=0.3, seed=4))
        assert set(np.unique(b)) <= {0., 1.} and abs(b.mean() - 0.3) < 0.01
        assert _as_array(M, M.random_uniform((2, 3), dtype='float64')).dtype == np.float64


def _check_dropout(B, ref):
    # 60,000 independent draws (3,000 with the noise shape): the dropped fraction is
    # within about 5 standard deviations of the rate.
    ones = np.ones((3000, 20), 'float32')
    for M in (ref, B):
        for kwargs in ({}, {'seed': 5}, {'noise_shape': (3000, 1)}):
            out = _as_array(M, M.dropout(M.convert_to_tensor(ones), 0.4, **kwargs))
            assert out.shape == ones.shape and out.dtype == np.float32
            kept = out[out != 0]
            assert_matches(kept, np.full(kept.shape, 1. / 0.6, 'float32'))
            assert abs((out == 0).mean() - 0.4) < (0.05 if 'noise_shape' in kwargs else 0.01)
            if 'noise_shape' in kwargs:
                assert ((out == 0) == (out[:, :1] == 0)).all()


SPECIAL = {
    'is_tensor': _check_predicates, 'is_variable': _check_predicates,
    'variable': _check_variables, 'get_value': _check_variables, 'set_value': _check_variables,
    'batch_get_value': _check_variables, 'batch_set_value': _check_variables,
    'shape': _check_shapes, 'int_shape': _check_shapes, 'ndim': _check_shapes,
    'dtype': _check_shapes, 'no_grad': _check_no_grad,
    'random_uniform': _check_random, 'random_normal': _check_random,
    'truncated_normal': _check_random, 'random_binomial': _check_random,
    'dropout': _check_dropout,
}


@pytest.mark.parametrize('backend', OTHERS)
@pytest.mark.parametrize('check', sorted({f.__name__ for f in SPECIAL.values()}))
def test_special_op_agrees(backend, check):
    checks = {f.__name__: f for f in SPECIAL.values()}
    checks[check](module(backend), module(REFERENCE))
