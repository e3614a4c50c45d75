"""HDF5 loading reads datasets straight into the weights' memory, with the same results.

The oracle is the saved model itself: every weight read back must equal the array that
was written, bit for bit, and predictions must be the saved model's.
"""
import h5py
import numpy as np
import pytest

from kzoo import backend as K

from perf_helpers import assert_same_weights, images, randomize


def _model():
    from kzoo.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
    from kzoo.models import Model
    x = Input((6, 6, 3))
    y = BatchNormalization()(Conv2D(4, 3, activation='relu')(x))
    y = Dense(3, activation='softmax')(Flatten()(y))
    return randomize(Model(x, y))


@pytest.fixture(params=[b for b in ('torch', 'numpy') if b in K.available_backends()])
def backend(request):
    with K.using(request.param):
        yield request.param


def _count_reads(monkeypatch):
    """Calls of ``read`` and ``read_into``; arrays filled by ``read_extents`` (plain
    reads of datasets stored exactly as the weights' bytes)."""
    from kzoo.converters import h5safe
    counts = {'read': 0, 'read_into': 0, 'read_extents': 0}
    for name in counts:
        original = getattr(h5safe.H5File, name)

        def counting(self, *args, _name=name, _original=original):
            counts[_name] += len(args[0]) if _name == 'read_extents' else 1
            return _original(self, *args)
        monkeypatch.setattr(h5safe.H5File, name, counting)
    return counts


def test_load_model_reads_straight_into_weights(backend, tmp_path, monkeypatch):
    from kzoo.models import load_model
    monkeypatch.setenv('KZOO_MMAP_WEIGHTS', '0')  # copies (test_loading_mmap: file views)
    model = _model()
    path = str(tmp_path / 'm.h5')
    model.save(path)
    counts = _count_reads(monkeypatch)
    restored = load_model(path)
    assert counts == {'read': 0, 'read_into': 0, 'read_extents': 8}  # conv 2, BN 4, dense 2
    assert_same_weights(restored, model)
    x = images((2, 6, 6, 3))
    assert np.array_equal(restored.predict(x, provider='plain'), model.predict(x, provider='plain'))


def test_load_weights_converts_stored_types(backend, tmp_path):
    model = _model()
    path = str(tmp_path / 'w.h5')
    model.save_weights(path)
    with h5py.File(path, 'r+') as f:  # a big-endian kernel and a float64 bias
        conv = f[[n for n in f.keys() if n.startswith('conv2d')][0]]
        names = [n.decode() if isinstance(n, bytes) else n for n in conv.attrs['weight_names']]
        kernel, bias = np.asarray(conv[names[0]]), np.asarray(conv[names[1]])
        del conv[names[0]], conv[names[1]]
        conv.create_dataset(names[0], data=kernel.astype('>f4'))
        conv.create_dataset(names[1], data=bias.astype('float64'))
    fresh = _model()
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)


def test_direct_read_bumps_plans(tmp_path):
    if 'torch' not in K.available_backends():
        pytest.skip('plans need the torch backend')
    with K.using('torch'):
        model = _model()
        path = str(tmp_path / 'w.h5')
        model.save_weights(path)
        expected = model.predict(images((2, 6, 6, 3)), provider='plain')
        other = _model()
        randomize(other, seed=5)
        other.predict(images((2, 6, 6, 3)))  # a plan from the old weights
        other.load_weights(path)
        assert np.allclose(other.predict(images((2, 6, 6, 3))), expected, atol=1e-6)


def test_shape_mismatch_still_reported_and_nothing_written(backend, tmp_path):
    from kzoo.errors import ShapeError
    from kzoo.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
    from kzoo.models import Model
    path = str(tmp_path / 'w.h5')
    _model().save_weights(path)
    x = Input((6, 6, 3))  # the same layers but a wider Dense: its kernel cannot load
    y = Dense(5)(Flatten()(BatchNormalization()(Conv2D(4, 3, activation='relu')(x))))
    wrong = Model(x, y)
    before = [w.copy() for w in wrong.get_weights()]
    with pytest.raises(ShapeError, match='shape'):
        wrong.load_weights(path)
    # the convolution and normalization could have been read directly: they were not
    assert all(np.array_equal(a, b) for a, b in zip(wrong.get_weights(), before))
