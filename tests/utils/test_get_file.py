"""get_file against a real loopback HTTP server (security.md item 24 and issue 5).

Every test runs with KZOO_HOME, KERAS_HOME and HOME in tmp dirs (the kzoo_env
fixture) and with timeouts of a second or two, so the module finishes quickly.
"""
import glob
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import textwrap
import time

import pytest

from kzoo.errors import DownloadError, HashMismatchError, OfflineError, UnsafeInputError
from kzoo.utils import data_utils
from kzoo.utils.data_utils import get_file
from tests.loopback_server import LoopbackServer

pytestmark = pytest.mark.usefixtures('kzoo_env')

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = bytes(range(256)) * 4096 + b'tail'  # 1 MiB + 4 bytes, not a chunk multiple
MD5 = hashlib.md5(DATA).hexdigest()
SHA = hashlib.sha256(DATA).hexdigest()


def md5(b):
    return hashlib.md5(b).hexdigest()


def read(path):
    with open(path, 'rb') as f:
        return f.read()


def datadir(root, sub='datasets'):
    return os.path.join(str(root), sub)


def visible_files(root, sub='datasets'):
    """Names in a cache folder other than kzoo's own metadata folder."""
    d = datadir(root, sub)
    return sorted(n for n in os.listdir(d) if n != '.kzoo') if os.path.isdir(d) else []


def run_child(code, env_extra=None, wait=True):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.update(env_extra or {})
    cmd = [sys.executable, '-c', textwrap.dedent(code)]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def srv(loopback):
    loopback.add('/w.bin', DATA)
    return loopback


# -- the basics ---------------------------------------------------------------

def test_download_then_cache_hit(srv, kzoo_env):
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert path == os.path.join(datadir(kzoo_env), 'w.bin')
    assert read(path) == DATA
    assert get_file('w.bin', srv.url('/w.bin'), file_hash=MD5) == path
    assert srv.count('/w.bin') == 1
    meta = data_utils.read_meta(datadir(kzoo_env), 'w.bin')
    assert meta['hash'] == MD5 and meta['hash_algorithm'] == 'md5'
    assert meta['origin'] == srv.url('/w.bin') and meta['size'] == len(DATA)
    assert visible_files(kzoo_env) == ['w.bin']  # no .part, no temp files


def test_sha256_is_chosen_for_64_hex_digits(srv):
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=SHA.upper(), cache_subdir='models')
    assert read(path) == DATA
    assert data_utils.read_meta(os.path.dirname(path), 'w.bin')['hash_algorithm'] == 'sha256'


def test_md5_hash_argument_and_no_hash(srv):
    assert read(get_file('a.bin', srv.url('/w.bin'), md5_hash=MD5)) == DATA
    path = get_file('b.bin', srv.url('/w.bin'))
    assert data_utils.read_meta(os.path.dirname(path), 'b.bin')['hash'] == SHA
    get_file('b.bin', srv.url('/w.bin'))  # cached, no hash to check
    assert srv.count('/w.bin') == 2


def test_fname_defaults_to_the_url_name(srv, kzoo_env):
    assert get_file(origin=srv.url('/w.bin')) == os.path.join(datadir(kzoo_env), 'w.bin')


def test_cache_dir_argument_overrides_root(srv, tmp_path):
    path = get_file('w.bin', srv.url('/w.bin'), cache_dir=str(tmp_path / 'elsewhere'))
    assert path == str(tmp_path / 'elsewhere' / 'datasets' / 'w.bin')


def test_empty_file(loopback):
    loopback.add('/empty', b'')
    assert read(get_file('empty', loopback.url('/empty'), file_hash=md5(b''))) == b''


def test_force_download(srv):
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5, force_download=True)
    assert srv.count('/w.bin') == 2


def test_file_origin(tmp_path):
    src = tmp_path / 'src.bin'
    src.write_bytes(DATA)
    assert read(get_file('w.bin', src.as_uri(), file_hash=MD5)) == DATA


