"""``load_model`` of a legacy HDF5 file maps eligible weights from the file (private,
copy-on-write views) instead of copying them.

The oracle is the copy path (``KZOO_MMAP_WEIGHTS=0``) and the saved model: mapped
weights must equal both bit for bit, predict the same, never share memory with each
other, and writes to them must never reach the file.
"""
import hashlib

import h5py
import numpy as np
import pytest

from kzoo import backend as K

from perf_helpers import assert_same_weights, images, randomize

pytestmark = pytest.mark.skipif('torch' not in K.available_backends(),
                                reason='weights become file views on the torch backend')


@pytest.fixture(autouse=True)
def _torch():
    with K.using('torch'):
        yield


def _model():
    from kzoo.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
    from kzoo.models import Model
    x = Input((6, 6, 3))
    y = BatchNormalization()(Conv2D(4, 3, activation='relu')(x))
    y = Dense(3, activation='softmax')(Flatten()(y))
    return randomize(Model(x, y))


def _count_maps(monkeypatch):
    from kzoo.converters import h5safe
    counts = {'mapped': 0, 'refused': 0}
    original = h5safe.H5File.map_dataset

    def counting(self, *args):
        out = original(self, *args)
        counts['mapped' if out is not None else 'refused'] += 1
        return out
    monkeypatch.setattr(h5safe.H5File, 'map_dataset', counting)
    return counts


def _load(path, monkeypatch, mapped):
    from kzoo.models import load_model
    monkeypatch.setenv('KZOO_MMAP_WEIGHTS', '1' if mapped else '0')
    return load_model(path)


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def saved(tmp_path):
    """A model and the .h5 file it was saved to."""
    model = _model()
    path = str(tmp_path / 'm.h5')
    model.save(path)
    return model, path


def test_mapped_weights_equal_the_copies(saved, monkeypatch):
    model, path = saved
    counts = _count_maps(monkeypatch)
    mapped = _load(path, monkeypatch, True)
    assert counts == {'mapped': 8, 'refused': 0}  # conv 2, BN 4, dense 2
    copied = _load(path, monkeypatch, False)
    assert counts == {'mapped': 8, 'refused': 0}  # the copy path maps nothing
    assert_same_weights(mapped, copied)
    assert_same_weights(mapped, model)
    x = images((2, 6, 6, 3))
    assert np.array_equal(mapped.predict(x, provider='plain'), copied.predict(x, provider='plain'))
    assert np.array_equal(mapped.predict(x), copied.predict(x))


def test_writes_to_mapped_weights_never_reach_the_file(saved, monkeypatch):
    import torch
    model, path = saved
    digest = _sha(path)
    loaded = _load(path, monkeypatch, True)
    loaded.predict(images((2, 6, 6, 3)))  # plans prepared from the mapped weights
    with torch.no_grad():
        for w in loaded.weights:
            w.mul_(-3.0).add_(1.0)  # in place, through the variable
    loaded.set_weights([np.full(w.shape, 7, w.dtype) for w in model.get_weights()])
    loaded.compile('sgd', 'categorical_crossentropy')
    loaded.fit(images((4, 6, 6, 3)), np.eye(3, dtype='float32')[[0, 1, 2, 0]], epochs=1,
               verbose=0)
    assert _sha(path) == digest
    assert_same_weights(_load(path, monkeypatch, True), model)
    # the written model predicts from its own weights, not the file's
    fresh = _load(path, monkeypatch, False)
    fresh.set_weights(loaded.get_weights())
    x = images((2, 6, 6, 3))
    assert np.array_equal(loaded.predict(x, provider='plain'), fresh.predict(x, provider='plain'))


def test_replacing_the_file_leaves_a_loaded_model_alone(saved, monkeypatch):
    model, path = saved
    loaded = _load(path, monkeypatch, True)
    other = randomize(_model(), seed=9)
    other.save(path)  # kzoo writes a temporary file and renames it: a new file
    assert_same_weights(loaded, model)
    assert_same_weights(_load(path, monkeypatch, True), other)


def test_datasets_linked_twice_are_not_shared(tmp_path, monkeypatch):
    """A file whose two layers hard-link one dataset: two weights, two memories."""
    import torch
    from kzoo.layers import Dense, Input
    from kzoo.models import Model
    x = Input((4,))
    model = randomize(Model(x, Dense(4, name='b')(Dense(4, name='a')(x))))
    path = str(tmp_path / 'm.h5')
    model.save(path)
    with h5py.File(path, 'r+') as f:
        a, b = f['model_weights/a/a'], f['model_weights/b/b']
        del b['kernel:0']
        b['kernel:0'] = a['kernel:0']  # a hard link to the same dataset
    counts = _count_maps(monkeypatch)
    loaded = _load(path, monkeypatch, True)
    assert counts == {'mapped': 3, 'refused': 1}
    assert_same_weights(loaded, _load(path, monkeypatch, False))
    ka, kb = loaded.layers[1].weights[0], loaded.layers[2].weights[0]
    assert np.array_equal(K.get_value(ka), K.get_value(kb))
    with torch.no_grad():
        ka.add_(1.0)
    assert np.array_equal(K.get_value(kb), model.get_weights()[0])


