"""Convolution layers against Keras 3 (tf_keras where Keras 3 refuses a case: dilated
transposed convolutions, causal separable 1D), and Keras 1's ``full`` padding against
``scipy.signal.correlate(mode='full')``, on every kzoo backend.

Each case builds the kzoo layer, gives it seeded weights, and compares its output with
the Keras layer's on the same weights and inputs: ``assert_matches(..., 1e-5)`` (largest
difference scaled by ``max(1, max|expected|)``, float32). The same case checks
``compute_output_shape`` and that ``get_config`` -> JSON -> ``from_config`` gives the same
config and exactly the same output. TensorFlow's CPU kernels do not run channels_first
convolutions, so channels_first oracle values come from the channels_last Keras layer on
transposed inputs (same kernel: its layout does not depend on data_format).
"""
import itertools

import numpy as np
import pytest

from helpers import assert_matches, seeded_weights
from keras_oracle import (built, check_config_exchange, check_layer, json_config, keras_output,
                          keras_output_shape, library)
from kzoo import layers as kl
from kzoo.engine.network import deserialize_layer
from kzoo.errors import ConfigError, ShapeError

pytestmark = pytest.mark.oracle
scipy_signal = pytest.importorskip('scipy.signal')

RNG = np.random.default_rng(3)
ACTIVATIONS = [None, 'relu', 'tanh']


def data(*shape):
    return RNG.uniform(-1., 1., shape).astype('float32')


def images(shape_last, data_format):
    """Inputs with the spatial and channel sizes of ``shape_last`` in ``data_format``."""
    x = data(*shape_last)
    return x if data_format == 'channels_last' else np.ascontiguousarray(np.moveaxis(x, -1, 1))


def grid(paddings, stride_dilation, formats=('channels_last', 'channels_first')):
    """Every padding x (strides, dilation) x data_format, with use_bias and activation
    cycling so that each appears in several combinations."""
    cases = []
    for i, (padding, (s, d), fmt) in enumerate(itertools.product(paddings, stride_dilation,
                                                                   formats)):
        cases.append(dict(padding=padding, strides=s, dilation_rate=d, data_format=fmt,
                          use_bias=i % 2 == 0, activation=ACTIVATIONS[i % 3]))
    return cases


def ids(cases):
    return ['-'.join('%s' % (v,) for v in c.values()) for c in cases]


def check_conv(class_name, kwargs, shape_last, lib='keras', **fixed):
    """kzoo ``class_name(**fixed, **kwargs)`` against Keras's, on inputs of channels_last
    shape ``shape_last`` laid out in the case's data_format."""
    kwargs = dict(fixed, **kwargs)
    x = images(shape_last, kwargs.get('data_format', 'channels_last'))
    layer, out = check_layer(getattr(kl, class_name), kwargs, x, class_name, lib=lib,
                             via_channels_last=kwargs.get('data_format') == 'channels_first')
    # Output shapes with unknown dimensions, as Keras computes them.
    unknown = list((None,) + x.shape[1:])
    unknown[1 if kwargs.get('data_format', 'channels_last') == 'channels_last' else 2] = None
    assert tuple(layer.compute_output_shape(tuple(unknown))) == keras_output_shape(
        class_name, kwargs, unknown, lib)
    return layer, out


# ---- Conv1D / Conv2D / Conv3D ------------------------------------------------------------------

SD = [(1, 1), (2, 1), (1, 2)]
CONV1D = grid(['valid', 'same', 'causal'], SD)
CONV2D = grid(['valid', 'same'], SD)
CONV2D_SLOW = grid(['valid', 'same'], [(3, 1), ((2, 1), 1), (1, (2, 3)), (1, 3)])
CONV3D = grid(['valid', 'same'], [(1, 1), ((1, 2, 1), 1), (1, (2, 1, 1))])


@pytest.mark.parametrize('kwargs', CONV1D, ids=ids(CONV1D))
def test_conv1d(kbackend, kwargs):
    check_conv('Conv1D', kwargs, (2, 9, 3), filters=4, kernel_size=3)


@pytest.mark.parametrize('kwargs', CONV2D, ids=ids(CONV2D))
def test_conv2d(kbackend, kwargs):
    check_conv('Conv2D', kwargs, (2, 7, 6, 3), filters=4, kernel_size=(3, 2))