# -- names and schemes ----------------------------------------------------------

@pytest.mark.parametrize('bad', ['a/b.h5', '../x.h5', '..', '.', 'a\\b.h5', '/etc/passwd',
                                 'x\x00.h5'])
def test_fname_must_be_plain(srv, bad, kzoo_env):
    with pytest.raises(UnsafeInputError, match='plain file name'):
        get_file(bad, srv.url('/w.bin'))
    assert srv.count('/w.bin') == 0
    assert not os.path.exists(str(kzoo_env) + '/x.h5')


@pytest.mark.parametrize('origin', ['ftp://127.0.0.1/w.bin', 'gopher://x/y', 'javascript:x',
                                    'w.bin'])
def test_origin_scheme_refused(origin):
    with pytest.raises(UnsafeInputError, match='scheme'):
        get_file('w.bin', origin)


# -- broken transfers -------------------------------------------------------------

def test_disconnect_mid_body_then_resume_with_range(srv, kzoo_env):
    half = len(DATA) // 2
    srv.fault('/w.bin', 'cut', at=half)
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert read(path) == DATA
    assert srv.statuses('/w.bin') == [200, 206]
    assert srv.range_requests('/w.bin') == ['bytes=%d-' % half]
    assert visible_files(kzoo_env) == ['w.bin']


def test_disconnect_without_hash_resumes_too(srv):
    srv.fault('/w.bin', 'cut', at=1000)
    assert read(get_file('w.bin', srv.url('/w.bin'))) == DATA
    assert srv.range_requests('/w.bin') == ['bytes=1000-']


def test_read_timeout_mid_body_resumes(srv, monkeypatch):
    monkeypatch.setenv('KZOO_TIMEOUT', '0.3')
    srv.fault('/w.bin', 'hold', at=5000, seconds=60)
    t0 = time.monotonic()
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    # Bounds leave room for a loaded CI machine, far from the 60 s hold of a missed timeout.
    assert time.monotonic() - t0 < 15
    assert srv.range_requests('/w.bin') == ['bytes=5000-']


def test_503_then_success(srv):
    srv.fault('/w.bin', 'status', code=503)
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.statuses('/w.bin') == [503, 200]


def test_429_retry_after_is_honoured(srv):
    srv.fault('/w.bin', 'status', code=429, headers={'Retry-After': '1'})
    t0 = time.monotonic()
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert 0.9 < time.monotonic() - t0 < 15
    assert srv.statuses('/w.bin') == [429, 200]


def test_retry_after_is_capped(srv, monkeypatch):
    monkeypatch.setattr(data_utils, 'RETRY_AFTER_MAX', 0.2)
    srv.fault('/w.bin', 'status', code=503, headers={'Retry-After': '3600'})
    t0 = time.monotonic()
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert time.monotonic() - t0 < 30


def test_persistent_503_gives_up_with_a_clear_error(srv, kzoo_env):
    srv.fault('/w.bin', 'status', code=503, times=None)
    with pytest.raises(DownloadError, match=r'w\.bin.*503'):
        get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert srv.count('/w.bin') == 4  # one try + KZOO_RETRIES=3
    assert visible_files(kzoo_env) == []


def test_404_is_not_retried(loopback):
    with pytest.raises(DownloadError, match='404'):
        get_file('nope.bin', loopback.url('/nope.bin'))
    assert loopback.count('/nope.bin') == 1


def test_slow_server_times_out_in_bounded_time(srv, monkeypatch, kzoo_env):
    monkeypatch.setenv('KZOO_TIMEOUT', '0.3')
    monkeypatch.setenv('KZOO_RETRIES', '1')
    srv.fault('/w.bin', 'stall', seconds=120, times=None)
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as e:
        get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    elapsed = time.monotonic() - t0
    assert elapsed < 20, elapsed
    msg = str(e.value)
    assert 'w.bin' in msg and srv.url('/w.bin') in msg and 'timeout' in msg.lower()
    assert visible_files(kzoo_env) == []


