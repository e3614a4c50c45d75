"""Keras 1's Theano-kernel ``th`` weight files, converted on load (issue: the zoo).

The published files (deep-learning-models v0.2) cannot be downloaded here, and no
Keras 1 runs today. The oracle is therefore tf-keras running Keras 1's graphs (written
below from deep-learning-models' Keras 1 sources: InceptionV3's conv-ReLU-BN units and
average pool in mixed8, ResNet50's unpadded first pooling and 7x7 average pool), with
random weights. The test writes those weights the way Keras 1 on Theano saved them:
``layer_names``/``weight_names`` without ``:0`` and no ``keras_version``; kernels
flipped (true convolution) and stored ``(out, in, rows, cols)``; BatchNormalization as
gamma, beta, running_mean, running_std; the Dense rows after a Flatten in the raw
channels-first order. kzoo must predict what tf-keras predicts: 1e-4, scaled by the
output magnitude (tests/helpers.py).
"""
import dataclasses
import hashlib
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from kzoo import applications
from kzoo import backend as K
from kzoo.registry import get_application
from helpers import assert_matches
from loopback_server import LoopbackServer

tf_keras = pytest.importorskip('tf_keras')
L = tf_keras.layers


# ---- Keras 1's graphs, in tf-keras ---------------------------------------------------------

def _inception_unit(x, filters, rows, cols, padding='same', strides=(1, 1)):
    x = L.Conv2D(filters, (rows, cols), strides=strides, padding=padding,
                 activation='relu')(x)
    return L.BatchNormalization(axis=3, epsilon=1e-3)(x)


