"""``kzoo cache ...`` run as a real subprocess (``python -m kzoo.cli``) against a
cache that get_file filled from the loopback server, with KZOO_HOME in a tmp dir."""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from kzoo.utils.data_utils import get_file

pytestmark = pytest.mark.usefixtures('kzoo_env')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD, NEW, DS = b'old weights' * 100, b'new weights' * 100, b'a dataset' * 50


def md5(b):
    return hashlib.md5(b).hexdigest()


def kzoo(*args, env=None):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''),
               **(env or {}))
    return subprocess.run([sys.executable, '-m', 'kzoo.cli', 'cache'] + list(args),
                          env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def filled(loopback):
    """Cache with two same-name weight files, a dataset and an extracted archive."""
    loopback.add('/v1/w.h5', OLD)
    loopback.add('/v2/w.h5', NEW)
    loopback.add('/d.npz', DS)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        info = tarfile.TarInfo('inner/x.txt')
        info.size = 1
        t.addfile(info, io.BytesIO(b'x'))
    loopback.add('/arc.tar.gz', buf.getvalue())
    paths = {
        'old': get_file('w.h5', loopback.url('/v1/w.h5'), file_hash=md5(OLD),
                        cache_subdir='models'),
        'new': get_file('w.h5', loopback.url('/v2/w.h5'), file_hash=md5(NEW),
                        cache_subdir='models'),
        'ds': get_file('d.npz', loopback.url('/d.npz')),
        'arc': get_file('arc.tar.gz', loopback.url('/arc.tar.gz'), extract=True),
    }
    return loopback, paths


def test_path(kzoo_env):
    r = kzoo('path')
    assert r.returncode == 0 and r.stdout.strip() == str(kzoo_env)
    assert kzoo('path', 'models').stdout.strip() == os.path.join(str(kzoo_env), 'models')


def test_path_with_cache_dir_option(tmp_path):
    r = kzoo('--cache-dir', str(tmp_path / 'other'), 'path')
    assert r.stdout.strip() == str(tmp_path / 'other')


def test_list_shows_name_size_hash_origin(filled):
    srv, paths = filled
    r = kzoo('list')
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'models/w.h5' in out and 'models/w-%s.h5' % md5(NEW)[:16] in out
    assert 'md5:' + md5(OLD) in out and 'md5:' + md5(NEW) in out
    assert srv.url('/v1/w.h5') in out and srv.url('/v2/w.h5') in out
    assert 'datasets/d.npz' in out and 'sha256:' + hashlib.sha256(DS).hexdigest() in out
    assert 'datasets/arc_extracted/ (extracted)' in out
    assert '%d B' % len(DS) in out
    assert 'lock' not in out and '.kzoo' not in out


def test_list_json(filled):
    srv, paths = filled
    r = kzoo('list', '--json')
    entries = {e['file']: e for e in json.loads(r.stdout)}
    e = entries['w.h5']
    assert (e['subdir'], e['size'], e['hash'], e['origin'], e['kind']) == (
        'models', len(OLD), md5(OLD), srv.url('/v1/w.h5'), 'file')
    assert entries['w-%s.h5' % md5(NEW)[:16]]['name'] == 'w.h5'


def test_list_empty_cache():
    r = kzoo('list')
    assert r.returncode == 0 and 'empty' in r.stdout


def test_list_shows_kept_partial_downloads(loopback, monkeypatch):
    loopback.add('/big.bin', b'b' * 100000)
    loopback.fault('/big.bin', 'cut', at=5000)
    monkeypatch.setenv('KZOO_RETRIES', '0')
    with pytest.raises(Exception):
        get_file('big.bin', loopback.url('/big.bin'))
    out = kzoo('list').stdout
    assert '(partial)' in out and 'big.bin.' in out


def test_verify_ok_then_tampered(filled):
    srv, paths = filled
    r = kzoo('verify')
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count('OK') == 4  # both weights, the dataset, the archive
    with open(paths['new'], 'r+b') as f:
        f.write(b'EVIL')
    r = kzoo('verify')
    assert r.returncode == 1
    line = [l for l in r.stdout.splitlines() if l.startswith('FAILED')][0]
    assert os.path.basename(paths['new']) in line and md5(NEW) in line
    assert os.path.exists(paths['new'])
    r = kzoo('verify', '--remove')
    assert r.returncode == 1 and '(removed)' in r.stdout
    assert not os.path.exists(paths['new'])
    assert kzoo('verify').returncode == 0
    # the next get_file fetches it again, under the same hash-tagged name
    assert get_file('w.h5', srv.url('/v2/w.h5'), file_hash=md5(NEW),
                    cache_subdir='models') == paths['new']
    assert srv.count('/v2/w.h5') == 2


def test_verify_reports_files_without_recorded_hash(kzoo_env):
    d = kzoo_env / 'models'
    (d / '.kzoo').mkdir(parents=True)
    (d / 'hand.h5').write_bytes(b'x')
    r = kzoo('verify')
    assert r.returncode == 0 and 'UNKNOWN  models/hand.h5' in r.stdout


def test_clear_name_removes_every_variant(filled):
    srv, paths = filled
    r = kzoo('clear', 'w.h5')
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(paths['old']) and not os.path.exists(paths['new'])
    assert os.path.exists(paths['ds'])
    meta = os.path.join(os.path.dirname(paths['old']), '.kzoo')
    assert [n for n in os.listdir(meta) if n.endswith('.json')] == []
    assert 'w.h5' not in kzoo('list').stdout


def test_clear_archive_takes_its_extracted_folder(filled):
    srv, paths = filled
    assert kzoo('clear', 'datasets/arc.tar.gz').returncode == 0
    assert not os.path.exists(paths['arc'])
    assert os.path.exists(paths['ds'])


def test_clear_unknown_name_fails(filled):
    r = kzoo('clear', 'nothere.h5')
    assert r.returncode == 1 and 'not in the cache: nothere.h5' in r.stderr


def test_clear_everything_but_only_cache_folders(filled, kzoo_env):
    (kzoo_env / 'kzoo.json').write_text('{"backend": "numpy"}')  # kzoo config, not cache
    (kzoo_env / 'notes').mkdir()
    (kzoo_env / 'notes' / 'mine.txt').write_text('keep me')
    r = kzoo('clear')
    assert r.returncode == 0, r.stderr
    assert 'entries removed' in r.stdout
    assert kzoo('list').stdout.startswith('the cache at')
    assert (kzoo_env / 'kzoo.json').exists() and (kzoo_env / 'notes' / 'mine.txt').exists()


def test_cache_needs_an_action():
    r = kzoo()
    assert r.returncode == 2 and 'ACTION' in r.stderr