def test_unreachable_server_fails_fast(monkeypatch):
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    monkeypatch.setenv('KZOO_RETRIES', '1')
    with pytest.raises(DownloadError, match='gave up after 2 attempts'):
        get_file('w.bin', 'http://127.0.0.1:%d/w.bin' % port)


def test_server_without_range_support_gets_full_download(srv):
    srv.fault('/w.bin', 'cut', at=len(DATA) // 3)
    srv.fault('/w.bin', 'ignore_range', times=None)
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.statuses('/w.bin') == [200, 200]
    assert srv.range_requests('/w.bin')  # asked, was ignored, coped


def test_wrong_content_range_start_restarts_from_zero(srv):
    srv.fault('/w.bin', 'cut', at=4096)
    srv.fault('/w.bin', 'bad_range', shift=100)
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.statuses('/w.bin') == [200, 206, 200]


def test_server_with_persistently_wrong_ranges_gets_one_full_download(srv):
    srv.fault('/w.bin', 'cut', at=4096)
    srv.fault('/w.bin', 'bad_range', shift=100, times=None)
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    # Once a range came back wrong, the transfer stops asking for ranges.
    assert srv.statuses('/w.bin') == [200, 206, 200]
    assert srv.range_requests('/w.bin') == ['bytes=4096-']


def test_slow_but_steady_server_is_not_cut_off(srv, monkeypatch):
    """The read timeout bounds silence, not the whole transfer."""
    monkeypatch.setenv('KZOO_TIMEOUT', '0.3')
    small = DATA[:60000]
    srv.add('/slow.bin', small)
    srv.fault('/slow.bin', 'throttle', chunk=6000, pause=0.1)  # 1 s in all
    assert read(get_file('slow.bin', srv.url('/slow.bin'), file_hash=md5(small))) == small
    assert srv.count('/slow.bin') == 1


# -- hashes ---------------------------------------------------------------------

def test_hash_mismatch_leaves_nothing_behind(srv, kzoo_env):
    wrong = md5(b'something else')
    with pytest.raises(HashMismatchError) as e:
        get_file('w.bin', srv.url('/w.bin'), file_hash=wrong)
    msg = str(e.value)
    for part in ('w.bin', srv.url('/w.bin'), wrong, MD5):
        assert part in msg
    assert (e.value.expected, e.value.actual) == (wrong, MD5)
    assert visible_files(kzoo_env) == []
    assert not glob.glob(os.path.join(datadir(kzoo_env), '.kzoo', '*.json'))


def test_short_file_served_whole_is_a_mismatch(loopback, kzoo_env):
    loopback.add('/w.bin', DATA[:1000])  # a short file the server believes is complete
    with pytest.raises(HashMismatchError):
        get_file('w.bin', loopback.url('/w.bin'), file_hash=MD5)
    assert visible_files(kzoo_env) == []


def test_tampered_cached_file_is_downloaded_again_once(srv):
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    with open(path, 'r+b') as f:
        f.write(b'EVIL')
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.count('/w.bin') == 2
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert srv.count('/w.bin') == 2


def test_tampered_cache_and_bad_server_raise_once_no_loop(srv):
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    with open(path, 'r+b') as f:
        f.write(b'EVIL')
    srv.add('/w.bin', b'EVIL' + DATA[4:])
    with pytest.raises(HashMismatchError):
        get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert srv.count('/w.bin') == 2


def test_same_name_different_hash_files_coexist(loopback, kzoo_env):
    old, new = b'old resnet50' * 1000, b'new resnet50' * 1000
    loopback.add('/v0.2/resnet50.h5', old)
    loopback.add('/resnet/resnet50.h5', new)
    p_old = get_file('resnet50.h5', loopback.url('/v0.2/resnet50.h5'), file_hash=md5(old),
                     cache_subdir='models')
    p_new = get_file('resnet50.h5', loopback.url('/resnet/resnet50.h5'), file_hash=md5(new),
                     cache_subdir='models')
    assert p_old != p_new
    assert os.path.basename(p_old) == 'resnet50.h5'
    assert os.path.basename(p_new) == 'resnet50-%s.h5' % md5(new)[:16]
    for _ in range(2):  # no ping-pong: each lookup finds its own file
        assert read(get_file('resnet50.h5', loopback.url('/v0.2/resnet50.h5'),
                             file_hash=md5(old), cache_subdir='models')) == old
        assert read(get_file('resnet50.h5', loopback.url('/resnet/resnet50.h5'),
                             file_hash=md5(new), cache_subdir='models')) == new
    assert loopback.count('/v0.2/resnet50.h5') == 1
    assert loopback.count('/resnet/resnet50.h5') == 1
    assert visible_files(kzoo_env, 'models') == sorted([os.path.basename(p_old),
                                                        os.path.basename(p_new)])


def test_same_file_asked_by_md5_then_sha256_is_downloaded_once(srv, kzoo_env):
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert get_file('w.bin', srv.url('/w.bin'), file_hash=SHA) == os.path.join(
        datadir(kzoo_env), 'w.bin')
    assert srv.count('/w.bin') == 1


def test_resumed_prefix_that_is_wrong_gets_one_clean_download(srv, kzoo_env):
    srv.fault('/w.bin', 'cut', at=10000)
    proc = run_child("""
        from kzoo.utils.data_utils import get_file
        get_file('w.bin', %r, file_hash=%r)
    """ % (srv.url('/w.bin'), MD5), {'KZOO_RETRIES': '0'})
    assert proc.returncode != 0 and 'DownloadError' in proc.stderr
    (part,) = glob.glob(os.path.join(datadir(kzoo_env), '*.part'))
    with open(part, 'r+b') as f:
        f.write(b'corrupt')  # the kept prefix no longer matches the file
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.statuses('/w.bin') == [200, 206, 200]


def test_kept_part_that_is_already_complete_needs_no_body(srv, kzoo_env):
    os.makedirs(datadir(kzoo_env))
    part = data_utils._part_path(datadir(kzoo_env), 'w.bin', MD5)
    with open(part, 'wb') as f:
        f.write(DATA)  # killed after the last byte, before the rename
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.statuses('/w.bin') == [416]
    assert visible_files(kzoo_env) == ['w.bin']


def test_partial_of_a_file_that_changed_upstream_is_not_mixed_in(srv, kzoo_env):
    """No hash to catch it, so the kept prefix must not be glued to the new file."""
    srv.etags = False  # a server without validators: the length must give it away
    srv.fault('/w.bin', 'cut', at=50000)
    proc = run_child("""
        from kzoo.utils.data_utils import get_file
        get_file('w.bin', %r)
    """ % srv.url('/w.bin'), {'KZOO_RETRIES': '0'})
    assert proc.returncode != 0
    new = b'version 2 ' * 200000
    srv.add('/w.bin', new)
    assert read(get_file('w.bin', srv.url('/w.bin'))) == new
    assert srv.statuses('/w.bin') == [200, 206, 200]  # the length gave it away


def test_partial_of_a_same_size_changed_file_is_caught_by_if_range(srv, kzoo_env):
    srv.fault('/w.bin', 'cut', at=50000)
    proc = run_child("""
        from kzoo.utils.data_utils import get_file
        get_file('w.bin', %r)
    """ % srv.url('/w.bin'), {'KZOO_RETRIES': '0'})
    assert proc.returncode != 0
    new = DATA[::-1]  # same length, other content, other ETag
    srv.add('/w.bin', new)
    assert read(get_file('w.bin', srv.url('/w.bin'))) == new
    (resume,) = [r for r in srv.records if r.headers.get('Range')]
    assert resume.headers.get('If-Range') and resume.status == 200


# -- redirects ----------------------------------------------------------------

def test_redirect_to_http_is_followed(srv):
    srv.fault('/old', 'redirect', to=srv.url('/w.bin'), times=None)
    srv.fault('/rel', 'redirect', to='/old', times=None)  # relative Location
    assert read(get_file('w.bin', srv.url('/rel'), file_hash=MD5)) == DATA
    meta = data_utils.read_meta(os.path.join(os.environ['KZOO_HOME'], 'datasets'), 'w.bin')
    assert meta['url'] == srv.url('/w.bin') and meta['origin'] == srv.url('/rel')


def test_resume_after_redirect(srv):
    srv.fault('/old', 'redirect', to='/w.bin', times=None)
    srv.fault('/w.bin', 'cut', at=777)
    assert read(get_file('w.bin', srv.url('/old'), file_hash=MD5)) == DATA
    assert srv.range_requests('/old') == ['bytes=777-']
    assert srv.range_requests('/w.bin') == ['bytes=777-']


def test_redirect_to_file_url_is_refused(srv, tmp_path, kzoo_env):
    secret = tmp_path / 'secret'
    secret.write_bytes(b'top secret')
    srv.fault('/evil', 'redirect', to=secret.as_uri(), times=None)
    with pytest.raises(UnsafeInputError, match='file'):
        get_file('w.bin', srv.url('/evil'))
    assert visible_files(kzoo_env) == []


@pytest.mark.parametrize('to', ['ftp://127.0.0.1/x', 'data:text/plain,hello'])
def test_redirect_to_other_schemes_is_refused(srv, to):
    srv.fault('/evil', 'redirect', to=to, times=None)
    with pytest.raises(UnsafeInputError):
        get_file('w.bin', srv.url('/evil'))


def test_redirect_loop_is_refused(srv):
    srv.fault('/a', 'redirect', to='/b', times=None)
    srv.fault('/b', 'redirect', to='/a', times=None)
    with pytest.raises(DownloadError, match='redirect loop'):
        get_file('w.bin', srv.url('/a'))
    assert srv.count('/a') == 1 and srv.count('/b') == 1


def test_too_many_redirects(srv, monkeypatch):
    monkeypatch.setattr(data_utils, 'MAX_REDIRECTS', 3)
    for i in range(5):
        srv.fault('/r%d' % i, 'redirect', to='/r%d' % (i + 1), times=None)
    with pytest.raises(DownloadError, match='more than 3 redirects'):
        get_file('w.bin', srv.url('/r0'))


# -- offline, mirror, Keras's cache ------------------------------------------------

def test_offline_without_cached_file(srv, monkeypatch, kzoo_env):
    monkeypatch.setenv('KZOO_OFFLINE', '1')
    with pytest.raises(OfflineError) as e:
        get_file('w.bin', srv.url('/w.bin'), file_hash=MD5, cache_subdir='models')
    msg = str(e.value)
    assert 'w.bin' in msg and srv.url('/w.bin') in msg
    assert os.path.join(datadir(kzoo_env, 'models'), 'w.bin') in msg
    assert srv.count('/w.bin') == 0


def test_offline_with_cached_file(srv, monkeypatch):
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    monkeypatch.setenv('KZOO_OFFLINE', '1')
    assert get_file('w.bin', srv.url('/w.bin'), file_hash=MD5) == path
    assert get_file('w.bin', srv.url('/w.bin')) == path
    assert srv.count('/w.bin') == 1


def test_offline_with_a_file_placed_by_hand(srv, monkeypatch, kzoo_env):
    monkeypatch.setenv('KZOO_OFFLINE', '1')
    with pytest.raises(OfflineError) as e:
        get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    target = str(e.value).split('place it at ')[1].split(' ')[0]
    with open(target, 'wb') as f:  # follow the message's instructions
        f.write(DATA)
    assert get_file('w.bin', srv.url('/w.bin'), file_hash=MD5) == target
    assert srv.count('/w.bin') == 0


def test_offline_with_a_corrupt_cached_file(srv, monkeypatch):
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    with open(path, 'ab') as f:
        f.write(b'x')
    monkeypatch.setenv('KZOO_OFFLINE', '1')
    with pytest.raises(OfflineError, match='fails verification'):
        get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert srv.count('/w.bin') == 1


def test_mirror_is_tried_first(srv, monkeypatch):
    with LoopbackServer({'/mirror/w.bin': DATA}) as mirror:
        monkeypatch.setenv('KZOO_MIRROR', mirror.url('/mirror/'))
        assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
        assert mirror.count('/mirror/w.bin') == 1
    assert srv.count('/w.bin') == 0


def test_mirror_missing_file_falls_back_to_origin(srv, monkeypatch):
    with LoopbackServer() as mirror:
        monkeypatch.setenv('KZOO_MIRROR', mirror.url('/m'))
        assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
        assert mirror.count('/m/w.bin') == 1
    assert srv.count('/w.bin') == 1


def test_mirror_with_wrong_content_falls_back_to_origin(srv, monkeypatch, kzoo_env):
    with LoopbackServer({'/w.bin': b'not it'}) as mirror:
        monkeypatch.setenv('KZOO_MIRROR', mirror.url(''))
        assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert visible_files(kzoo_env) == ['w.bin']


def test_file_in_keras_cache_is_reused(srv, tmp_path):
    keras_models = tmp_path / 'keras' / 'models'
    keras_models.mkdir(parents=True)
    (keras_models / 'w.bin').write_bytes(DATA)
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5, cache_subdir='models')
    assert path == str(keras_models / 'w.bin')
    assert srv.count('/w.bin') == 0


