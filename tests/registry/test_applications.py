"""The zoo against Keras's own applications (tf-keras oracle).

The real ImageNet files cannot be downloaded here, so each test writes the weights of
tf-keras's application (random initialization) into the published file name and
layout with tf-keras's ``save_weights``, loads that file into kzoo's model, and
compares predictions on the same preprocessed images. Tolerance: 1e-4, scaled by the
output magnitude (tests/helpers.py).
"""
import dataclasses
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from kzoo import applications
from kzoo.errors import ConfigError, HashMismatchError
from kzoo.registry import get_application
from kzoo.registry.weights import fetch
from helpers import assert_matches
from loopback_server import LoopbackServer

tf_keras = pytest.importorskip('tf_keras')

# (application, include_top, input size used when there is no top: small keeps it fast)
CASES = [
    ('VGG16', False, 64), ('VGG16', True, 224),
    ('VGG19', False, 64), ('VGG19', True, 224),
    ('ResNet50', False, 64), ('ResNet50', True, 224),
    ('InceptionV3', False, 96), ('InceptionV3', True, 299),
]
KERAS_BUILDERS = {
    'VGG16': lambda **kw: tf_keras.applications.VGG16(**kw),
    'VGG19': lambda **kw: tf_keras.applications.VGG19(**kw),
    'ResNet50': lambda **kw: tf_keras.applications.ResNet50(**kw),
    'InceptionV3': lambda **kw: tf_keras.applications.InceptionV3(**kw),
}
KERAS_PREPROCESS = {
    'VGG16': tf_keras.applications.vgg16.preprocess_input,
    'VGG19': tf_keras.applications.vgg19.preprocess_input,
    'ResNet50': tf_keras.applications.resnet50.preprocess_input,
    'InceptionV3': tf_keras.applications.inception_v3.preprocess_input,
}


