"""h5precheck's windowed, threaded search finds what ``bytes.find`` finds.

The oracle is ``bytes.find`` over the whole file: every position of the needle, in
order, for windows and parts small enough that occurrences straddle both, in files
dense with candidates ("GCGC...", "COCO...") and in random bytes. A hostile global heap
is refused wherever in a file it lies.
"""
import random
import struct

import numpy as np
import pytest

from helpers import find_all
from kzoo.converters import h5precheck
from kzoo.errors import FileFormatError


@pytest.fixture
def small_windows(monkeypatch):
    def use(window, part):
        monkeypatch.setattr(h5precheck._FileBytes, 'WINDOW', window)
        monkeypatch.setattr(h5precheck._FileBytes, 'PART', part)
    return use


@pytest.mark.parametrize('seed', range(6))
def test_positions_are_bytes_finds(seed, tmp_path, small_windows):
    rng = random.Random(seed)
    path = str(tmp_path / 'f')
    for trial in range(20):
        alphabet = rng.choice([b'GCOL', b'GCOLx', bytes(range(256)), b'GC', b'CO', b'GCO'])
        data = bytearray(rng.choice(alphabet) for _ in range(rng.randrange(0, 5000)))
        for _ in range(rng.randrange(0, 6)):
            if len(data) >= 4:
                at = rng.randrange(0, len(data) - 3)
                data[at:at + 4] = b'GCOL'
        data = bytes(data)
        with open(path, 'wb') as f:
            f.write(data)
        for window, part in ((1, 1 << 30), (3, 50), (64, 700), (1 << 20, 1 << 30)):
            small_windows(window, part)
            for sub in (b'GCOL', b'GCO', b'OL'):
                expected = find_all(data, sub)
                with open(path, 'rb') as f:
                    found = h5precheck._FileBytes(f)
                    assert found.positions(sub) == expected, (trial, window, part, sub)
                    assert found.find(sub) == (expected[0] if expected else -1)
                    if expected:
                        second = expected[1] if len(expected) > 1 else -1
                        assert found.find(sub, expected[0] + 1) == second


def test_dense_candidates_all_checked(tmp_path, small_windows):
    """A window of nothing but candidates takes the vectorized path; same answers."""
    data = b'GC' * 40000 + b'GCOL' + b'CO' * 40000 + b'xGCOL' + b'GC' * 10
    path = str(tmp_path / 'f')
    with open(path, 'wb') as f:
        f.write(data)
    small_windows(1 << 16, 1 << 15)
    with open(path, 'rb') as f:
        assert h5precheck._FileBytes(f).positions(b'GCOL') == find_all(data, b'GCOL')


def _hostile_heap():
    heap = b'GCOL' + bytes([1, 0, 0, 0]) + struct.pack('<Q', 4096)
    heap += struct.pack('<HHIQ', 1, 1, 0, 5) + b'hello\0\0\0'
    heap += struct.pack('<HHIQ', 0, 0, 0, 0)  # an object of index 0 and size 0
    return heap + bytes(4096 - len(heap))


@pytest.mark.parametrize('where', [0, 1, 65533, 150001, 299999])
def test_hostile_heap_refused_anywhere(where, tmp_path, small_windows):
    small_windows(1 << 16, 1 << 16)  # several windows and threads over 300 KB
    data = bytearray(np.random.default_rng(where).bytes(300000 + 4096))
    data[where:where + 4096] = _hostile_heap()
    path = str(tmp_path / ('f%d' % where))
    with open(path, 'wb') as f:
        f.write(bytes(data))
    with pytest.raises(FileFormatError, match='read it for ever'):
        h5precheck.check_file(path, path)