@pytest.mark.slow
@pytest.mark.parametrize('kernel', [1, (2, 2), (3, 3)])
@pytest.mark.parametrize('kwargs', CONV2D_SLOW, ids=ids(CONV2D_SLOW))
def test_conv2d_more(kbackend, kwargs, kernel):
    check_conv('Conv2D', kwargs, (2, 9, 8, 2), filters=3, kernel_size=kernel)


@pytest.mark.parametrize('data_format', ['channels_last', 'channels_first'])
def test_conv2d_groups(kbackend, data_format):
    check_conv('Conv2D', dict(padding='same', data_format=data_format), (2, 6, 5, 4),
               filters=6, kernel_size=3, groups=2)


@pytest.mark.parametrize('kwargs', CONV3D, ids=ids(CONV3D))
def test_conv3d(kbackend, kwargs):
    check_conv('Conv3D', kwargs, (2, 5, 6, 4, 2), filters=3, kernel_size=(2, 3, 2))


# ---- Keras 1 'full' padding against scipy ---------------------------------------------------

def correlate_full(x, kernel, bias, strides, dilation):
    """channels_last reference: sum over input channels of full cross-correlations."""
    n = kernel.ndim - 2
    dilated = np.zeros(tuple((k - 1) * d + 1 for k, d in zip(kernel.shape[:n], dilation))
                       + kernel.shape[n:], kernel.dtype)
    dilated[tuple(slice(None, None, d) for d in dilation)] = kernel
    out = []
    for sample in x.astype('float64'):
        maps = []
        for o in range(kernel.shape[-1]):
            acc = sum(scipy_signal.correlate(sample[..., c], dilated[..., c, o], mode='full')
                      for c in range(kernel.shape[-2]))
            maps.append(acc[tuple(slice(None, None, s) for s in strides)] + bias[o])
        out.append(np.stack(maps, axis=-1))
    return np.stack(out)


FULL = [(cls, shape, s, d, fmt)
        for cls, shape in [('Conv1D', (2, 7, 3)), ('Conv2D', (2, 6, 5, 2)),
                           ('Conv3D', (1, 4, 5, 3, 2))]
        for s, d in [(1, 1), (2, 1), (1, 2)]
        for fmt in ('channels_last', 'channels_first')]


@pytest.mark.parametrize('cls,shape,strides,dilation,data_format', FULL)
def test_full_padding_matches_scipy(kbackend, cls, shape, strides, dilation, data_format):
    n = len(shape) - 2
    kernel_size = (3, 2, 2)[:n]
    layer, weights = built(getattr(kl, cls)(2, kernel_size, strides=strides, padding='full',
                                            dilation_rate=dilation, data_format=data_format),
                           images(shape, data_format).shape)
    x_last = data(*shape)
    x = x_last if data_format == 'channels_last' else np.moveaxis(x_last, -1, 1)
    expected = correlate_full(x_last, weights[0], weights[1], (strides,) * n, (dilation,) * n)
    if data_format == 'channels_first':
        expected = np.moveaxis(expected, -1, 1)
    assert_matches(layer(np.ascontiguousarray(x)), expected, 1e-5)
    assert layer.compute_output_shape((None,) + x.shape[1:]) == (None,) + expected.shape[1:]
    # Keras 1 spelling: border_mode='full'.
    k1 = {'Conv1D': lambda: kl.Convolution1D(2, 3, border_mode='full'),
          'Conv2D': lambda: kl.Convolution2D(2, 3, 2, border_mode='full'),
          'Conv3D': lambda: kl.Convolution3D(2, 3, 2, 2, border_mode='full')}[cls]()
    assert k1.padding == 'full'


# ---- depthwise, separable ---------------------------------------------------------------------

DEPTHWISE = [dict(c, depth_multiplier=m) for c, m in zip(
    grid(['valid', 'same'], SD), itertools.cycle([1, 2, 3]))]


@pytest.mark.parametrize('kwargs', DEPTHWISE, ids=ids(DEPTHWISE))
def test_depthwise_conv2d(kbackend, kwargs):
    check_conv('DepthwiseConv2D', kwargs, (2, 7, 6, 3), kernel_size=(3, 2))


@pytest.mark.parametrize('kwargs', DEPTHWISE[::2], ids=ids(DEPTHWISE[::2]))
def test_depthwise_conv1d(kbackend, kwargs):
    check_conv('DepthwiseConv1D', kwargs, (2, 9, 3), kernel_size=3)


@pytest.mark.parametrize('kwargs', DEPTHWISE, ids=ids(DEPTHWISE))
def test_separable_conv2d(kbackend, kwargs):
    check_conv('SeparableConv2D', kwargs, (2, 7, 6, 3), filters=4, kernel_size=(3, 2))