def _images(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype('float32')


@pytest.fixture(scope='module')
def keras_weight_files(tmp_path_factory):
    """Per case: the weight file tf-keras writes under the published name, and Keras's
    predictions on preprocessed images (computed once per module)."""
    cache = {}
    folder = tmp_path_factory.mktemp('keras_weights')

    def get(name, include_top, size):
        key = (name, include_top)
        if key not in cache:
            tf_keras.backend.clear_session()
            shape = None if include_top else (size, size, 3)
            model = KERAS_BUILDERS[name](weights=None, include_top=include_top,
                                         input_shape=shape)
            card = get_application(name).card('imagenet', include_top)
            path = folder / card.file_name
            model.save_weights(str(path))
            x = KERAS_PREPROCESS[name](_images(size).copy())
            cache[key] = (str(path), x, model.predict(x, verbose=0), model.count_params())
            del model
        return cache[key]
    return get


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize('name,include_top,size', CASES,
                         ids=['%s-%s' % (c[0], 'top' if c[1] else 'notop') for c in CASES])
def test_keras_weight_file_loads_and_predicts_like_keras(keras_weight_files, name, include_top,
                                                         size):
    path, x, expected, keras_params = keras_weight_files(name, include_top, size)
    builder = getattr(applications, name)
    model = builder(weights=path, include_top=include_top,
                    input_shape=None if include_top else (size, size, 3))
    assert model.count_params() == keras_params
    assert_matches(model.predict(x), expected, tol=1e-4, what='%s predictions' % name)


@pytest.mark.parametrize('name', ['VGG16', 'VGG19', 'ResNet50', 'InceptionV3'])
def test_layer_names_and_parameter_counts_match_keras(name):
    size = 299 if name == 'InceptionV3' else 224
    keras_model = KERAS_BUILDERS[name](weights=None, include_top=True)
    model = getattr(applications, name)(weights=None, include_top=True)
    card = get_application(name).card('imagenet', True)
    assert model.count_params() == keras_model.count_params() == card.parameters
    named = [l.name for l in keras_model.layers if not l.name.startswith(
        ('conv2d', 'batch_normalization', 'activation', 'average_pooling2d', 'max_pooling2d',
         'concatenate', 'input'))]
    ours = {l.name for l in model.layers}
    assert set(named) <= ours, sorted(set(named) - ours)
    assert model.input_shape == (None, size, size, 3)
    assert model.output_shape == (None, 1000)


def test_preprocess_input_matches_keras():
    x = _images(8, n=3)
    for module, keras_fn in (('vgg16', KERAS_PREPROCESS['VGG16']),
                             ('resnet50', KERAS_PREPROCESS['ResNet50']),
                             ('inception_v3', KERAS_PREPROCESS['InceptionV3'])):
        ours = getattr(applications, module).preprocess_input(x)
        np.testing.assert_allclose(ours, keras_fn(x.copy()), rtol=1e-6, atol=1e-5)
    from tf_keras.src.applications import imagenet_utils as keras_utils
    from kzoo.registry import imagenet
    for mode in ('caffe', 'tf', 'torch'):
        for data_format in ('channels_last', 'channels_first'):
            xx = x if data_format == 'channels_last' else x.transpose(0, 3, 1, 2)
            np.testing.assert_allclose(
                imagenet.preprocess_input(xx, data_format=data_format, mode=mode),
                keras_utils.preprocess_input(xx.copy(), data_format=data_format, mode=mode),
                rtol=1e-6, atol=1e-5)
    before = x.copy()
    applications.vgg16.preprocess_input(x)
    np.testing.assert_array_equal(x, before)  # the caller's array is not modified


def test_decode_predictions_matches_keras():
    from tf_keras.src.applications import imagenet_utils as keras_utils
    from kzoo.registry import imagenet
    with open(imagenet.CLASS_INDEX_FILE, 'rb') as f:
        # the bundled file is the one Keras downloads (hash published by Keras)
        assert hashlib.md5(f.read()).hexdigest() == 'c2c37ea517e94d9795004a39431a14cb'
    keras_utils.CLASS_INDEX = imagenet.class_index()  # Keras would download it otherwise
    preds = np.random.default_rng(1).random((3, 1000)).astype('float32')
    assert applications.resnet50.decode_predictions(preds, top=7) == \
        keras_utils.decode_predictions(preds, top=7)
    with pytest.raises(Exception):
        applications.vgg16.decode_predictions(np.zeros((2, 10)))


@pytest.mark.parametrize('kwargs,match', [
    (dict(weights='imagenet', include_top=True, input_shape=(128, 128, 3)), 'input_shape'),
    (dict(weights='imagenet', include_top=True, classes=10), 'classes'),
    (dict(weights='/no/such/file.h5'), 'weights'),
    (dict(weights=None, include_top=False, input_shape=(16, 16, 3)), 'at least'),
    (dict(weights='imagenet', include_top=False, input_shape=(64, 64, 1)), 'channels'),
])
def test_impossible_requests_are_refused_clearly(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        applications.VGG16(**kwargs)


def test_pooling_options_and_input_tensor():
    from kzoo.layers import Input
    for pooling, keras_pooling in (('avg', 'avg'), ('max', 'max')):
        ours = applications.VGG16(weights=None, include_top=False, pooling=pooling,
                                  input_shape=(32, 32, 3))
        theirs = tf_keras.applications.VGG16(weights=None, include_top=False,
                                             pooling=keras_pooling, input_shape=(32, 32, 3))
        assert ours.output_shape == theirs.output_shape
    tensor = Input(shape=(48, 48, 3))
    model = applications.ResNet50(weights=None, include_top=False, input_tensor=tensor)
    assert model.inputs == [tensor]


@pytest.fixture(scope='module')
def served_vgg16_notop(keras_weight_files):
    path, x, expected, _ = keras_weight_files('VGG16', False, 64)
    with open(path, 'rb') as f:
        data = f.read()
    return os.path.basename(path), data, x, expected


@pytest.mark.slow
def test_published_hash_is_enforced(served_vgg16_notop, tmp_path):
    name, data, _, _ = served_vgg16_notop
    real = get_application('VGG16').card('imagenet', include_top=False)
    with LoopbackServer({'/' + name: data}) as server:
        card = dataclasses.replace(real, urls=(server.url('/' + name),))
        with pytest.raises(HashMismatchError) as info:
            fetch(card)
    assert real.file_hash in str(info.value)
    # nothing of the refused file stays in the cache (lock files hold no data)
    leftovers = [p for p in __import__('pathlib').Path(os.environ['KZOO_HOME']).rglob(name + '*')
                 if not p.name.endswith('.lock')]
    assert leftovers == []


@pytest.mark.slow
def test_kzoo_get_downloads_verifies_caches_and_builds(served_vgg16_notop, tmp_path):
    name, data, x, expected = served_vgg16_notop
    md5 = hashlib.md5(data).hexdigest()
    script = (
        'import sys, dataclasses\n'
        'from kzoo.registry import get_application, register_card\n'
        'real = get_application("VGG16").card("imagenet", include_top=False)\n'
        'register_card("VGG16", dataclasses.replace(real, urls=(sys.argv[1],), '
        'file_hash=sys.argv[2]))\n'
        'from kzoo.cli import main\n'
        'sys.exit(main(["get", "VGG16", "--no-top", "-o", sys.argv[3]]))\n')
    out_file = tmp_path / 'vgg16_notop.h5'
    with LoopbackServer({'/' + name: data}) as server:
        for attempt in range(2):  # the second run is served from the cache
            result = subprocess.run([sys.executable, '-c', script, server.url('/' + name), md5,
                                     str(out_file)], capture_output=True, text=True,
                                    timeout=600, env=dict(os.environ))
            assert result.returncode == 0, result.stderr
            assert 'weights: ' in result.stdout and name in result.stdout
        assert server.count('/' + name) == 1
    cached = [p for p in __import__('pathlib').Path(os.environ['KZOO_HOME']).rglob(name)]
    assert cached, 'the verified file is in the cache under its published name'
    from kzoo.models import load_model
    model = load_model(str(out_file))
    assert_matches(model.predict(x), expected, tol=1e-4, what='VGG16 from kzoo get -o')


KZOO = os.path.join(os.path.dirname(sys.executable), 'kzoo')  # the venv's console script


def _run_cli(*args, timeout=600):
    return subprocess.run([KZOO] + list(args), capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def test_cli_list_and_help():
    result = _run_cli('list')
    assert result.returncode == 0
    for name in ('VGG16', 'VGG19', 'ResNet50', 'InceptionV3'):
        assert name in result.stdout
    assert '138,357,544' in result.stdout
    for command in ('list', 'get', 'predict', 'plot', 'info', 'cache'):
        help_result = _run_cli(command, '--help')
        assert help_result.returncode == 0 and 'usage: kzoo' in help_result.stdout


def test_cli_errors_are_one_line_and_nonzero():
    result = _run_cli('get', 'NoSuchNet')
    assert result.returncode != 0
    assert result.stderr.strip().count('\n') == 0 and 'NoSuchNet' in result.stderr


@pytest.mark.slow
def test_cli_predict_with_a_weights_file(keras_weight_files, tmp_path):
    from PIL import Image
    path, _, _, _ = keras_weight_files('ResNet50', True, 224)
    image_file = tmp_path / 'cat.png'
    Image.fromarray(_images(224, n=1)[0].astype('uint8')).save(image_file)
    result = _run_cli('predict', 'ResNet50', str(image_file), '--weights', path, '--top', '3')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == str(image_file) and len(lines) == 4
    # the same answer through the Python API and Keras's own decoding
    from kzoo.preprocessing.image import img_to_array, load_img
    x = applications.resnet50.preprocess_input(
        img_to_array(load_img(str(image_file), target_size=(224, 224)))[None])
    model = applications.ResNet50(weights=path)
    top = applications.resnet50.decode_predictions(model.predict(x), top=3)[0]
    assert [line.split()[0] for line in lines[1:]] == [name for _, name, _ in top]


def test_cli_plot_writes_dot_and_images(tmp_path):
    result = _run_cli('plot', 'VGG16', '-o', str(tmp_path / 'vgg.dot'))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / 'vgg.dot').read_text()
    assert '"block1_conv1" -> "block1_conv2"' in text and 'Conv2D' in text
    import shutil
    if shutil.which('dot') is None:
        pytest.skip('Graphviz is not installed (apt-get install graphviz)')
    result = _run_cli('plot', 'ResNet50', '-o', str(tmp_path / 'resnet.png'))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / 'resnet.png').read_bytes()[:4] == b'\x89PNG'
