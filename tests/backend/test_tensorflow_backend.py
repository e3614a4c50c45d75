"""The tensorflow backend against the numpy reference, op by op.

Every name in the ``__all__`` of every module of ``kzoo.backend.tensorflow_backend``
(and every op of ``composite.py`` bound to it) is enumerated; each has cases in
``CASES`` run through the numpy function of the same name on the same inputs, or is
listed in ``NOT_COMPARED`` with the reason (and checked by its own test below). A new
op without either fails ``test_every_op_is_covered``.

Tolerance: 1e-5, scaled by ``max(1, max|expected|)`` (``tests/helpers.assert_matches``);
integer, boolean, shape and dtype results must be equal.
"""
import importlib
import os
import pkgutil
import subprocess
import sys
import types

import numpy as np
import pytest

from kzoo import backend as K
from kzoo.backend import composite, conv_utils
from helpers import assert_matches

if 'tensorflow' not in K.available_backends():
    pytest.skip('tensorflow is not installed', allow_module_level=True)

import tensorflow as tf  # noqa: E402

from kzoo.backend import numpy_backend as NB  # noqa: E402
from kzoo.backend import tensorflow_backend as TB  # noqa: E402

TOL = 1e-5


# ---- inputs ---------------------------------------------------------------------------

class Var(object):
    """An argument that is a weight: ``B.variable(array)`` in each backend."""

    def __init__(self, array):
        self.array = np.asarray(array)


class Fn(object):
    """An argument that is a function of the backend module (step functions, activations)."""

    def __init__(self, make):
        self.make = make


class Case(object):
    """Positional and keyword arguments of one call; ``inplace``: also compare the
    ``Var`` arguments after the call (ops that update weights in place)."""

    def __init__(self, *args, **kwargs):
        self.inplace = kwargs.pop('_inplace', False)
        self.args, self.kwargs = args, kwargs


_rng = np.random.default_rng(1234)


def r(*shape, low=-1., high=1.):
    return _rng.uniform(low, high, shape).astype('float32')


def pos(*shape):
    return r(*shape, low=0.1, high=3.)


def _to_backend(value, B, variables):
    if isinstance(value, Var):
        var = B.variable(value.array, dtype=str(value.array.dtype))
        variables.append(var)
        return var
    if isinstance(value, Fn):
        return value.make(B)
    if isinstance(value, np.ndarray) and B is TB:
        return tf.constant(value)
    if isinstance(value, list):
        return [_to_backend(v, B, variables) for v in value]
    return value


def _host(value):
    """Results as numpy (nested lists and tuples kept)."""
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v) for v in value)
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return TB.to_numpy(value)
    return value


def _is_backend_tensor(value):
    if isinstance(value, (list, tuple)):
        return all(_is_backend_tensor(v) for v in value)
    return isinstance(value, (tf.Tensor, tf.Variable))


def _compare(actual, expected, what):
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, '%s[%d]' % (what, i))
        return
    if expected is None or isinstance(expected, (str, int)) and not isinstance(expected, bool):
        assert actual == expected, '%s: %r != %r' % (what, actual, expected)
        return
    expected = np.asarray(expected)
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype, '%s: dtype %s != %s' % (what, actual.dtype,
                                                                    expected.dtype)
    if expected.dtype.kind in 'biu':
        assert actual.shape == expected.shape, '%s: shape %s != %s' % (
            what, actual.shape, expected.shape)
        assert (actual == expected).all(), what
    else:
        assert_matches(actual, expected, TOL, what)


# ---- cases ----------------------------------------------------------------------------

def _deconv_out(size, k, padding, stride, dilation=None):
    dilation = dilation or (1,) * len(size)
    return tuple(conv_utils.deconv_output_length(s, kk, padding, None, st, d)
                 for s, kk, st, d in zip(size, k, stride, dilation))


_x345 = r(3, 4, 5)
_i = np.array([[0, 2, 1], [3, 3, 0]], 'int64')
_cmp_a = np.round(r(4, 5) * 2) / 2
_cmp_b = np.round(r(4, 5) * 2) / 2