@pytest.mark.parametrize('kwargs', DEPTHWISE[::2], ids=ids(DEPTHWISE[::2]))
def test_separable_conv1d(kbackend, kwargs):
    check_conv('SeparableConv1D', kwargs, (2, 9, 3), filters=4, kernel_size=3)


def test_separable_conv1d_causal_tf_keras(kbackend):
    # Keras 3 refuses causal padding here; tf.keras (Keras 2) had it.
    check_conv('SeparableConv1D', dict(padding='causal', depth_multiplier=2, dilation_rate=2),
               (2, 9, 3), lib='tf_keras', filters=4, kernel_size=3)


# ---- transposed -----------------------------------------------------------------------------

TRANSPOSE = [dict(padding=p, strides=s, output_padding=op, data_format=f,
                  use_bias=i % 2 == 0, activation=ACTIVATIONS[i % 3])
             for i, (p, (s, op), f) in enumerate(itertools.product(
                 ['valid', 'same'], [(1, None), (2, None), (2, 1), (3, 2), ((2, 3), (0, 1))],
                 ['channels_last', 'channels_first']))]


@pytest.mark.parametrize('kwargs', TRANSPOSE, ids=ids(TRANSPOSE))
def test_conv2d_transpose(kbackend, kwargs):
    check_conv('Conv2DTranspose', kwargs, (2, 5, 4, 2), filters=3, kernel_size=(3, 2))


@pytest.mark.parametrize('kwargs', TRANSPOSE[::3], ids=ids(TRANSPOSE[::3]))
def test_conv1d_and_3d_transpose(kbackend, kwargs):
    kwargs1 = dict(kwargs, strides=int(np.ravel(kwargs['strides'])[0]),
                   output_padding=None if kwargs['output_padding'] is None
                   else int(np.ravel(kwargs['output_padding'])[-1]))
    check_conv('Conv1DTranspose', kwargs1, (2, 6, 2), filters=3, kernel_size=3)
    check_conv('Conv3DTranspose', kwargs1, (1, 4, 3, 3, 2), filters=2, kernel_size=(2, 3, 2))


@pytest.mark.parametrize('padding', ['valid', 'same'])
def test_conv2d_transpose_dilated_tf_keras(kbackend, padding):
    # Keras 3's TensorFlow CPU kernel refuses dilation here; tf.keras computes it.
    check_conv('Conv2DTranspose', dict(padding=padding, dilation_rate=2), (2, 5, 4, 2),
               lib='tf_keras', filters=3, kernel_size=3)


def test_output_padding_must_be_below_strides():
    with pytest.raises(ConfigError, match='output_padding'):
        kl.Conv2DTranspose(3, 3, strides=2, output_padding=2)


# ---- Keras 1 names and seed-era signatures ----------------------------------------------------

def same_config(a, b):
    ca, cb = json_config(a), json_config(b)
    ca.pop('name'), cb.pop('name')
    assert ca == cb
    assert type(a) is type(b)


