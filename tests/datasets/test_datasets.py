"""Dataset loaders on files in the exact upstream formats, served on loopback.

Each test builds a small file in the real format under its real name, serves it at
the URL path of the real origin on 127.0.0.1, and checks kzoo's ``load_data``: shapes,
dtypes and values against Keras 3's own loader reading the same file (mnist, cifar100,
imdb, reuters; cifar10's Keras loader insists on 50,000 images, so its batches are
checked with Keras 3's ``cifar.load_batch`` and the assembly against the data written),
the file cached under ``$KZOO_HOME/datasets`` and not downloaded twice. Pickles with a
``__reduce__`` payload are refused before any code runs (the sentinel file stays
absent).
"""
import os

import numpy as np
import pytest

import upstream_files as uf
from kzoo.datasets import cifar10, cifar100, imdb, mnist, reuters
from kzoo.errors import HashMismatchError, UnsafeInputError


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _datasets_dir():
    return os.path.join(os.environ['KZOO_HOME'], 'datasets')


def _keras_loader(monkeypatch, module_name, path):
    """Keras 3's loader for ``module_name`` reading ``path`` instead of downloading."""
    keras = pytest.importorskip('keras')  # noqa: F841
    import importlib
    module = importlib.import_module('keras.src.datasets.' + module_name)
    monkeypatch.setattr(module, 'get_file', lambda *args, **kwargs: path)
    return module


def _assert_same(ours, theirs):
    for a, b in zip(ours, theirs):
        for x, y in zip(a, b):
            assert x.shape == y.shape and x.dtype == y.dtype
            if x.dtype == object:
                assert [list(s) for s in x] == [list(s) for s in y]
            else:
                np.testing.assert_array_equal(x, y)