CASES = {
    # tensors and variables
    'variable': [Case(r(2, 3)), Case(np.arange(4, dtype='float64'), dtype='float64')],
    'constant': [Case(r(2, 3)), Case(1.5, shape=(2, 3)), Case([1, 2], dtype='int32')],
    'convert_to_tensor': [Case(r(2, 3)), Case(r(2, 3), dtype='float64')],
    'to_numpy': [Case(r(2, 3))],
    'eval': [Case(r(2, 3))],
    'get_value': [Case(Var(r(2, 3)))],
    'batch_get_value': [Case([Var(r(2, 3)), Var(r(4))])],
    'set_value': [Case(Var(r(2, 3)), r(2, 3), _inplace=True)],
    'batch_set_value': [Case([(Var(r(2, 3)), r(2, 3)), (Var(r(4)), r(4))], _inplace=True)],
    'shape': [Case(r(2, 3, 4))],
    'int_shape': [Case(r(2, 3, 4)), Case(Var(r(5)))],
    'ndim': [Case(r(2, 3, 4))],
    'dtype': [Case(r(2, 3)), Case(np.arange(3))],
    'cast': [Case(r(2, 3) * 4, 'int32'), Case(r(2, 3), 'float64'), Case(_i, 'float32')],
    'zeros': [Case((2, 3)), Case((2,), dtype='int32')],
    'ones': [Case((2, 3)), Case((3,), dtype='float64')],
    'eye': [Case(3)],
    'zeros_like': [Case(r(2, 3)), Case(r(2, 3), dtype='int32')],
    'ones_like': [Case(r(2, 3))],
    # linear algebra and shapes
    'dense': [Case(r(2, 3), r(3, 4), r(4)), Case(r(2, 5, 3), r(3, 4), r(4)),
              Case(r(2, 3), r(3, 4))],
    'conv_bias': [Case(r(2, 7, 8, 3), r(3, 2, 3, 4), r(4)),
                  Case(r(2, 9, 3), r(3, 3, 4), r(4), 2, 'causal'),
                  Case(r(2, 3, 7, 8), r(3, 3, 3, 4), r(4), (2, 2), 'same', 'channels_first'),
                  Case(r(2, 6, 6, 6), r(3, 3, 2, 9), r(9), padding='same', groups=3)],
    'dot': [Case(r(2, 3), r(3, 4)), Case(r(2, 5, 3), r(3, 4)), Case(r(2, 3), r(4, 3, 5)),
            Case(r(3), r(3, 4)), Case(r(2, 3), r(3)), Case(r(2, 3), Var(r(3, 4)))],
    'einsum': [Case('ij,jk->ik', r(2, 3), r(3, 4)), Case('bij,bj->bi', r(2, 3, 4), r(2, 4))],
    'transpose': [Case(r(2, 3, 4))],
    'permute_dimensions': [Case(r(2, 3, 4), (0, 2, 1)), Case(r(2, 3, 4), [2, 0, 1])],
    'reshape': [Case(r(2, 3, 4), (2, -1)), Case(r(2, 3, 4), (4, 3, 2))],
    'expand_dims': [Case(r(2, 3), 1), Case(r(2, 3)), Case(r(2, 3), -2)],
    'squeeze': [Case(r(2, 1, 3), 1), Case(r(2, 1, 3, 1), -1)],
    'flatten': [Case(r(2, 3, 4))],
    'tile': [Case(r(2, 3), (2, 1)), Case(r(2, 3), 2), Case(r(2, 3), (2, 1, 3))],
    'repeat_elements': [Case(r(2, 3), 2, 1), Case(r(2, 3, 2), 3, 0)],
    'concatenate': [Case([r(2, 3), r(2, 4)]), Case([r(2, 3), r(1, 3)], axis=0)],
    'stack': [Case([r(2, 3), r(2, 3)]), Case([r(2, 3), r(2, 3)], axis=-1)],
    'gather': [Case(r(5, 3), np.array([0, 3, 1])), Case(Var(r(6, 2)), _i)],
    'one_hot': [Case(np.array([0, 2, 1]), 4), Case(_i, 5)],
    # reductions
    'sum': [Case(_x345), Case(_x345, axis=1), Case(_x345, axis=[0, 2], keepdims=True)],
    'mean': [Case(_x345), Case(_x345, axis=-1), Case(_x345, axis=(0, 1), keepdims=True)],
    'max': [Case(_x345), Case(_x345, axis=1, keepdims=True)],
    'min': [Case(_x345), Case(_x345, axis=[1, 2])],
    'prod': [Case(pos(2, 3)), Case(_x345, axis=2)],
    'std': [Case(_x345), Case(_x345, axis=1, keepdims=True)],
    'var': [Case(_x345), Case(_x345, axis=[0, 2])],
    'any': [Case(_x345 > 0.8), Case(_x345 > 0.8, axis=1), Case(_x345 > 0.9, axis=-1,
                                                                 keepdims=True)],
    'all': [Case(_x345 > -0.8), Case(_x345 > -0.8, axis=0)],
    'argmax': [Case(_x345), Case(_x345, axis=0)],
    'argmin': [Case(_x345), Case(_x345, axis=1)],
    'cumsum': [Case(_x345), Case(_x345, axis=2)],
    'logsumexp': [Case(_x345 * 5), Case(_x345 * 5, axis=1, keepdims=True)],
    # element-wise
    'abs': [Case(r(3, 4))], 'square': [Case(r(3, 4))], 'sqrt': [Case(pos(3, 4))],
    'exp': [Case(r(3, 4) * 3)], 'log': [Case(pos(3, 4))], 'sign': [Case(np.round(r(3, 4)))],
    'round': [Case(np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.3], 'float32')),
              Case(r(3, 4) * 5)],
    'pow': [Case(pos(3, 4), 2.5), Case(r(3, 4), 2), Case(pos(3, 4), pos(3, 4))],
    'clip': [Case(r(3, 4), -0.5, 0.5), Case(r(3, 4), 0., 6.), Case(r(3, 4), -0.2, None)],
    'maximum': [Case(r(3, 4), r(3, 4)), Case(r(3, 4), 0.25), Case(r(3, 4), r(4))],
    'minimum': [Case(r(3, 4), r(3, 4)), Case(r(3, 4), -0.25)],
    'equal': [Case(_cmp_a, _cmp_b), Case(_cmp_a, 0.5)],
    'not_equal': [Case(_cmp_a, _cmp_b)],
    'greater': [Case(_cmp_a, _cmp_b), Case(_cmp_a, 0.)],
    'greater_equal': [Case(_cmp_a, _cmp_b)],
    'less': [Case(_cmp_a, _cmp_b)],
    'less_equal': [Case(_cmp_a, _cmp_b), Case(_i, 2)],
    'sin': [Case(r(3, 4) * 4)], 'cos': [Case(r(3, 4) * 4)], 'erf': [Case(r(3, 4) * 3)],
    'switch': [Case(_cmp_a > 0, r(4, 5), r(4, 5)), Case(_cmp_a > 0, r(4, 5), 0.)],
    'where': [Case(_cmp_a > 0, r(4, 5), r(4, 5))],
    # activations
    'relu_plain': [Case(r(3, 4))],
    'leaky_relu': [Case(r(3, 4)), Case(r(3, 4), 0.3), Case(r(3, 4), alpha=1.5)],
    'elu': [Case(r(3, 4) * 3), Case(r(3, 4) * 3, 0.5)],
    'sigmoid': [Case(r(3, 4) * 8)], 'tanh': [Case(r(3, 4) * 3)],
    'softmax': [Case(r(3, 4) * 5), Case(r(2, 3, 4) * 5, axis=1)],
    'log_softmax': [Case(r(3, 4) * 5), Case(r(2, 3, 4) * 5, 0)],
    'softplus': [Case(r(3, 4) * 10)], 'exponential': [Case(r(3, 4) * 3)],
    'selu': [Case(r(3, 4) * 3)],
    'gelu': [Case(r(3, 4) * 3), Case(r(3, 4) * 3, approximate=True)],
    'stop_gradient': [Case(r(3, 4))],
    # composite.py
    'relu': [Case(r(3, 4) * 8), Case(r(3, 4) * 8, alpha=0.1), Case(r(3, 4) * 8, max_value=6),
             Case(r(3, 4) * 8, max_value=2.5), Case(r(3, 4), threshold=0.3),
             Case(r(3, 4) * 4, alpha=0.2, max_value=2., threshold=0.5)],
    'hard_sigmoid': [Case(r(3, 4) * 4)], 'hard_sigmoid_keras3': [Case(r(3, 4) * 5)],
    'softsign': [Case(r(3, 4) * 3)], 'swish': [Case(r(3, 4) * 3)], 'linear': [Case(r(3, 4))],
    'l2_normalize': [Case(r(3, 4)), Case(r(2, 3, 4), axis=1)],
    'batch_flatten': [Case(r(2, 3, 4))],
    'batch_dot': [Case(r(2, 3), r(2, 3)), Case(r(2, 3, 4), r(2, 4, 5)),
                  Case(r(2, 3, 4), r(2, 3, 5), axes=1), Case(r(2, 3, 4), r(2, 5, 4), axes=(2, 2))],
    'repeat': [Case(r(2, 3), 4)],
    # conv.py
    'conv1d': [Case(r(2, 9, 3), r(3, 3, 4)), Case(r(2, 9, 3), r(3, 3, 4), 2, 'same'),
               Case(r(2, 9, 3), r(3, 3, 4), padding='causal', dilation_rate=2),
               Case(r(2, 9, 3), r(2, 3, 4), padding='full'),
               Case(r(2, 3, 9), r(3, 3, 4), 2, 'same', 'channels_first'),
               Case(r(2, 9, 4), r(3, 2, 6), padding='same', groups=2),
               Case(r(2, 11, 3), r(3, 3, 2), 2, 'same', dilation_rate=2)],
    'conv2d': [Case(r(2, 7, 8, 3), r(3, 2, 3, 4)),
               Case(r(2, 7, 8, 3), r(3, 3, 3, 4), (2, 1), 'same'),
               Case(r(2, 7, 8, 3), r(3, 3, 3, 4), padding='same', dilation_rate=(2, 2)),
               Case(r(2, 7, 8, 3), r(2, 3, 3, 2), padding='full'),
               Case(r(2, 3, 7, 8), r(3, 3, 3, 4), (2, 2), 'same', 'channels_first'),
               Case(r(2, 6, 6, 6), r(3, 3, 2, 9), padding='same', groups=3),
               Case(r(2, 9, 9, 3), r(3, 3, 3, 2), (2, 2), 'same', dilation_rate=(2, 1)),
               Case(r(1, 7, 8, 3), Var(r(3, 3, 3, 4)), padding='same')],
    'conv3d': [Case(r(1, 5, 6, 4, 2), r(2, 3, 2, 2, 3)),
               Case(r(1, 5, 6, 4, 2), r(2, 3, 2, 2, 3), (2, 1, 2), 'same'),
               Case(r(1, 2, 5, 6, 4), r(3, 3, 3, 2, 3), padding='same',
                    data_format='channels_first')],
    'depthwise_conv1d': [Case(r(2, 9, 3), r(3, 3, 2)),
                         Case(r(2, 9, 3), r(3, 3, 2), 2, 'same'),
                         Case(r(2, 9, 3), r(3, 3, 1), padding='causal', dilation_rate=2),
                         Case(r(2, 3, 9), r(3, 3, 2), 1, 'same', 'channels_first', 2),
                         Case(r(2, 12, 3), r(3, 3, 2), 2, 'same', dilation_rate=2)],
    'depthwise_conv2d': [Case(r(2, 7, 8, 3), r(3, 3, 3, 2)),
                         Case(r(2, 7, 8, 3), r(3, 3, 3, 2), (2, 2), 'same'),
                         Case(r(2, 7, 8, 3), r(3, 2, 3, 1), (2, 1), 'same'),
                         Case(r(2, 7, 8, 3), r(3, 3, 3, 2), padding='same',
                              dilation_rate=(2, 2)),
                         Case(r(2, 9, 9, 3), r(3, 3, 3, 1), (2, 2), 'same',
                              dilation_rate=(2, 2)),
                         Case(r(2, 3, 7, 8), r(3, 3, 3, 2), (1, 1), 'same',
                              'channels_first')],
    'separable_conv1d': [Case(r(2, 9, 3), r(3, 3, 2), r(1, 6, 4)),
                         Case(r(2, 9, 3), r(3, 3, 2), r(1, 6, 4), 2, 'same'),
                         Case(r(2, 3, 9), r(3, 3, 1), r(1, 3, 4), 1, 'same',
                              'channels_first', 2)],
    'separable_conv2d': [Case(r(2, 7, 8, 3), r(3, 3, 3, 2), r(1, 1, 6, 5)),
                         Case(r(2, 7, 8, 3), r(3, 3, 3, 2), r(1, 1, 6, 5), (2, 2), 'same'),
                         Case(r(2, 7, 8, 3), r(3, 3, 3, 1), r(1, 1, 3, 4), padding='same',
                              dilation_rate=(2, 2)),
                         Case(r(2, 3, 7, 8), r(3, 3, 3, 2), r(1, 1, 6, 4), (1, 1), 'same',
                              'channels_first')],
    'conv1d_transpose': [
        Case(r(2, 5, 3), r(3, 4, 3), (2, 11, 4), 2, 'valid'),
        Case(r(2, 5, 3), r(3, 4, 3), (10,), 2, 'same'),
        Case(r(2, 5, 3), r(3, 4, 3), (12,), 2, 'valid'),  # output_padding 1
        Case(r(2, 5, 3), r(3, 4, 3), _deconv_out((5,), (3,), 'same', (1,), (2,)), 1, 'same',
             dilation_rate=2),
        Case(r(2, 3, 5), r(3, 4, 3), (2, 4, 10), 2, 'same', 'channels_first')],
    'conv2d_transpose': [
        Case(r(2, 4, 5, 3), r(3, 2, 4, 3), _deconv_out((4, 5), (3, 2), 'same', (2, 3)),
             (2, 3), 'same'),
        Case(r(2, 4, 5, 3), r(3, 2, 4, 3), _deconv_out((4, 5), (3, 2), 'valid', (2, 3)),
             (2, 3), 'valid'),
        Case(r(2, 4, 5, 3), r(3, 3, 4, 3), (9, 10), (2, 2), 'same'),  # output_padding 1
        Case(r(2, 4, 5, 3), r(3, 3, 4, 3), _deconv_out((4, 5), (3, 3), 'valid', (1, 1),
                                                       (2, 2)), (1, 1), 'valid',
             dilation_rate=(2, 2)),
        Case(r(2, 3, 4, 5), r(3, 3, 2, 3), (2, 2, 8, 10), (2, 2), 'same', 'channels_first'),
        Case(r(1, 4, 5, 3), Var(r(2, 2, 4, 3)), (8, 10), (2, 2), 'same')],
    'conv3d_transpose': [
        Case(r(1, 3, 4, 2, 2), r(2, 3, 2, 3, 2), _deconv_out((3, 4, 2), (2, 3, 2), 'same',
                                                             (2, 1, 2)), (2, 1, 2), 'same'),
        Case(r(1, 2, 3, 4, 2), r(2, 2, 2, 3, 2), (1, 3, 4, 5, 3), (1, 1, 1), 'valid',
             'channels_first')],
    'bias_add': [Case(r(2, 4, 5, 3), r(3)), Case(r(2, 3, 4, 5), r(3), 'channels_first'),
                 Case(r(2, 3), Var(r(3)))],
    # pooling.py
    'pool1d': [Case(r(2, 9, 3), 3, 2), Case(r(2, 9, 3), 3, 2, 'same', pool_mode='avg'),
               Case(r(2, 9, 3), 2, None, 'same'), Case(r(2, 3, 9), 2, 1, 'valid',
                                                       'channels_first', 'avg'),
               Case(r(2, 9, 3), 3, 2, 'full', pool_mode='avg'),
               Case(r(2, 9, 3), 3, 1, 'causal', pool_mode='max')],
    'pool2d': [Case(r(2, 7, 8, 3), (2, 2), (2, 2)),
               Case(r(2, 7, 8, 3), (3, 2), (2, 2), 'same', pool_mode='avg'),
               Case(r(2, 7, 8, 3), (3, 3), (1, 1), 'same', pool_mode='max'),
               Case(r(2, 3, 7, 8), (2, 3), (2, 1), 'same', 'channels_first', 'avg')],
    'pool3d': [Case(r(1, 5, 6, 4, 2), (2, 2, 2), (2, 2, 2)),
               Case(r(1, 5, 6, 4, 2), (3, 2, 2), (2, 1, 2), 'same', pool_mode='avg'),
               Case(r(1, 2, 5, 6, 4), (2, 3, 2), (1, 2, 2), 'same', 'channels_first')],
    # nn.py
    'temporal_padding': [Case(r(2, 5, 3)), Case(r(2, 5, 3), (1, 2))],
    'spatial_2d_padding': [Case(r(2, 4, 5, 3)), Case(r(2, 4, 5, 3), ((1, 0), (2, 1))),
                           Case(r(2, 3, 4, 5), ((0, 2), (1, 1)), 'channels_first')],
    'spatial_3d_padding': [Case(r(1, 2, 3, 4, 2)),
                           Case(r(1, 2, 2, 3, 4), ((1, 0), (0, 1), (2, 2)), 'channels_first')],
    'resize_images': [Case(r(2, 3, 4, 2), 2, 3, 'channels_last'),
                      Case(r(2, 3, 4, 2), 2, 3, 'channels_last', 'bilinear'),
                      Case(r(2, 2, 3, 4), 3, 2, 'channels_first', 'bilinear'),
                      Case(r(2, 2, 3, 4), 2, 2, 'channels_first')],
    'resize_volumes': [Case(r(1, 2, 3, 2, 2), 2, 1, 3, 'channels_last'),
                       Case(r(1, 2, 2, 3, 2), 1, 2, 2, 'channels_first')],
    'moments': [Case(r(4, 3, 5) + 3, [0, 1]), Case(r(4, 3, 5), (0, 2), keepdims=True),
                Case(r(4, 6), 0)],
    'batch_normalization': [
        Case(r(2, 4, 5, 3), r(3), pos(3), r(3), r(3)),
        Case(r(2, 3, 4, 5), r(3), pos(3), None, r(3), axis=1, epsilon=1e-5),
        Case(r(2, 3, 4, 5), r(3), pos(3), r(3), None, 1),
        Case(r(4, 3, 5), r(3, 5), pos(3, 5), r(3, 5), r(3, 5), axis=[1, 2]),
        Case(r(2, 4, 3), Var(r(3)), Var(pos(3)), Var(r(3)), Var(r(3)), -1, 1e-3)],
    'moving_average_update': [Case(Var(r(3)), r(3), 0.9, _inplace=True),
                              Case(Var(r(2, 4)), r(2, 4), 0.99, _inplace=True)],
    # recurrent.py
    'reverse': [Case(r(2, 3, 4), 1), Case(r(2, 3, 4), [0, 2])],
}

_mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1]], bool)
_W, _U, _b = r(3, 4), r(4, 4), r(4)


def _step(B):
    def step(x, states):
        h = B.tanh(B.dot(x, B.constant(_W)) + B.dot(states[0], B.constant(_U)) + states[1])
        return h, [h]
    return step


CASES['rnn'] = [Case(Fn(_step), r(2, 5, 3), [r(2, 4)], constants=[_b]),
                Case(Fn(_step), r(2, 5, 3), [r(2, 4)], go_backwards=True, constants=[_b]),
                Case(Fn(_step), r(2, 5, 3), [r(2, 4)], mask=_mask, constants=[_b]),
                Case(Fn(_step), r(2, 5, 3), [r(2, 4)], mask=_mask, constants=[_b],
                     zero_output_for_mask=True, go_backwards=True),
                Case(Fn(_step), r(2, 5, 3), [r(2, 4)], constants=[_b],
                     return_all_outputs=False)]

_tanh, _sigmoid = Fn(lambda B: B.tanh), Fn(lambda B: B.sigmoid)
_hard = Fn(lambda B: B.hard_sigmoid)
_relu = Fn(lambda B: B.relu)
_seq, _u = r(2, 5, 3), 4
CASES['lstm'] = [
    Case(_seq, r(2, _u), r(2, _u), None, r(3, 4 * _u), r(_u, 4 * _u), r(4 * _u), _tanh,
         _sigmoid, True),
    Case(_seq, r(2, _u), r(2, _u), _mask, r(3, 4 * _u), r(_u, 4 * _u), None, _tanh, _hard,
         False, True),
    Case(_seq, r(2, _u), r(2, _u), _mask, Var(r(3, 4 * _u)), Var(r(_u, 4 * _u)),
         Var(r(4 * _u)), _tanh, _sigmoid, return_sequences=True, zero_output_for_mask=True)]
