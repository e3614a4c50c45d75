"""Killing ``kzoo convert`` and ``get_file`` at random moments loses nothing.

A child process converts (or downloads and extracts) and is sent SIGKILL after a
seeded random delay spread over the time the whole job takes. After every kill the
destination is either absent or complete and correct (never a partial file), the cache
holds nothing unverified (a file under its final name has its hash, a sidecar is
valid JSON, an extracted folder is complete), and nothing else visible appears; the
next run succeeds and leaves no staging leftovers behind. ``KZOO_KILLS`` kills per
test (default 5), ``KZOO_KILL_SEED`` the seed.
"""
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

from tests.loopback_server import LoopbackServer
from tests.security import child, harness, hostile, workers

KILLS = int(os.environ.get('KZOO_KILLS', '5'))
SEED = int(os.environ.get('KZOO_KILL_SEED', '0'))


def _env(box):
    env = harness.child_env(box)
    env['KZOO_TIMEOUT'] = '10'
    return env


def _visible(folder):
    return sorted(n for n in os.listdir(folder) if not n.startswith('.'))


def _killed_at_random(fn, args, env, cwd, duration, rng, kills=KILLS, check=None):
    """Start ``fn(*args)`` ``kills`` times, SIGKILL it after a random delay in
    ``[0.05, 1.1] x duration``, and call ``check()`` after each; returns how many runs
    were interrupted (the rest had finished before their kill).

    The first delay is at most half the duration: once a run finishes, later downloads
    are cache hits that return at once, so a late first kill left none to land."""
    interrupted = 0
    for i in range(kills):
        delay = rng.uniform(0.05, 0.5 if i == 0 else 1.1) * duration
        process, receiver = child.start_child(fn, *args, env=env, cwd=cwd)
        time.sleep(delay)
        child.kill_child(process)
        outcome = child.finish_child(process, receiver, timeout=60)
        if outcome.status == 'crashed':
            interrupted += 1
        else:
            assert outcome.status == 'returned', outcome.describe()
        if check is not None:
            check()
    return interrupted


# ---- kzoo convert ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp('source')
    path = str(folder / 'model.h5')
    shape = workers.medium_model(path)
    x = np.random.default_rng(1).standard_normal(shape).astype('float32')
    return path, x, workers.model_outputs(path, x)


def _check_destination(out, target, x, expected):
    assert _visible(out) in ([], [target]), _visible(out)
    dst = os.path.join(out, target)
    if os.path.exists(dst):  # renamed into place before the kill: complete and correct
        np.testing.assert_allclose(workers.model_outputs(dst, x), expected, rtol=1e-4,
                                   atol=1e-4)


@pytest.mark.parametrize('target', ['model.onnx', 'model.keras'])
def test_killed_kzoo_convert_leaves_no_partial_destination(source, target, tmp_path):
    src, x, expected = source
    box = hostile.Box(tmp_path / 'box')
    out = box.out
    env = _env(box)
    child.run_in_child(int)  # the forkserver's start is not part of a conversion
    start = time.monotonic()
    probe = child.run_in_child(workers.convert, src, os.path.join(box.tmp, target), env=env,
                               cwd=box.inp)
    duration = time.monotonic() - start
    assert probe.status == 'returned' and probe.value == 0, probe.describe()
    os.remove(os.path.join(box.tmp, target))
    rng = random.Random('%s-%s' % (SEED, target))
    interrupted = _killed_at_random(
        workers.convert, (src, os.path.join(out, target)), env, box.inp, duration, rng,
        check=lambda: _check_destination(out, target, x, expected))
    assert interrupted >= 1, 'no kill landed during a conversion'
    # the next run succeeds, and cleans up after the dead ones
    final = child.run_in_child(workers.convert, src, os.path.join(out, target), env=env,
                               cwd=box.inp)
    assert final.status == 'returned' and final.value == 0, final.describe()
    _check_destination(out, target, x, expected)
    assert os.listdir(out) == [target], os.listdir(out)