def test_file_in_home_keras_datasets_is_reused(srv, tmp_path):
    d = tmp_path / 'home' / '.keras' / 'datasets'
    d.mkdir(parents=True)
    (d / 'w.bin').write_bytes(DATA)
    assert get_file('w.bin', srv.url('/w.bin'), file_hash=MD5) == str(d / 'w.bin')
    assert srv.count('/w.bin') == 0


def test_wrong_file_in_keras_cache_is_not_used(srv, tmp_path):
    d = tmp_path / 'keras' / 'datasets'
    d.mkdir(parents=True)
    (d / 'w.bin').write_bytes(b'stale')
    path = get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert read(path) == DATA and srv.count('/w.bin') == 1
    assert (d / 'w.bin').read_bytes() == b'stale'  # Keras's cache is read, never written


# -- processes ------------------------------------------------------------------

CHILD = """
import sys
from kzoo.utils.data_utils import get_file
p = get_file('w.bin', %r, file_hash=%r)
sys.stdout.write(p)
"""


def test_eight_processes_download_once(srv, kzoo_env):
    srv.fault('/w.bin', 'delay', seconds=1.0, times=None)  # keep the door open a while
    procs = [run_child(CHILD % (srv.url('/w.bin'), MD5), wait=False) for _ in range(8)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
        outs.append(out.decode())
    assert srv.count('/w.bin') == 1
    assert set(outs) == {os.path.join(datadir(kzoo_env), 'w.bin')}
    assert read(outs[0]) == DATA
    assert visible_files(kzoo_env) == ['w.bin']


def test_partial_file_kept_by_a_previous_process_is_resumed(srv, kzoo_env):
    srv.fault('/w.bin', 'cut', at=300000)
    proc = run_child(CHILD % (srv.url('/w.bin'), MD5), {'KZOO_RETRIES': '0'})
    assert proc.returncode != 0 and 'w.bin' in proc.stderr
    assert visible_files(kzoo_env)[0].endswith('.part')  # kept, under another name
    assert 'w.bin' not in visible_files(kzoo_env)
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert srv.range_requests('/w.bin') == ['bytes=300000-']
    assert visible_files(kzoo_env) == ['w.bin']


def test_killed_download_leaves_no_file_under_the_final_name(srv, kzoo_env):
    srv.fault('/w.bin', 'hold', at=400000, seconds=30)
    child = run_child(CHILD % (srv.url('/w.bin'), MD5), {'KZOO_TIMEOUT': '30'}, wait=False)
    try:
        assert srv.held.wait(20), 'the child never reached the server'
        deadline = time.monotonic() + 10
        parts = []
        while time.monotonic() < deadline:  # wait until the child wrote what it got
            parts = glob.glob(os.path.join(datadir(kzoo_env), '*.part'))
            if parts and os.path.getsize(parts[0]) == 400000:
                break
            time.sleep(0.02)
        assert parts and os.path.getsize(parts[0]) == 400000
        assert not os.path.exists(os.path.join(datadir(kzoo_env), 'w.bin'))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        srv.release()
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not os.path.exists(os.path.join(datadir(kzoo_env), 'w.bin'))
    # The kernel released the dead child's lock: the next run neither blocks nor
    # starts over.
    t0 = time.monotonic()
    assert read(get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)) == DATA
    assert time.monotonic() - t0 < 30  # a held lock would block without end
    assert srv.range_requests('/w.bin') == ['bytes=400000-']
    assert visible_files(kzoo_env) == ['w.bin']