CASES['gru'] = [
    Case(_seq, r(2, _u), None, r(3, 3 * _u), r(_u, 3 * _u), r(2, 3 * _u), _tanh, _sigmoid,
         True),
    Case(_seq, r(2, _u), _mask, r(3, 3 * _u), r(_u, 3 * _u), r(3 * _u), _tanh, _hard,
         True, True, reset_after=False),
    Case(_seq, r(2, _u), _mask, Var(r(3, 3 * _u)), Var(r(_u, 3 * _u)), None, _relu,
         _sigmoid, return_sequences=False)]
CASES['simple_rnn'] = [
    Case(_seq, r(2, _u), None, r(3, _u), r(_u, _u), r(_u), _tanh, True),
    Case(_seq, r(2, _u), _mask, r(3, _u), r(_u, _u), None, _relu, True, True),
    Case(_seq, r(2, _u), _mask, Var(r(3, _u)), Var(r(_u, _u)), Var(r(_u)), _tanh,
         zero_output_for_mask=True)]

# Ops whose result cannot be compared with numpy's on the same inputs: why, and where
# they are checked instead.
NOT_COMPARED = {
    'is_tensor': "answers about the backend's own tensor type (test_type_predicates)",
    'is_variable': "answers about the backend's own variable type (test_type_predicates)",
    'no_grad': 'a context manager, not an op on tensors (test_no_grad)',
    'tf_dtype': 'TensorFlow-only helper mapping dtype names (test_tf_dtype)',
    'random_uniform': 'random numbers: generators differ (test_random_ops)',
    'random_normal': 'random numbers: generators differ (test_random_ops)',
    'truncated_normal': 'random numbers: generators differ (test_random_ops)',
    'random_binomial': 'random numbers: generators differ (test_random_ops)',
    'dropout': 'random mask: generators differ (test_dropout)',
}