def _rewrite(path, out, userblock=0, change=None):
    """``path``'s groups and attributes copied into a new file ``out`` (with a user
    block of ``userblock`` bytes); ``change(name, array)`` may restore a dataset as
    another array and storage (returns ``(array, create_dataset keywords)``)."""
    with h5py.File(path, 'r') as src, h5py.File(out, 'w', userblock_size=userblock) as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v

        def copy(name, obj):
            if isinstance(obj, h5py.Group):
                group = dst.require_group(name)
            else:
                array, kwargs = (change or (lambda n, a: (a, {})))(name, obj[()])
                group = dst.create_dataset(name, data=array, **kwargs)
            for k, v in obj.attrs.items():
                group.attrs[k] = v
        src.visititems(copy)


@pytest.mark.parametrize('userblock', [2048, 4096, 65536])
def test_user_block_offsets(tmp_path, monkeypatch, userblock):
    """HDF5 allows user blocks of 512 bytes times any power of two: the file is found
    to be HDF5 (as libhdf5 finds it) and its weights mapped from the shifted offsets."""
    model = _model()
    path, moved = str(tmp_path / 'm.h5'), str(tmp_path / 'ub.h5')
    model.save(path)
    _rewrite(path, moved, userblock=userblock)
    counts = _count_maps(monkeypatch)
    loaded = _load(moved, monkeypatch, True)
    assert counts['mapped'] == 8
    assert_same_weights(loaded, model)


def test_unsafe_layouts_are_copied(tmp_path, monkeypatch):
    """Big-endian, float64, compressed (chunked) and unaligned datasets are read by
    libhdf5 (converted where needed), never mapped; the result is the copy path's."""
    model = _model()
    path, changed = str(tmp_path / 'm.h5'), str(tmp_path / 'c.h5')
    model.save(path)
    def change(name, array):
        if name.endswith('beta:0'):
            return array.astype('>f4'), {}
        if name.endswith('gamma:0'):
            return array.astype('float64'), {}
        if 'conv2d' in name and name.endswith('kernel:0'):  # the datasets after it move
            return array, {'compression': 'gzip', 'chunks': True}  # to odd offsets
        return array, {}
    _rewrite(path, changed, change=change)
    eligible = []  # contiguous, float32 little-endian, at a multiple of 4: mappable

    def check(name, obj):
        if isinstance(obj, h5py.Dataset):
            offset = obj.id.get_offset()
            eligible.append(obj.dtype == np.dtype('<f4') and obj.chunks is None and
                            offset is not None and offset % 4 == 0)
    with h5py.File(changed, 'r') as f:
        f.visititems(check)
    assert 0 < sum(eligible) < len(eligible) - 3  # some of each
    counts = _count_maps(monkeypatch)
    loaded = _load(changed, monkeypatch, True)
    assert counts == {'mapped': sum(eligible), 'refused': len(eligible) - sum(eligible)}
    assert_same_weights(loaded, model)
    assert_same_weights(loaded, _load(changed, monkeypatch, False))


def test_numpy_backend_copies(saved, monkeypatch):
    if 'numpy' not in K.available_backends():
        pytest.skip('no numpy backend')
    model, path = saved
    expected = model.get_weights()
    with K.using('numpy'):
        loaded = _load(path, monkeypatch, True)
        for w in loaded.weights:
            assert isinstance(w, np.ndarray) and w.flags.owndata
        got = loaded.get_weights()
    assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(got, expected))


@pytest.mark.parametrize('backend', [b for b in ('torch', 'numpy')
                                     if b in K.available_backends()])
def test_load_weights_plain_reads_equal_libhdf5s(backend, tmp_path, monkeypatch):
    """load_weights copies contiguous datasets with plain (threaded) reads of the file;
    the oracle is libhdf5 reading every dataset (``contiguous_extent`` refusing all)."""
    from kzoo.converters import h5safe
    model = _model()
    path = str(tmp_path / 'w.h5')
    model.save_weights(path)
    expected = model.get_weights()
    monkeypatch.setattr(h5safe, '_PIECE', 64)  # many pieces: threads share each dataset
    with K.using(backend):
        raw = randomize(_model(), seed=3)
        raw.load_weights(path)
        got_raw = raw.get_weights()
        monkeypatch.setattr(h5safe.H5File, 'contiguous_extent', lambda self, *a: None)
        plain = randomize(_model(), seed=3)
        plain.load_weights(path)
        got_plain = plain.get_weights()
    for a, b, c in zip(got_raw, got_plain, expected):
        assert a.dtype == b.dtype == c.dtype and np.array_equal(a, b) and np.array_equal(a, c)


def test_truncated_file_is_refused_not_read_short(tmp_path, monkeypatch):
    """A dataset whose bytes run past the end of the file: neither mapped nor read raw;
    libhdf5's error is reported."""
    from kzoo.errors import KzooError
    model = _model()
    path = str(tmp_path / 'w.h5')
    model.save_weights(path)
    with h5py.File(path, 'r') as f:
        ends = []
        f.visititems(lambda n, o: ends.append(o.id.get_offset() + o.id.get_storage_size())
                     if isinstance(o, h5py.Dataset) else None)
    with open(path, 'r+b') as f:
        f.truncate(max(ends) - 4)
    with pytest.raises(KzooError):
        _model().load_weights(path)
