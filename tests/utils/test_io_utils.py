"""atomic_write and FileLock."""
import os
import subprocess
import sys
import threading
import time

import pytest

from kzoo.utils import io_utils
from kzoo.utils.io_utils import FileLock, LockTimeout, atomic_write, atomic_write_json

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_atomic_write_replaces_the_file(tmp_path):
    p = tmp_path / 'f.bin'
    p.write_bytes(b'old')
    with atomic_write(str(p)) as f:
        f.write(b'new')
        assert p.read_bytes() == b'old'  # invisible until the block ends
    assert p.read_bytes() == b'new'
    assert os.listdir(str(tmp_path)) == ['f.bin']
    assert oct(os.stat(str(p)).st_mode & 0o777) != oct(0o600)  # not mkstemp's 0600


def test_atomic_write_error_keeps_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / 'f.txt'
    p.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_write(str(p), 'w') as f:
            f.write('half')
            raise RuntimeError('boom')
    assert p.read_text() == 'old'
    assert os.listdir(str(tmp_path)) == ['f.txt']


def test_atomic_write_json(tmp_path):
    atomic_write_json(str(tmp_path / 'a.json'), {'b': 1})
    assert (tmp_path / 'a.json').read_text() == '{\n "b": 1\n}\n'


def test_atomic_write_refuses_append_modes(tmp_path):
    with pytest.raises(ValueError):
        with atomic_write(str(tmp_path / 'x'), 'ab'):
            pass


def _hold_lock_in_threads(path, n=4):
    inside, overlaps = [0], [0]
    guard = threading.Lock()

    def work():
        with FileLock(path, timeout=10):
            with guard:
                inside[0] += 1
                overlaps[0] = max(overlaps[0], inside[0])
            time.sleep(0.05)
            with guard:
                inside[0] -= 1
    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return overlaps[0]


def test_file_lock_excludes_threads(tmp_path):
    assert _hold_lock_in_threads(str(tmp_path / 'x.lock')) == 1


def test_file_lock_times_out(tmp_path):
    path = str(tmp_path / 'x.lock')
    with FileLock(path):
        t0 = time.monotonic()
        with pytest.raises(LockTimeout, match='x.lock'):
            FileLock(path, timeout=0.3).acquire()
        assert time.monotonic() - t0 < 20  # the lock is held until the block ends


def test_lock_of_a_killed_process_is_released(tmp_path):
    path = str(tmp_path / 'x.lock')
    code = ('import sys, time; sys.path.insert(0, %r)\n'
            'from kzoo.utils.io_utils import FileLock\n'
            'FileLock(%r).acquire(); print("locked", flush=True); time.sleep(60)' % (REPO, path))
    child = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b'locked'
        with pytest.raises(LockTimeout):
            FileLock(path, timeout=0.2).acquire()
        child.kill()
        child.wait()
        with FileLock(path, timeout=5):
            pass
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_fallback_lock_without_fcntl(tmp_path, monkeypatch):
    monkeypatch.setattr(io_utils, 'fcntl', None)
    path = str(tmp_path / 'x.lock')
    assert _hold_lock_in_threads(path) == 1
    assert not os.path.exists(path)  # the O_EXCL lock file goes with its release
    # A lock file left by a dead process is stale and taken over.
    with open(path, 'w') as f:
        f.write(str(2 ** 22 + 1))  # above the default pid_max: no such process
    with FileLock(path, timeout=2):
        with open(path) as f:
            assert f.read() == str(os.getpid())