def test_keras1_positional_signatures():
    same_config(kl.Convolution2D(8, 3, 5, border_mode='same', subsample=(2, 1), dim_ordering='th',
                                 init='he_normal', bias=False, activation='relu'),
                kl.Conv2D(8, (3, 5), strides=(2, 1), padding='same', data_format='channels_first',
                          kernel_initializer='he_normal', use_bias=False, activation='relu'))
    same_config(kl.Convolution2D(8, 3, 3, 'uniform', 'tanh'),
                kl.Conv2D(8, 3, kernel_initializer='uniform', activation='tanh'))
    # The Keras 2 aliases of these names keep Keras 2's positional meaning.
    same_config(kl.Convolution2D(8, (3, 3), strides=2), kl.Conv2D(8, 3, strides=2))
    same_config(kl.Convolution2D(8, (3, 3), (2, 1)), kl.Conv2D(8, 3, strides=(2, 1)))
    same_config(kl.Convolution2D(8, 3), kl.Conv2D(8, 3))
    same_config(kl.Convolution1D(4, 5, 2), kl.Conv1D(4, 5, strides=2))
    same_config(kl.Convolution1D(4, 5, 'he_normal'), kl.Conv1D(4, 5,
                                                               kernel_initializer='he_normal'))
    same_config(kl.SeparableConvolution2D(4, (3, 3), 2), kl.SeparableConv2D(4, 3, strides=2))
    same_config(kl.SeparableConvolution2D(4, 3, 2), kl.SeparableConv2D(4, (3, 2)))  # Keras 1
    same_config(kl.Deconvolution2D(3, 3, 3), kl.Conv2DTranspose(3, 3))
    same_config(kl.Convolution1D(4, 5, subsample_length=2, border_mode='causal'),
                kl.Conv1D(4, 5, strides=2, padding='causal'))
    same_config(kl.AtrousConvolution2D(4, 3, 3, atrous_rate=(2, 2), dim_ordering='tf'),
                kl.Conv2D(4, 3, dilation_rate=2, data_format='channels_last'))
    same_config(kl.AtrousConvolution1D(4, 3, atrous_rate=2), kl.Conv1D(4, 3, dilation_rate=2))
    same_config(kl.Convolution3D(4, 1, 2, 3, subsample=(1, 1, 2)),
                kl.Conv3D(4, (1, 2, 3), strides=(1, 1, 2)))
    same_config(kl.SeparableConvolution2D(4, 3, 3, init='he_uniform', depth_multiplier=2),
                kl.SeparableConv2D(4, 3, depth_multiplier=2, depthwise_initializer='he_uniform',
                                   pointwise_initializer='he_uniform'))
    same_config(kl.Deconvolution2D(3, 3, 3, (None, 15, 15, 3), subsample=(2, 2)),
                kl.Conv2DTranspose(3, 3, strides=2))
    conv1d = kl.Convolution1D(4, 3, input_dim=5, input_length=10)
    assert conv1d.get_config()['batch_input_shape'] == (None, 10, 5)


def test_keras1_configs_load_by_name():
    # Convolution2D config exactly as Keras 1.2.2 wrote it (dl4j batch_to_conv2d_tensorflow_1).
    config = {"name": "convolution2d_1", "trainable": True, "nb_filter": 5, "nb_row": 3,
              "nb_col": 3, "init": "glorot_uniform", "activation": "linear",
              "border_mode": "valid", "subsample": [1, 1], "dim_ordering": "tf",
              "W_regularizer": None, "b_regularizer": None, "activity_regularizer": None,
              "W_constraint": None, "b_constraint": None, "bias": True,
              "batch_input_shape": [None, 8, 8, 3], "input_dtype": "float32"}
    layer = deserialize_layer({'class_name': 'Convolution2D', 'config': config})
    assert type(layer) is kl.Conv2D and layer.name == 'convolution2d_1'
    written = layer.get_config()
    assert written['filters'] == 5 and written['kernel_size'] == (3, 3)
    assert written['padding'] == 'valid' and written['data_format'] == 'channels_last'
    assert not {'nb_filter', 'border_mode', 'subsample', 'dim_ordering'} & set(written)
    conv1d = deserialize_layer({'class_name': 'Convolution1D', 'config': {
        'name': 'c1', 'nb_filter': 2, 'filter_length': 3, 'subsample_length': 1,
        'border_mode': 'same', 'input_dim': 4, 'input_length': 7, 'init': 'glorot_uniform',
        'activation': 'relu', 'bias': True}})
    assert type(conv1d) is kl.Conv1D and conv1d.get_config()['batch_input_shape'] == (None, 7, 4)
    for name in ('AtrousConvolution2D', 'Deconvolution2D', 'SeparableConvolution2D',
                 'Convolution3D', 'AtrousConvolution1D'):
        layer = deserialize_layer({'class_name': name, 'config': _k1_config(name)})
        assert type(layer).__name__ in ('Conv1D', 'Conv2D', 'Conv3D', 'Conv2DTranspose',
                                        'SeparableConv2D')


def _k1_config(name):
    sizes = {'AtrousConvolution1D': {'filter_length': 3},
             'Convolution3D': {'kernel_dim1': 1, 'kernel_dim2': 2, 'kernel_dim3': 3}}
    config = {'nb_filter': 2, 'border_mode': 'same'}
    config.update(sizes.get(name, {'nb_row': 3, 'nb_col': 3}))
    if name == 'Deconvolution2D':
        config['output_shape'] = [None, 8, 8, 2]
    return config