def test_mnist(serve, monkeypatch, rng):
    data, arrays = uf.mnist_npz(rng)
    server = serve(mnist, {'ORIGIN': data})
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    assert x_train.shape == (12, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (12,) and y_train.dtype == np.uint8
    np.testing.assert_array_equal(x_test, arrays['x_test'])
    cached = os.path.join(_datasets_dir(), 'mnist.npz')
    assert os.path.isfile(cached)
    keras_mnist = _keras_loader(monkeypatch, 'mnist', cached)
    _assert_same(((x_train, y_train), (x_test, y_test)), keras_mnist.load_data())
    mnist.load_data()
    assert server.count('/tensorflow/tf-keras-datasets/mnist.npz') == 1


def test_mnist_refuses_a_file_with_the_wrong_hash(serve, monkeypatch, rng):
    data, _ = uf.mnist_npz(rng)
    serve(mnist, {'ORIGIN': data})
    monkeypatch.setattr(mnist, 'FILE_HASH', '0' * 64)
    with pytest.raises(HashMismatchError):
        mnist.load_data()
    assert not os.path.exists(os.path.join(_datasets_dir(), 'mnist.npz'))


def test_cifar10(serve, monkeypatch, rng):
    data, batches = uf.cifar10_tar(rng)
    server = serve(cifar10, {'ORIGIN': data})
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    assert x_train.shape == (15, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (15, 1) and y_train.dtype == np.uint8
    assert x_test.shape == (4, 32, 32, 3) and y_test.shape == (4, 1)
    assert x_test.dtype == np.uint8 and y_test.dtype == np.uint8
    written = np.concatenate([batches['data_batch_%d' % i][b'data'] for i in range(1, 6)])
    np.testing.assert_array_equal(x_train, written.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_train[:, 0], sum((batches['data_batch_%d' % i][b'labels']
                                                      for i in range(1, 6)), []))
    # Each batch parses as Keras 3's parser reads it.
    pytest.importorskip('keras')
    from keras.src.datasets import cifar as keras_cifar
    folder = os.path.join(_datasets_dir(), 'cifar-10-python_extracted', 'cifar-10-batches-py')
    k_data, k_labels = keras_cifar.load_batch(os.path.join(folder, 'test_batch'))
    np.testing.assert_array_equal(x_test, k_data.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_test[:, 0], k_labels)
    assert os.path.isfile(os.path.join(_datasets_dir(), 'cifar-10-python.tar.gz'))
    cifar10.load_data()
    assert server.count('/~kriz/cifar-10-python.tar.gz') == 1


@pytest.mark.parametrize('label_mode', ['fine', 'coarse'])
def test_cifar100(serve, monkeypatch, rng, label_mode):
    data, _ = uf.cifar100_tar(rng)
    serve(cifar100, {'ORIGIN': data})
    ours = cifar100.load_data(label_mode=label_mode)
    (x_train, y_train), (x_test, y_test) = ours
    assert x_train.shape == (7, 32, 32, 3) and y_train.shape == (7, 1)
    keras_cifar100 = _keras_loader(monkeypatch, 'cifar100',
                                   os.path.join(_datasets_dir(), 'cifar-100-python_extracted'))
    _assert_same(ours, keras_cifar100.load_data(label_mode=label_mode))


IMDB_ARGS = [{}, {'num_words': 20}, {'num_words': 30, 'skip_top': 5, 'maxlen': 15, 'seed': 7},
             {'start_char': None, 'oov_char': None, 'index_from': 0},
             {'num_words': 25, 'oov_char': None, 'index_from': 2}]


@pytest.mark.parametrize('kwargs', IMDB_ARGS, ids=[str(sorted(k)) for k in IMDB_ARGS])
def test_imdb(serve, monkeypatch, rng, kwargs):
    serve(imdb, {'ORIGIN': uf.imdb_npz(rng), 'WORD_INDEX_ORIGIN': uf.word_index()})
    ours = imdb.load_data(**kwargs)
    (x_train, y_train), (x_test, y_test) = ours
    assert x_train.dtype == object and y_train.dtype == np.int64
    keras_imdb = _keras_loader(monkeypatch, 'imdb', os.path.join(_datasets_dir(), 'imdb.npz'))
    _assert_same(ours, keras_imdb.load_data(**kwargs))
    assert imdb.get_word_index()['w3'] == 3


def test_imdb_keras1_nb_words(serve, rng):
    serve(imdb, {'ORIGIN': uf.imdb_npz(rng)})
    _assert_same(imdb.load_data(nb_words=20), imdb.load_data(num_words=20))


@pytest.mark.parametrize('kwargs', [{}, {'num_words': 30, 'test_split': 0.3, 'maxlen': 20},
                                    {'skip_top': 4, 'seed': 1, 'start_char': None}])
def test_reuters(serve, monkeypatch, rng, kwargs):
    serve(reuters, {'ORIGIN': uf.reuters_npz(rng), 'WORD_INDEX_ORIGIN': uf.word_index(80)})
    ours = reuters.load_data(**kwargs)
    keras_reuters = _keras_loader(monkeypatch, 'reuters',
                                  os.path.join(_datasets_dir(), 'reuters.npz'))
    _assert_same(ours, keras_reuters.load_data(**kwargs))
    assert len(reuters.get_word_index()) == 79
    assert reuters.get_label_names() == keras_reuters.get_label_names()


def test_cifar_pickle_payload_runs_nothing(serve, rng, tmp_path):
    sentinel = tmp_path / 'pwned'
    _, batches = uf.cifar10_tar(rng)
    members = {'cifar-10-batches-py/%s' % k: uf.py2_pickle(v) for k, v in batches.items()}
    members['cifar-10-batches-py/data_batch_1'] = uf.py2_pickle(
        {b'data': uf.Payload(str(sentinel)), b'labels': [1]})
    serve(cifar10, {'ORIGIN': uf.tar_gz(members)})
    with pytest.raises(UnsafeInputError, match='posix.system|os.system|nt.system'):
        cifar10.load_data()
    assert not sentinel.exists()


def test_npz_pickle_payload_runs_nothing(serve, rng, tmp_path):
    sentinel = tmp_path / 'pwned'
    payload = np.empty(1, dtype=object)
    payload[0] = uf.Payload(str(sentinel))
    data = uf.npz({'x_train': payload, 'y_train': np.zeros(1, 'int64'),
                   'x_test': payload, 'y_test': np.zeros(1, 'int64')})
    serve(imdb, {'ORIGIN': data})
    with pytest.raises(UnsafeInputError, match='imdb.npz'):
        imdb.load_data()
    assert not sentinel.exists()