# Results that are host values (numpy arrays, Python numbers, shapes) by contract.
HOST_RESULTS = {'to_numpy', 'eval', 'get_value', 'batch_get_value', 'set_value',
                'batch_set_value', 'shape', 'int_shape', 'ndim', 'dtype'}


def _module_ops():
    ops = []
    for info in sorted(pkgutil.iter_modules(TB.__path__), key=lambda m: m.name):
        module = importlib.import_module('%s.%s' % (TB.__name__, info.name))
        ops += [(info.name, name) for name in getattr(module, '__all__', ())]
    return ops


def _composite_ops():
    names = {name for name, fn in vars(composite).items()
             if isinstance(fn, types.FunctionType) and fn.__module__ == composite.__name__
             and name != 'install'}
    defined = {name for _, name in _module_ops()}
    return [('composite', name) for name in sorted(names - defined)]


ALL_OPS = _module_ops() + _composite_ops()


def test_every_op_is_covered():
    missing = [name for _, name in ALL_OPS if name not in CASES and name not in NOT_COMPARED]
    assert not missing, 'tensorflow ops with no comparison case and no reason: %s' % missing


def test_every_numpy_and_torch_op_exists_on_tensorflow():
    """Issue 3: the three backends implement the same op set (names in __all__)."""
    def ops(package):
        return {name for info in pkgutil.iter_modules(package.__path__)
                for name in getattr(importlib.import_module(
                    '%s.%s' % (package.__name__, info.name)), '__all__', ())}
    backends = [NB]
    if 'torch' in K.available_backends():
        from kzoo.backend import torch_backend
        backends.append(torch_backend)
    tf_ops = set(dir(TB))
    for package in backends:
        missing = sorted(ops(package) - tf_ops - {'torch_dtype'})
        assert not missing, '%s ops missing from tensorflow: %s' % (package.__name__, missing)


