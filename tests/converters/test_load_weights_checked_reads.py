"""libhdf5 reads files through h5precheck.CheckedFile: each read is checked for global
heap collections before libhdf5 sees it, and load_weights still lands every weight
bit for bit.

Oracles: ``bytes.find`` over the whole file (which signatures a read touches), h5py
reading the file itself (values), and the weights that were saved.
"""
import os
import random
import struct
import subprocess
import sys

import h5py
import numpy as np
import pytest

from helpers import find_all
from kzoo.converters import h5precheck, h5safe, hdf5_legacy
from kzoo.errors import FileFormatError


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('small', [1 << 16, 0])  # 0: every read takes the numpy path
def test_every_signature_a_read_touches_is_walked(seed, small, tmp_path, monkeypatch):
    rng = random.Random(seed)
    data = bytearray(rng.choice(b'GCOLx') for _ in range(20000))
    for _ in range(30):
        at = rng.randrange(0, len(data) - 3)
        data[at:at + 4] = b'GCOL'
    data = bytes(data)
    path = str(tmp_path / 'f')
    with open(path, 'wb') as f:
        f.write(data)
    everywhere = find_all(data, b'GCOL')
    walked = []
    monkeypatch.setattr(h5precheck, 'check_heap_at', lambda buf, pos, *a: walked.append(pos))
    monkeypatch.setattr(h5precheck.CheckedFile, 'SMALL', small)
    monkeypatch.setattr(h5precheck._FileBytes, 'WINDOW', rng.choice([64, 1000, 1 << 20]))
    reads = [(rng.randrange(0, len(data) + 10),
              rng.choice([0, 1, 2, 3, 4, 5, rng.randrange(0, 300), rng.randrange(0, 25000)]))
             for _ in range(40)]
    # reads that end, start or lie inside a signature: every overlap of a few bytes
    reads += [(q + d, size) for q in everywhere[:4] + [len(data) - 4]
              for d in range(-6, 5) for size in range(0, 9) if q + d >= 0]
    for start, size in reads:
        reader = h5precheck.CheckedFile(path, path)
        try:
            del walked[:]
            out = bytearray(size)
            reader.seek(start)
            assert reader.readinto(out) == size
            assert reader.tell() == start + size
            expected = data[start:start + size]
            assert bytes(out) == expected + bytes(size - len(expected))  # zeros past the end
            touching = [q for q in everywhere if q < start + len(expected) and q + 4 > start
                        and expected]
            assert sorted(set(walked)) == touching, (start, size)
        finally:
            reader.close()


def _model_file(path, config='x' * 100):
    with h5py.File(path, 'w') as f:
        f.attrs['model_config'] = config  # a variable-length string: on the global heap
        f.attrs['layer_names'] = np.array([b'd'])
        g = f.create_group('d')
        g.attrs['weight_names'] = np.array([b'd/kernel:0'])
        g['d/kernel:0'] = np.arange(12, dtype='float32').reshape(3, 4)


def _hostile_heap(path):
    """Make the free space after the heap's first object of size 0: libhdf5 would walk
    that collection for ever."""
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    pos = data.find(b'GCOL')
    assert pos >= 0 and data.find(b'GCOL', pos + 4) < 0
    size = struct.unpack_from('<Q', data, pos + 16 + 8)[0]
    free = pos + 16 + 16 + (size + 7) // 8 * 8
    assert struct.unpack_from('<H', data, free)[0] == 0  # the free-space object
    struct.pack_into('<Q', data, free + 8, 0)
    with open(path, 'wb') as f:
        f.write(bytes(data))


_CHILD = r'''
import sys
from kzoo.converters import h5safe
from kzoo.errors import FileFormatError
try:
    with h5safe.H5File(sys.argv[1]) as h5:
        h5.text_attr(h5.root, 'model_config')
        try:
            h5.keys(h5.root)
        except FileFormatError as e:
            print('AGAIN', e)
except FileFormatError as e:
    print('REFUSED', e)
'''