# -- extraction -------------------------------------------------------------------

def _tar_gz(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_extract_returns_the_extracted_folder(loopback, kzoo_env):
    blob = _tar_gz({'flowers/a.txt': b'a', 'flowers/b/c.txt': b'c'})
    loopback.add('/flowers.tgz', blob)
    path = get_file('flowers.tgz', loopback.url('/flowers.tgz'), extract=True,
                    file_hash=md5(blob))
    assert path == os.path.join(datadir(kzoo_env), 'flowers_extracted')
    assert read(os.path.join(path, 'flowers', 'b', 'c.txt')) == b'c'
    assert os.path.isfile(os.path.join(datadir(kzoo_env), 'flowers.tgz'))
    assert get_file('flowers.tgz', loopback.url('/flowers.tgz'), extract=True,
                    file_hash=md5(blob)) == path
    assert loopback.count('/flowers.tgz') == 1


def test_extract_without_dot_in_fname(loopback, kzoo_env):
    blob = _tar_gz({'cifar-10-batches-py/data_batch_1': b'1'})
    loopback.add('/c.tar.gz', blob)
    path = get_file('cifar-10-batches-py-target', loopback.url('/c.tar.gz'), extract=True)
    assert path == os.path.join(datadir(kzoo_env), 'cifar-10-batches-py-target')
    assert read(os.path.join(path, 'cifar-10-batches-py', 'data_batch_1')) == b'1'
    assert os.path.isfile(path + '_archive')


def test_untar_keeps_the_keras2_meaning(loopback, kzoo_env):
    blob = _tar_gz({'cifar-10-batches-py/data_batch_1': b'1'})
    loopback.add('/cifar-10-python.tar.gz', blob)
    path = get_file('cifar-10-batches-py', loopback.url('/cifar-10-python.tar.gz'),
                    untar=True)
    assert path == os.path.join(datadir(kzoo_env), 'cifar-10-batches-py')
    assert read(os.path.join(path, 'data_batch_1')) == b'1'


def test_extract_of_a_hostile_archive_leaves_nothing(loopback, kzoo_env):
    blob = _tar_gz({'ok.txt': b'fine', '../escaped.txt': b'evil'})
    loopback.add('/evil.tar.gz', blob)
    with pytest.raises(UnsafeInputError, match=r'\.\./escaped\.txt'):
        get_file('evil.tar.gz', loopback.url('/evil.tar.gz'), extract=True)
    assert not os.path.exists(os.path.join(str(kzoo_env), 'escaped.txt'))
    assert not os.path.exists(os.path.join(datadir(kzoo_env), 'evil_extracted'))
    assert [n for n in visible_files(kzoo_env) if 'unpack' in n or 'extract' in n] == []


def test_extract_of_a_non_archive_is_a_clear_error(srv):
    from kzoo.errors import FileFormatError
    with pytest.raises(FileFormatError, match='not a tar or zip archive'):
        get_file('w.bin', srv.url('/w.bin'), extract=True)


def test_redownloaded_archive_is_extracted_again(loopback):
    one, two = _tar_gz({'v.txt': b'1'}), _tar_gz({'v.txt': b'2'})
    loopback.add('/a.tgz', one)
    path = get_file('a.tgz', loopback.url('/a.tgz'), extract=True)
    loopback.add('/a.tgz', two)
    get_file('a.tgz', loopback.url('/a.tgz'), extract=True, force_download=True)
    assert read(os.path.join(path, 'v.txt')) == b'2'


# -- terminal output ----------------------------------------------------------------

def test_quiet_when_stderr_is_not_a_terminal(srv, monkeypatch, capfd):
    monkeypatch.delenv('KZOO_QUIET')
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    assert capfd.readouterr().err == ''


def test_progress_bar_on_a_terminal(srv, monkeypatch):
    import sys as _sys
    monkeypatch.delenv('KZOO_QUIET')

    class Tty(io.StringIO):
        def isatty(self):
            return True
    fake = Tty()
    monkeypatch.setattr(_sys, 'stderr', fake)
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    out = fake.getvalue()
    assert 'w.bin' in out and 'B/s' in out and '1.00M' in out


def test_kzoo_quiet_silences_the_bar_on_a_terminal(srv, monkeypatch):
    import sys as _sys

    class Tty(io.StringIO):
        def isatty(self):
            return True
    fake = Tty()
    monkeypatch.setattr(_sys, 'stderr', fake)
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)  # KZOO_QUIET=1 from kzoo_env
    assert fake.getvalue() == ''