@pytest.mark.parametrize('module,name', [op for op in ALL_OPS if op[1] in CASES],
                         ids=['%s.%s' % op for op in ALL_OPS if op[1] in CASES])
def test_op_matches_numpy(module, name):
    tf_op, np_op = getattr(TB, name), getattr(NB, name)
    for i, case in enumerate(CASES[name]):
        np_vars, tf_vars = [], []
        np_args = [_to_backend(a, NB, np_vars) for a in case.args]
        np_kwargs = {k: _to_backend(v, NB, np_vars) for k, v in case.kwargs.items()}
        tf_args = [_to_backend(a, TB, tf_vars) for a in case.args]
        tf_kwargs = {k: _to_backend(v, TB, tf_vars) for k, v in case.kwargs.items()}
        if name == 'batch_set_value':  # (variable, value) pairs
            np_args = [[(_to_backend(v, NB, np_vars), x) for v, x in case.args[0]]]
            tf_args = [[(_to_backend(v, TB, tf_vars), x) for v, x in case.args[0]]]
        expected = np_op(*np_args, **np_kwargs)
        actual = tf_op(*tf_args, **tf_kwargs)
        what = '%s case %d' % (name, i)
        if name not in HOST_RESULTS and expected is not None:
            assert _is_backend_tensor(actual), '%s returned %s, not a tf tensor' % (
                what, type(actual).__name__)
        _compare(_host(actual), _host(expected), what)
        if case.inplace:
            assert all(isinstance(v, tf.Variable) for v in tf_vars)
            _compare(_host(tf_vars), np_vars, what + ' (updated variables)')