def test_hostile_heap_libhdf5_reads_is_refused(tmp_path):
    """In a child with a timeout: without the check libhdf5 would never return."""
    path = str(tmp_path / 'm.h5')
    _model_file(path)
    _hostile_heap(path)
    out = subprocess.run([sys.executable, '-c', _CHILD, path], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'REFUSED' in out.stdout and 'read it for ever' in out.stdout, out.stdout
    # the whole-file check agrees
    with pytest.raises(FileFormatError, match='read it for ever'):
        h5precheck.check_file(path, path)


def test_sound_heap_reads_as_h5py_reads_it(tmp_path):
    path = str(tmp_path / 'm.h5')
    config = '{"a": "%s"}' % ('GCOL' * 5000)  # signatures inside the heap's own text
    _model_file(path, config)
    with h5safe.H5File(path) as h5:
        assert h5.text_attr(h5.root, 'model_config') == config
        kernel = h5.read(h5.root, 'd/d/kernel:0')
    with h5py.File(path, 'r') as f:
        np.testing.assert_array_equal(kernel, f['d/d/kernel:0'][()])


def test_refusal_is_kept(tmp_path):
    path = str(tmp_path / 'm.h5')
    _model_file(path)
    _hostile_heap(path)
    reader = h5precheck.CheckedFile(path, path)
    try:
        pos = open(path, 'rb').read().find(b'GCOL')
        reader.seek(pos)
        with pytest.raises(FileFormatError, match='read it for ever'):
            reader.readinto(bytearray(64))
        reader.seek(0)
        with pytest.raises(FileFormatError, match='read it for ever'):
            reader.readinto(bytearray(8))  # harmless bytes, refused all the same
    finally:
        reader.close()


def test_dataset_bytes_are_kzoos_to_read(tmp_path):
    """Heap-like bytes inside weights are weights: libhdf5 never walks them (kzoo reads
    them itself), so they load as saved, bit for bit."""
    from kzoo.layers import Dense
    from kzoo.models import Sequential
    heap = b'GCOL' + bytes([1, 0, 0, 0]) + struct.pack('<Q', 4096)
    heap += struct.pack('<HHIQ', 0, 0, 0, 0)
    heap += bytes(-len(heap) % 4)
    model = Sequential([Dense(64, input_dim=32, name='d')])
    kernel = np.random.standard_normal((32, 64)).astype('float32')
    raw = bytearray(kernel.tobytes())
    raw[100:100 + len(heap)] = heap
    kernel = np.frombuffer(raw, 'float32').reshape(32, 64)
    model.set_weights([kernel, np.random.standard_normal(64).astype('float32')])
    path = str(tmp_path / 'w.h5')
    hdf5_legacy.save_weights(model, path)
    fresh = Sequential([Dense(64, input_dim=32, name='d')])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_load_weights_bitwise_against_h5py(tmp_path):
    from kzoo.layers import BatchNormalization, Conv2D, Dense, Flatten
    from kzoo.models import Sequential

    def build():
        return Sequential([Conv2D(8, 3, input_shape=(9, 9, 3), name='c'),
                           BatchNormalization(name='b'), Flatten(), Dense(5, name='d')])
    model = build()
    model.set_weights([np.random.standard_normal(w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    path = str(tmp_path / 'w.h5')
    model.save_weights(path)
    fresh = build()
    fresh.load_weights(path)
    with h5py.File(path, 'r') as f:
        stored = []
        for layer in [n.decode() for n in f.attrs['layer_names']]:
            names = [n.decode() for n in f[layer].attrs['weight_names']]
            stored += [f[layer][n][()] for n in names]
    got = fresh.get_weights()
    assert len(got) == len(stored)
    for a, b in zip(got, stored):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def test_file_is_closed_with_h5file(tmp_path):
    path = str(tmp_path / 'm.h5')
    _model_file(path)
    before = set(os.listdir('/proc/self/fd')) if os.path.isdir('/proc/self/fd') else None
    with h5safe.H5File(path) as h5:
        h5.text_attr(h5.root, 'model_config')
    if before is not None:
        assert set(os.listdir('/proc/self/fd')) <= before


def test_walked_heaps_remembered_within_bounds(tmp_path, monkeypatch):
    """A heap libhdf5 reads again is not walked again; the memory of walks is bounded."""
    path = str(tmp_path / 'f')
    with open(path, 'wb') as f:
        f.write(b'xGCOL' * 10)
    walked = []
    monkeypatch.setattr(h5precheck, 'check_heap_at', lambda buf, pos, *a: walked.append(pos))
    monkeypatch.setattr(h5precheck.CheckedFile, 'REMEMBERED', 3)
    reader = h5precheck.CheckedFile(path, path)
    try:
        reader.readinto(bytearray(10))  # heaps at 1 and 6
        reader.seek(0)
        reader.readinto(bytearray(10))
        assert walked == [1, 6]
        reader.seek(0)
        reader.readinto(bytearray(50))
        assert walked == [1, 6] + [1 + 5 * k for k in range(2, 10)]
        assert len(reader._walked) == 3
    finally:
        reader.close()