def keras1_inception_v3(include_top, size):
    c = _inception_unit
    inputs = L.Input((size, size, 3))
    x = c(inputs, 32, 3, 3, strides=(2, 2), padding='valid')
    x = c(x, 32, 3, 3, padding='valid')
    x = c(x, 64, 3, 3)
    x = L.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = c(x, 80, 1, 1, padding='valid')
    x = c(x, 192, 3, 3, padding='valid')
    x = L.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for i, pool_filters in enumerate((32, 64, 64)):
        b1 = c(x, 64, 1, 1)
        b5 = c(c(x, 48, 1, 1), 64, 5, 5)
        b3 = c(c(c(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
        bp = c(L.AveragePooling2D((3, 3), strides=(1, 1), padding='same')(x), pool_filters, 1, 1)
        x = L.concatenate([b1, b5, b3, bp], axis=3, name='mixed%d' % i)
    b3 = c(x, 384, 3, 3, strides=(2, 2), padding='valid')
    b3d = c(c(c(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=(2, 2), padding='valid')
    x = L.concatenate([b3, b3d, L.MaxPooling2D((3, 3), strides=(2, 2))(x)], axis=3,
                      name='mixed3')
    for i, width in enumerate((128, 160, 160, 192)):
        b1 = c(x, 192, 1, 1)
        b7 = c(c(c(x, width, 1, 1), width, 1, 7), 192, 7, 1)
        b7d = c(x, width, 1, 1)
        for filters, (r, cc) in ((width, (7, 1)), (width, (1, 7)), (width, (7, 1)),
                                 (192, (1, 7))):
            b7d = c(b7d, filters, r, cc)
        bp = c(L.AveragePooling2D((3, 3), strides=(1, 1), padding='same')(x), 192, 1, 1)
        x = L.concatenate([b1, b7, b7d, bp], axis=3, name='mixed%d' % (4 + i))
    b3 = c(c(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding='valid')
    b7 = c(c(c(c(x, 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, strides=(2, 2),
           padding='valid')
    x = L.concatenate([b3, b7, L.AveragePooling2D((3, 3), strides=(2, 2))(x)], axis=3,
                      name='mixed8')
    for i in range(2):
        b1 = c(x, 320, 1, 1)
        b3 = c(x, 384, 1, 1)
        b3 = L.concatenate([c(b3, 384, 1, 3), c(b3, 384, 3, 1)], axis=3, name='mixed9_%d' % i)
        b3d = c(c(x, 448, 1, 1), 384, 3, 3)
        b3d = L.concatenate([c(b3d, 384, 1, 3), c(b3d, 384, 3, 1)], axis=3)
        bp = c(L.AveragePooling2D((3, 3), strides=(1, 1), padding='same')(x), 192, 1, 1)
        x = L.concatenate([b1, b3, b3d, bp], axis=3, name='mixed%d' % (9 + i))
    if include_top:
        x = L.AveragePooling2D((8, 8), strides=(8, 8), name='avg_pool')(x)
        x = L.Flatten(name='flatten')(x)
        x = L.Dense(1000, activation='softmax', name='predictions')(x)
    return tf_keras.Model(inputs, x)


def _resnet_unit(x, filters, kernel, stride, name, relu=True):
    x = L.Conv2D(filters, kernel, strides=stride, padding='same' if kernel > 1 else 'valid',
                 name='res' + name)(x)
    x = L.BatchNormalization(axis=3, epsilon=1e-3, name='bn' + name)(x)
    return L.Activation('relu')(x) if relu else x


def keras1_resnet50(include_top, size):
    inputs = L.Input((size, size, 3))
    x = L.ZeroPadding2D((3, 3))(inputs)
    x = L.Conv2D(64, 7, strides=2, name='conv1')(x)
    x = L.BatchNormalization(axis=3, epsilon=1e-3, name='bn_conv1')(x)
    x = L.Activation('relu')(x)
    x = L.MaxPooling2D((3, 3), strides=(2, 2))(x)
    for stage, (filters, blocks, stride) in enumerate(
            ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), start=2):
        for block in range(blocks):
            name = '%d%s' % (stage, 'abcdef'[block])
            s = stride if block == 0 else 1
            y = _resnet_unit(x, filters, 1, s, name + '_branch2a')
            y = _resnet_unit(y, filters, 3, 1, name + '_branch2b')
            y = _resnet_unit(y, 4 * filters, 1, 1, name + '_branch2c', relu=False)
            shortcut = _resnet_unit(x, 4 * filters, 1, s, name + '_branch1', relu=False) \
                if block == 0 else x
            x = L.Activation('relu')(L.add([y, shortcut]))
    x = L.AveragePooling2D((7, 7), name='avg_pool')(x)
    if include_top:
        x = L.Dense(1000, activation='softmax', name='fc1000')(L.Flatten()(x))
    return tf_keras.Model(inputs, x)


def small_flatten_model():
    """Conv, Flatten, Dense: where the raw channels-first order of Keras 1 matters."""
    inputs = L.Input((9, 7, 3))
    x = L.Conv2D(4, 3, activation='relu', name='conv')(inputs)
    x = L.BatchNormalization(axis=3, epsilon=1e-3, name='bn')(x)
    x = L.Dense(5, name='fc')(L.Flatten(name='flatten')(x))
    return tf_keras.Model(inputs, x)


# ---- Keras 1's Theano file layout ------------------------------------------------------------

def _randomize(model, seed=0):
    """Random values everywhere, moving statistics included (variances positive)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for w in layer.weights:
            shape = tuple(w.shape)
            if 'moving_variance' in w.name:
                values.append(rng.uniform(0.5, 1.5, shape).astype('float32'))
            elif len(shape) > 1:
                fan_in = int(np.prod(shape[:-1]))
                values.append(rng.normal(0, (2.0 / fan_in) ** 0.5, shape).astype('float32'))
            else:
                values.append(rng.uniform(-0.2, 0.2, shape).astype('float32'))
        if values:
            layer.set_weights(values)


def write_keras1_th_file(model, path):
    """``model``'s weights as Keras 1 on Theano with ``dim_ordering='th'`` saved them."""
    suffixes = {'Conv2D': ('W', 'b'), 'Dense': ('W', 'b'),
                'BatchNormalization': ('gamma', 'beta', 'running_mean', 'running_std')}
    flattens = [l for l in model.layers if isinstance(l, L.Flatten)]
    with h5py.File(path, 'w') as f:
        f.attrs['layer_names'] = [l.name.encode() for l in model.layers]
        for layer in model.layers:
            group = f.create_group(layer.name)
            arrays = layer.get_weights()
            kind = type(layer).__name__
            if kind == 'Conv2D':
                # cross-correlation kernel -> Theano's true convolution, (out, in, r, c)
                arrays[0] = arrays[0][::-1, ::-1].transpose(3, 2, 0, 1)
            elif kind == 'Dense' and any(layer.input is fl.output for fl in flattens):
                flatten = next(fl for fl in flattens if layer.input is fl.output)
                rows, cols, channels = flatten.input.shape[1:]
                arrays[0] = arrays[0].reshape(rows, cols, channels, -1).transpose(
                    2, 0, 1, 3).reshape(rows * cols * channels, -1)
            names = ['%s_%s' % (layer.name, s) for s in suffixes.get(kind, ())][:len(arrays)]
            group.attrs['weight_names'] = [n.encode() for n in names]
            for name, value in zip(names, arrays):
                group.create_dataset(name, data=np.ascontiguousarray(value))


def _images(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype('float32')


ORACLES = {'InceptionV3': (keras1_inception_v3, 'tf'), 'ResNet50': (keras1_resnet50, 'caffe')}


@pytest.fixture(scope='module')
def th_files(tmp_path_factory):
    """Per (application, include_top): the th file under its published name, the
    preprocessed images and tf-keras's predictions (built once per module)."""
    cache = {}
    folder = tmp_path_factory.mktemp('keras1_th')

    def get(name, include_top, size):
        key = (name, include_top)
        if key not in cache:
            from kzoo.registry import imagenet
            tf_keras.backend.clear_session()
            build, mode = ORACLES[name]
            model = build(include_top, size)
            _randomize(model)
            card = get_application(name).card('imagenet-keras1', include_top)
            path = folder / card.file_name
            write_keras1_th_file(model, str(path))
            x = imagenet.preprocess_input(_images(size), mode=mode)
            cache[key] = (str(path), x, model.predict(x, verbose=0), model.count_params())
            del model
        return cache[key]
    return get


def _served_card(name, include_top, path):
    real = get_application(name).card('imagenet-keras1', include_top)
    with open(path, 'rb') as f:
        data = f.read()
    return real, data, hashlib.md5(data).hexdigest()


CASES = [('InceptionV3', True, 299), ('InceptionV3', False, 299),
         ('ResNet50', True, 224), ('ResNet50', False, 224)]


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize('name,include_top,size', CASES,
                         ids=['%s-%s' % (c[0], 'top' if c[1] else 'notop') for c in CASES])
def test_th_card_loads_into_keras1_graph_and_predicts_like_keras(th_files, name,
                                                                 include_top, size,
                                                                 monkeypatch):
    path, x, expected, keras_params = th_files(name, include_top, size)
    real, data, md5 = _served_card(name, include_top, path)
    from kzoo.registry import register_card
    with LoopbackServer({'/' + real.file_name: data}) as server:
        # the published card with the test file's hash and the loopback URL
        register_card(name, dataclasses.replace(real, urls=(server.url('/' + real.file_name),),
                                                file_hash=md5))
        try:
            model = getattr(applications, name)(
                weights='imagenet-keras1', include_top=include_top,
                input_shape=None if include_top else (size, size, 3))
        finally:
            _unregister(name, real)
    assert model.count_params() == keras_params
    if include_top:
        assert real.parameters == keras_params
    assert_matches(model.predict(x), expected, tol=1e-4, what='%s (Keras 1 th file)' % name)


def _unregister(name, real):
    from kzoo.registry.base import APPLICATIONS
    app = get_application(name)
    cards = list(app.cards)
    cards.pop(0)  # register_card put the test's card first
    APPLICATIONS.replace(app.name, dataclasses.replace(app, cards=tuple(cards)))


@pytest.mark.oracle
@pytest.mark.slow
def test_th_file_by_path_into_a_channels_first_model(th_files):
    """A published th file named by path, into a channels_first model on torch."""
    if 'torch' not in K.available_backends():
        pytest.skip('channels_first convolutions need the torch backend')
    path, x, expected, _ = th_files('ResNet50', True, 224)
    old = K.image_data_format()
    K.set_image_data_format('channels_first')
    try:
        with K.using('torch'):
            model = applications.ResNet50(weights=path)
            assert model.input_shape == (None, 3, 224, 224)
            actual = model.predict(x.transpose(0, 3, 1, 2))
    finally:
        K.set_image_data_format(old)
    assert_matches(actual, expected, tol=1e-4, what='ResNet50 channels_first (th file)')


@pytest.mark.oracle
@pytest.mark.parametrize('data_format', ['channels_last', 'channels_first'])
def test_th_file_dense_rows_after_flatten_follow_the_layout(tmp_path, data_format):
    """Keras 1's Flatten read channels-first data as it lay: the Dense rows of a th file
    are permuted for a channels_last model and for a channels_first one alike."""
    if data_format == 'channels_first' and 'torch' not in K.available_backends():
        pytest.skip('channels_first convolutions need the torch backend')
    oracle = small_flatten_model()
    _randomize(oracle, seed=3)
    path = str(tmp_path / 'small_weights_th_dim_ordering_th_kernels.h5')
    write_keras1_th_file(oracle, path)
    x = np.random.default_rng(4).normal(size=(3, 9, 7, 3)).astype('float32')
    expected = oracle.predict(x, verbose=0)

    from kzoo.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
    from kzoo.models import Model
    from kzoo.registry.weights import load_into
    channels_first = data_format == 'channels_first'
    with K.using('torch' if channels_first else K.backend()):
        inputs = Input((3, 9, 7) if channels_first else (9, 7, 3))
        y = Conv2D(4, 3, activation='relu', data_format=data_format, name='conv')(inputs)
        y = BatchNormalization(axis=1 if channels_first else 3, name='bn')(y)
        y = Dense(5, name='fc')(Flatten(data_format=data_format)(y))
        model = Model(inputs, y)
        load_into(model, path)  # the file name says th: converted
        actual = model.predict(x.transpose(0, 3, 1, 2) if channels_first else x)
    assert_matches(actual, expected, tol=1e-5, what='Dense after Flatten (%s)' % data_format)


@pytest.mark.slow
def test_kzoo_get_imagenet_keras1_downloads_verifies_and_converts(th_files, tmp_path):
    path, x, expected, _ = th_files('ResNet50', False, 224)
    real, data, md5 = _served_card('ResNet50', False, path)
    script = (
        'import sys, dataclasses\n'
        'from kzoo.registry import get_application, register_card\n'
        'real = get_application("ResNet50").card("imagenet-keras1", include_top=False)\n'
        'register_card("ResNet50", dataclasses.replace(real, urls=(sys.argv[1],), '
        'file_hash=sys.argv[2]))\n'
        'from kzoo.cli import main\n'
        'sys.exit(main(["get", "ResNet50", "--weights", "imagenet-keras1", "--no-top", '
        '"-o", sys.argv[3]]))\n')
    out_file = tmp_path / 'resnet50_keras1.h5'
    with LoopbackServer({'/' + real.file_name: data}) as server:
        result = subprocess.run([sys.executable, '-c', script,
                                 server.url('/' + real.file_name), md5, str(out_file)],
                                capture_output=True, text=True, timeout=600,
                                env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert real.file_name in result.stdout
    from kzoo.models import load_model
    model = load_model(str(out_file))
    assert_matches(model.predict(x), expected, tol=1e-4, what='ResNet50 keras1 via kzoo get')


def test_th_cards_are_listed_with_their_published_hashes():
    expected = {('InceptionV3', True): 'b3baf3070cc4bf476d43a2ea61b0ca5f',
                ('InceptionV3', False): '79aaa90ab4372b4593ba3df64e142f05',
                ('ResNet50', True): '1c1f8f5b0c8ee28fe9d950625a230e1c',
                ('ResNet50', False): 'f64f049c92468c9affcd44b0976cdafe'}
    for (name, include_top), md5 in expected.items():
        card = get_application(name).card('imagenet-keras1', include_top)
        assert (card.file_hash, card.kernels, card.data_format, card.architecture) == \
            (md5, 'theano', 'channels_first', 'keras1')
        assert '_th_dim_ordering_th_kernels' in card.file_name
    # Keras's own weights stay the default
    assert get_application('ResNet50').card('imagenet', True).kernels == 'tensorflow'