# ---- ops checked on their own ---------------------------------------------------------

def test_type_predicates():
    t, v = TB.constant([1.]), TB.variable([1.])
    assert TB.is_tensor(t) and TB.is_tensor(v) and not TB.is_tensor(np.ones(1))
    assert TB.is_variable(v) and not TB.is_variable(t)


def test_variables_are_tf_variables_with_trainable_flag():
    v = TB.variable(np.ones((2, 2)), name='dense_1/kernel')
    frozen = TB.variable(np.ones(3), trainable=False)
    assert isinstance(v, tf.Variable) and v.trainable and not frozen.trainable
    before = v
    TB.set_value(v, np.full((2, 2), 3.))
    assert v is before and TB.get_value(v).tolist() == [[3., 3.], [3., 3.]]
    with pytest.raises(ValueError, match='shape'):
        TB.set_value(v, np.ones(3))


def test_no_grad():
    with TB.no_grad():
        y = TB.relu_plain(TB.constant([-1., 2.]))
    assert TB.to_numpy(y).tolist() == [0., 2.]


def test_tf_dtype():
    assert TB.tf_dtype('float32') == tf.float32
    assert TB.tf_dtype(np.dtype('int64')) == tf.int64


@pytest.mark.parametrize('name,args,kwargs', [
    ('random_uniform', ((3, 4),), {'minval': -2., 'maxval': 3.}),
    ('random_normal', ((3, 4),), {'mean': 1., 'stddev': 0.5}),
    ('truncated_normal', ((3, 4),), {'stddev': 2.}),
    ('random_binomial', ((3, 4),), {'p': 0.3}),
])
def test_random_ops(name, args, kwargs):
    op = getattr(TB, name)
    out = op(*args, **kwargs)
    assert isinstance(out, tf.Tensor) and tuple(out.shape) == args[0]
    assert TB.dtype(out) == 'float32' and TB.dtype(op(*args, dtype='float64', **kwargs)) == \
        'float64'
    a, b = op(*args, seed=7, **kwargs), op(*args, seed=7, **kwargs)
    assert np.array_equal(TB.to_numpy(a), TB.to_numpy(b)), 'same seed, same values'
    big = TB.to_numpy(op((20000,), seed=3, **kwargs)).astype('float64')
    if name == 'random_uniform':
        assert big.min() >= -2. and big.max() < 3. and abs(big.mean() - 0.5) < 0.05
    elif name == 'random_normal':
        assert abs(big.mean() - 1.) < 0.02 and abs(big.std() - 0.5) < 0.02
    elif name == 'truncated_normal':
        assert np.abs(big).max() <= 4. and abs(big.mean()) < 0.05
    else:
        assert set(np.unique(big)) <= {0., 1.} and abs(big.mean() - 0.3) < 0.02


