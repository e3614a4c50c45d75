"""The split of get_file into kzoo.utils.download.*: the old import paths keep
working, tunables assigned on data_utils reach the code, atomic_path has one home."""
import os

import pytest

from kzoo.errors import ConversionError
from kzoo.utils import data_utils, io_utils
from kzoo.utils.download import cache, get, hashing, settings, transfer

# Every public name kzoo.utils.data_utils had before the split.
OLD_PUBLIC = ['get_file', 'cache_root', 'hash_file', 'validate_file', 'resolve_hasher',
              'check_file_name', 'read_meta', 'META_DIR', 'CacheEntry', 'cache_entries',
              'cache_folders', 'remove_cache_entry', 'CONNECT_TIMEOUT', 'READ_TIMEOUT',
              'MAX_RETRIES', 'BACKOFF_BASE', 'BACKOFF_MAX', 'RETRY_AFTER_MAX',
              'MAX_REDIRECTS', 'LOCK_TIMEOUT', 'CHUNK_SIZE']


@pytest.mark.parametrize('name', OLD_PUBLIC)
def test_data_utils_still_exports(name):
    assert hasattr(data_utils, name)
    assert name in dir(data_utils)


def test_data_utils_names_are_the_modules_objects():
    assert data_utils.get_file is get.get_file
    assert data_utils.hash_file is hashing.hash_file
    assert data_utils.cache_entries is cache.cache_entries
    assert data_utils.CHUNK_SIZE == settings.CHUNK_SIZE


def test_tunables_assigned_on_data_utils_reach_settings(monkeypatch):
    before = settings.MAX_REDIRECTS
    monkeypatch.setattr(data_utils, 'MAX_REDIRECTS', 3)
    assert settings.MAX_REDIRECTS == 3 and data_utils.MAX_REDIRECTS == 3
    monkeypatch.undo()
    assert settings.MAX_REDIRECTS == before == data_utils.MAX_REDIRECTS
    assert 'MAX_REDIRECTS' not in vars(data_utils)  # no stale copy to drift


def test_transfer_reads_tunables_at_call_time():
    # The transfer module reads them through the settings module, not a copy.
    assert transfer.config is settings


def test_settings_follow_the_environment(monkeypatch):
    monkeypatch.setenv('KZOO_TIMEOUT', '7')
    monkeypatch.setenv('KZOO_OFFLINE', 'yes')
    monkeypatch.setenv('KZOO_MIRROR', 'http://mirror.example/')
    s = settings.Settings()
    assert (s.read_timeout, s.connect_timeout, s.offline, s.mirror) == \
        (7.0, 7.0, True, 'http://mirror.example/')


def test_background_hasher_equals_hashlib():
    import hashlib
    chunks = [os.urandom(n) for n in (0, 1, 1 << 20, 12345, (1 << 20) + 7)]
    h = hashing.BackgroundHasher(hashlib.new('sha256'))
    try:
        for c in chunks:
            h.update(c)
        assert h.hexdigest() == hashlib.sha256(b''.join(chunks)).hexdigest()
    finally:
        h.close()


# -- atomic_path ------------------------------------------------------------------

def test_atomic_path_has_one_home():
    from kzoo.converters import atomic
    assert atomic.atomic_path is io_utils.atomic_path


def test_atomic_path_replaces_on_success(tmp_path):
    p = tmp_path / 'f.h5'
    p.write_bytes(b'old')
    with io_utils.atomic_path(str(p)) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, 'wb') as f:
            f.write(b'new')
        assert p.read_bytes() == b'old'  # invisible until the block ends
    assert p.read_bytes() == b'new'
    assert os.listdir(str(tmp_path)) == ['f.h5']
    assert os.stat(str(p)).st_mode & 0o777 != 0o600  # not mkstemp's 0600


def test_atomic_path_error_keeps_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / 'f.h5'
    p.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with io_utils.atomic_path(str(p)) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half')
            raise RuntimeError('boom')
    assert p.read_bytes() == b'old'
    assert os.listdir(str(tmp_path)) == ['f.h5']


def test_atomic_path_missing_folder(tmp_path):
    with pytest.raises(ConversionError, match='does not exist'):
        with io_utils.atomic_path(str(tmp_path / 'no' / 'f.h5')):
            pass