@pytest.mark.slow
def test_killed_kzoo_program_leaves_no_partial_destination(source, tmp_path):
    """The same with the installed ``kzoo`` executable (a fresh interpreter per run)."""
    src, x, expected = source
    box = hostile.Box(tmp_path / 'box')
    env = _env(box)
    exe = os.path.join(os.path.dirname(sys.executable), 'kzoo')
    dst = os.path.join(box.out, 'model.onnx')
    start = time.monotonic()
    subprocess.run([exe, 'convert', src, os.path.join(box.tmp, 'probe.onnx')], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    duration = time.monotonic() - start
    os.remove(os.path.join(box.tmp, 'probe.onnx'))
    rng = random.Random(SEED)
    for _ in range(KILLS):
        proc = subprocess.Popen([exe, 'convert', src, dst], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 1.1) * duration)
        proc.kill()
        proc.wait(30)
        _check_destination(box.out, 'model.onnx', x, expected)
    subprocess.run([exe, 'convert', src, dst], env=env, check=True, stdout=subprocess.DEVNULL)
    _check_destination(box.out, 'model.onnx', x, expected)
    assert os.listdir(box.out) == ['model.onnx']


# ---- get_file ---------------------------------------------------------------------------------

def _archive(n=150, size=20000):
    rng = np.random.default_rng(2)
    members = {'data/f%03d.bin' % i: rng.bytes(size) for i in range(n)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue(), members


def _check_cache(cache, data, members):
    """Nothing unverified under a final name; sidecars are JSON; extraction complete."""
    folder = os.path.join(cache, 'datasets')
    if not os.path.isdir(folder):
        return
    visible = _visible(folder)
    for name in visible:
        path = os.path.join(folder, name)
        if name == 'data.zip':
            assert workers.sha256(path) == hashlib.sha256(data).hexdigest(), \
                'unverified data.zip in the cache'
        elif name == 'data_extracted':
            found = {}
            for root, _, files in os.walk(path):
                for f in files:
                    p = os.path.join(root, f)
                    found[os.path.relpath(p, path)] = open(p, 'rb').read()
            assert found == members, 'an incomplete extracted folder'
        else:
            assert '.part' in name, 'unexpected cache entry %s' % name
    meta = os.path.join(folder, '.kzoo')
    for name in os.listdir(meta) if os.path.isdir(meta) else []:
        if name.endswith('.json'):
            with open(os.path.join(meta, name)) as f:
                json.load(f)


def test_killed_get_file_leaves_no_corrupt_cache_entry(tmp_path):
    data, members = _archive()
    sha = hashlib.sha256(data).hexdigest()
    box = hostile.Box(tmp_path / 'box')
    cache = os.path.join(box.out, 'cache')
    env = _env(box)
    with LoopbackServer({'/data.zip': data}) as server:
        # about a second per download, so kills land before, during and after it
        server.fault('/data.zip', 'throttle', times=None, chunk=64 << 10, pause=0.04)
        url = server.url('/data.zip')
        child.run_in_child(int)  # the forkserver's start is not part of a download
        start = time.monotonic()
        probe = child.run_in_child(workers.download, 'data.zip', url, sha, True,
                                   os.path.join(box.tmp, 'probe'), env=env, cwd=box.inp)
        duration = time.monotonic() - start
        assert probe.status == 'returned', probe.describe()
        rng = random.Random(SEED)
        interrupted = _killed_at_random(
            workers.download, ('data.zip', url, sha, True, cache), env, box.inp, duration,
            rng, check=lambda: _check_cache(cache, data, members))
        assert interrupted >= 1, 'no kill landed during a download'
        final = child.run_in_child(workers.download, 'data.zip', url, sha, True, cache,
                                   env=env, cwd=box.inp)
    assert final.status == 'returned', final.describe()
    assert final.value == os.path.join(cache, 'datasets', 'data_extracted')
    _check_cache(cache, data, members)
    assert _visible(os.path.join(cache, 'datasets')) == ['data.zip', 'data_extracted']
    assert [n for n in os.listdir(os.path.join(cache, 'datasets'))
            if n.startswith('.') and n != '.kzoo'] == []