@pytest.mark.parametrize('kwargs', [{}, {'seed': 5}, {'noise_shape': (4, 1)}])
def test_dropout(kwargs):
    x = np.full((4, 500), 2., 'float32')
    y = TB.to_numpy(TB.dropout(TB.constant(x), 0.25, **kwargs))
    assert y.shape == x.shape and set(np.unique(y)) <= {0., np.float32(2. / 0.75)}
    if 'noise_shape' in kwargs:  # one decision per row
        assert all(len(set(row)) == 1 for row in y)
    else:
        assert abs((y == 0).mean() - 0.25) < 0.05


# ---- selection and laziness -------------------------------------------------------------

def test_selected_by_name():
    with K.using('tensorflow'):
        assert K.backend() == 'tensorflow'
        assert isinstance(K.dot(K.ones((1, 2)), K.ones((2, 1))), tf.Tensor)


def _run(code, **env):
    full = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **env)
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=full, timeout=120)


def test_other_backends_do_not_import_tensorflow():
    done = _run('import sys, kzoo, kzoo.layers, kzoo.models\n'
                'from kzoo import backend as K\n'
                'K.set_backend("numpy"); K.dot(K.ones((1, 2)), K.ones((2, 1)))\n'
                'print("tensorflow" in sys.modules)', KZOO_BACKEND='numpy')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'False'


@pytest.mark.slow
def test_kzoo_backend_environment_variable_selects_tensorflow():
    done = _run('from kzoo import backend as K\nimport numpy as np\n'
                'from kzoo.layers import Dense\n'
                'print(K.backend(), type(K.ones((1,))).__module__.split(".")[0])\n'
                'print(Dense(2)(np.ones((1, 3), "float32")).shape)',
                KZOO_BACKEND='tensorflow')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ['tensorflow', 'tensorflow', '(1,', '2)']


def test_missing_tensorflow_makes_the_backend_unavailable():
    done = _run('import sys\nsys.modules["tensorflow"] = None  # as if not installed\n'
                'from kzoo import backend as K\nprint(K.available_backends())\n'
                'try:\n    K.set_backend("tensorflow")\n'
                'except Exception as e:\n    print(type(e).__name__)')
    assert done.returncode == 0, done.stderr
    assert done.stdout.split('\n')[:2] == ["['numpy', 'torch']" if 'torch' in
                                           K.available_backends() else "['numpy']",
                                           'BackendError']
