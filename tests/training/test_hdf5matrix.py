"""``HDF5Matrix``: a view on rows of an HDF5 dataset that training reads batch by batch.

Values and indexing match the numpy array it views; ``fit``/``evaluate``/``predict``
on HDF5Matrix data give what they give on the same numpy arrays (batch-wise
shuffling only, ``shuffle='batch'``, which reads contiguous batches); and a child
process training on a 200 MB dataset keeps its resident memory growth far below the
dataset's size.
"""
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from helpers import assert_matches
from kzoo import layers as kl
from kzoo.errors import FileFormatError, ShapeError
from kzoo.models import Model, Sequential
from kzoo.utils.io_utils import HDF5Matrix


@pytest.fixture
def h5file(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype('float32')
    y = (x @ rng.normal(size=(4, 1))).astype('float32')
    path = str(tmp_path / 'data.h5')
    with h5py.File(path, 'w') as f:
        f['x'], f['y'] = x, y
    return path, x, y


def test_views_index_like_numpy(h5file):
    path, x, _ = h5file
    m = HDF5Matrix(path, 'x', start=10, end=40, normalizer=lambda a: a * 2)
    ref = x[10:40] * 2
    assert m.shape == (30, 4) and len(m) == 30 and m.ndim == 2 and m.dtype == np.float32
    np.testing.assert_array_equal(m[3], ref[3])
    np.testing.assert_array_equal(m[-1], ref[-1])
    np.testing.assert_array_equal(m[5:9], ref[5:9])
    np.testing.assert_array_equal(m[::7], ref[::7])
    np.testing.assert_array_equal(m[[7, 2, 2, 29]], ref[[7, 2, 2, 29]])
    np.testing.assert_array_equal(m.subset(4, 8)[:], ref[4:8])
    np.testing.assert_array_equal(np.asarray(m), ref)
    with pytest.raises(IndexError):
        m[30]
    with pytest.raises(ShapeError):
        HDF5Matrix(path, 'x', start=10, end=60)
    with pytest.raises(FileFormatError, match='no dataset'):
        HDF5Matrix(path, 'nope')


def _model(seed=0):
    model = Sequential([kl.Dense(3, activation='tanh', input_shape=(4,)), kl.Dense(1)])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-.5, .5, w.shape).astype('float32')
                       for w in model.get_weights()])
    model.compile('sgd', 'mse', metrics=['mae'])
    return model


def test_training_on_views_equals_training_on_arrays(train_backend, h5file):
    path, x, y = h5file
    a, b = _model(), _model()
    ha = a.fit(HDF5Matrix(path, 'x'), HDF5Matrix(path, 'y'), batch_size=8, epochs=2,
               shuffle=False, verbose=0, validation_split=0.2)
    hb = b.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_split=0.2)
    for key in hb.history:
        assert_matches(ha.history[key], hb.history[key], 1e-6, key)
    assert_matches(a.predict(HDF5Matrix(path, 'x', end=13), batch_size=5), b.predict(x[:13]),
                   1e-6)
    assert_matches(a.evaluate(HDF5Matrix(path, 'x'), HDF5Matrix(path, 'y')),
                   b.evaluate(x, y), 1e-6)
    # shuffle=True on lazy data shuffles whole batches: it still trains.
    a.fit(HDF5Matrix(path, 'x'), HDF5Matrix(path, 'y'), batch_size=8, verbose=0)


_CHILD = textwrap.dedent('''
    import resource, sys
    import numpy as np
    from kzoo import backend as K
    from kzoo.layers import Dense
    from kzoo.models import Sequential
    from kzoo.utils.io_utils import HDF5Matrix

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.

    path = sys.argv[1]
    x, y = HDF5Matrix(path, 'x'), HDF5Matrix(path, 'y')
    model = Sequential([Dense(1, input_shape=(x.shape[1],))])
    model.compile('sgd', 'mse')
    model.train_on_batch(np.zeros((4, x.shape[1]), 'float32'), np.zeros((4, 1), 'float32'))
    before = peak_mb()
    model.fit(x, y, batch_size=512, epochs=1, verbose=0)
    model.evaluate(x, y, batch_size=512)
    out = model.predict(x, batch_size=512)
    assert out.shape == (len(x), 1)
    print('%.1f %.1f' % (before, peak_mb()))
''')


@pytest.mark.slow
def test_training_on_a_dataset_larger_than_its_memory_budget(tmp_path):
    rows, cols = 51200, 1024  # 200 MiB of float32
    path = str(tmp_path / 'big.h5')
    with h5py.File(path, 'w') as f:
        dx = f.create_dataset('x', (rows, cols), 'float32', chunks=(512, cols))
        dy = f.create_dataset('y', (rows, 1), 'float32')
        rng = np.random.default_rng(0)
        for start in range(0, rows, 2048):
            block = rng.normal(size=(2048, cols)).astype('float32')
            dx[start:start + 2048] = block
            dy[start:start + 2048] = block[:, :1]
    assert os.path.getsize(path) >= 200 * 2 ** 20
    env = dict(os.environ, KZOO_BACKEND='torch')
    result = subprocess.run([sys.executable, '-c', _CHILD, path], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    before, after = map(float, result.stdout.split())
    # Batches of 2 MiB: the peak may grow by a few batches and buffers, never by the
    # 200 MiB dataset (nor the 200 KiB-per-row predictions' 0.2 MiB output).
    assert after - before < 50, 'peak RSS grew by %.0f MiB (from %.0f)' % (after - before,
                                                                             before)