# -- helpers ------------------------------------------------------------------

def test_hash_and_validate_helpers(tmp_path):
    p = tmp_path / 'f'
    p.write_bytes(DATA)
    assert data_utils.hash_file(str(p)) == SHA
    assert data_utils.hash_file(str(p), 'md5') == MD5
    assert data_utils.validate_file(str(p), MD5)
    assert data_utils.validate_file(str(p), SHA)
    assert data_utils.validate_file(str(p), SHA.upper(), algorithm='sha256')
    assert not data_utils.validate_file(str(p), md5(b'x'))
    assert not data_utils.validate_file(str(tmp_path / 'missing'), MD5)


def test_cache_root_default_and_env(monkeypatch, tmp_path):
    assert data_utils.cache_root() == os.environ['KZOO_HOME']
    monkeypatch.delenv('KZOO_HOME')
    assert data_utils.cache_root() == str(tmp_path / 'home' / '.kzoo')


def test_cache_root_falls_back_when_not_writable(monkeypatch, tmp_path):
    blocker = tmp_path / 'a-file'
    blocker.write_bytes(b'')  # a folder can't be made under a file, even by root
    monkeypatch.setenv('KZOO_HOME', str(blocker / 'kzoo'))
    root = data_utils.cache_root()
    assert root != str(blocker / 'kzoo') and os.access(root, os.W_OK)
    assert os.path.basename(root).startswith('.kzoo-')


def test_sidecar_is_valid_json_written_atomically(srv, kzoo_env):
    get_file('w.bin', srv.url('/w.bin'), file_hash=MD5)
    meta_dir = os.path.join(datadir(kzoo_env), '.kzoo')
    names = sorted(os.listdir(meta_dir))
    assert names == ['w.bin.json', 'w.bin.lock']  # no temporary files left over
    with open(os.path.join(meta_dir, 'w.bin.json')) as f:
        assert json.load(f)['name'] == 'w.bin'