def test_deconvolution2d_output_shape_becomes_output_padding(kbackend):
    # Keras 1 named the output shape; 16 from 7 at stride 2 is output_padding 1.
    layer = kl.Deconvolution2D(3, 3, 3, (None, 16, 16, 3), subsample=(2, 2))
    layer, weights = built(layer, (2, 7, 7, 2))
    assert layer.output_padding == (1, 1)
    x = data(2, 7, 7, 2)
    expected = keras_output('Conv2DTranspose', dict(filters=3, kernel_size=3, strides=2,
                                                    output_padding=1), x, weights)
    assert_matches(layer(x), expected)
    with pytest.raises(ConfigError, match='output_shape'):
        built(kl.Deconvolution2D(3, 3, 3, (None, 19, 19, 3), subsample=(2, 2)), (2, 7, 7, 2))


def test_errors_name_the_layer():
    with pytest.raises(ConfigError, match='padding'):
        kl.Conv2D(2, 3, padding='causal')
    with pytest.raises(ConfigError, match='kernel_size'):
        kl.Conv2D(2, (3, 3, 3))
    with pytest.raises(ConfigError, match='data_format'):
        kl.Conv2D(2, 3, data_format='nhwc')
    with pytest.raises(ShapeError, match='my_conv'):
        built(kl.Conv2D(2, 3, name='my_conv'), (2, 5, 5))
    with pytest.raises(ShapeError, match='channel'):
        built(kl.Conv2D(2, 3, name='c'), (2, 5, 5, None))


def test_seeded_weights_shapes_match_keras_order():
    # kzoo and Keras agree on the weight order and shapes of every convolution layer.
    keras = library('keras')
    pairs = [(kl.SeparableConv2D(4, 3, depth_multiplier=2),
              keras.layers.SeparableConv2D(4, 3, depth_multiplier=2)),
             (kl.DepthwiseConv2D(3, depth_multiplier=2),
              keras.layers.DepthwiseConv2D(3, depth_multiplier=2)),
             (kl.Conv2DTranspose(4, 3), keras.layers.Conv2DTranspose(4, 3)),
             (kl.Conv2D(6, 3, groups=3), keras.layers.Conv2D(6, 3, groups=3))]
    for kz, ke in pairs:
        built(kz, (1, 6, 6, 3))
        ke.build((None, 6, 6, 3))
        assert [w.shape for w in kz.get_weights()] == [tuple(w.shape) for w in ke.weights]
    assert seeded_weights([(2,)])[0].dtype == np.float32


CONFIG_CLASSES = [('Conv1D', (2, 3)), ('Conv2D', (2, 3)), ('Conv3D', (2, 3)),
                  ('SeparableConv1D', (2, 3)), ('SeparableConv2D', (2, 3)),
                  ('DepthwiseConv1D', (3,)), ('DepthwiseConv2D', (3,)),
                  ('Conv1DTranspose', (2, 3)), ('Conv2DTranspose', (2, 3)),
                  ('Conv3DTranspose', (2, 3))]


@pytest.mark.parametrize('lib', ['keras', 'tf_keras'])
@pytest.mark.parametrize('class_name,args', CONFIG_CLASSES)
def test_configs_exchange_with_keras(class_name, args, lib):
    check_config_exchange(class_name, args, lib)


# ---- torch: channels_last data runs without layout copies ------------------------------------

def test_torch_channels_last_runs_without_copies():
    torch = pytest.importorskip('torch')
    from kzoo import backend as K
    with K.using('torch'):
        layers = [kl.Conv2D(8, 3, padding='same'), kl.DepthwiseConv2D(3, padding='same'),
                  kl.SeparableConv2D(8, 3, padding='same'), kl.BatchNormalization(),
                  kl.MaxPooling2D(3, strides=1, padding='same'),
                  kl.AveragePooling2D(3, strides=1, padding='same')]
        x = torch.tensor(data(2, 9, 9, 8))
        for layer in layers:
            built(layer, x.shape)
            with torch.no_grad():
                layer(x)  # prepares the torch-layout weights once
                with torch.autograd.profiler.profile() as prof:
                    y = layer(x)
            copies = [e.name for e in prof.function_events
                      if e.name in ('aten::contiguous', 'aten::clone', 'aten::copy_')]
            assert not copies, (layer, copies)
            assert y.is_contiguous()  # (N, H, W, C) in memory order, ready for the next layer


def test_new_weights_are_used_after_set_weights(kbackend):
    x = data(2, 6, 5, 3)
    layer, _ = built(kl.Conv2D(4, 3), x.shape)
    layer(x)
    weights = seeded_weights([(3, 3, 3, 4), (4,)], seed=9)
    layer.set_weights(weights)
    assert_matches(layer(x), keras_output('Conv2D', dict(filters=4, kernel_size=3), x, weights))
