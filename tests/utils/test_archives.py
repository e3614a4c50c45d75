"""Safe extraction (security.md items 20 and 21): every hostile archive is built on
the fly in a tmp dir, and each must be refused with nothing written outside the
target (and, since extraction is staged, nothing inside it either)."""
import io
import os
import stat
import tarfile
import uuid
import zipfile

import pytest

from kzoo.errors import FileFormatError, UnsafeInputError
from kzoo.utils import archives
from kzoo.utils.archives import ExtractLimits, extract_archive


def _info(name, data=b'', type_=tarfile.REGTYPE, linkname='', mode=0o644, **kw):
    info = tarfile.TarInfo(name)
    info.type = type_
    info.linkname = linkname
    info.mode = mode
    info.size = len(data) if type_ == tarfile.REGTYPE else 0
    for k, v in kw.items():
        setattr(info, k, v)
    return info, data


def make_tar(path, members, mode='w:gz'):
    with tarfile.open(str(path), mode) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return str(path)


def make_zip(path, members):
    """members: (name, data) or (ZipInfo, data)."""
    with zipfile.ZipFile(str(path), 'w', zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return str(path)


@pytest.fixture
def box(tmp_path):
    """(archive folder, target path, outside folder) with nothing in the outside one."""
    (tmp_path / 'in').mkdir()
    (tmp_path / 'outside').mkdir()
    return tmp_path / 'in', tmp_path / 'in' / 'target', tmp_path / 'outside'


def assert_nothing_extracted(target, outside):
    assert not os.path.exists(str(target)), os.listdir(str(target))
    assert os.listdir(str(outside)) == []
    parent = os.path.dirname(str(target))
    leftovers = [n for n in os.listdir(parent) if 'extracting' in n]
    assert leftovers == []


# -- item 20: tar -------------------------------------------------------------

def test_tar_with_dotdot_member_is_refused(box):
    d, target, outside = box
    arc = make_tar(d / 'a.tar.gz', [_info('good.txt', b'ok'),
                                    _info('../outside/x', b'evil')])
    with pytest.raises(UnsafeInputError, match=r"\.\./outside/x"):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


def test_tar_with_nested_dotdot_member_is_refused(box):
    d, target, outside = box
    arc = make_tar(d / 'a.tar', [_info('a/b/../../../outside/x', b'evil')], mode='w')
    with pytest.raises(UnsafeInputError, match='outside the extraction folder'):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


def test_tar_with_absolute_path_is_refused(box):
    d, target, outside = box
    victim = os.path.join(str(outside), 'abs.txt')
    arc = make_tar(d / 'a.tar.gz', [_info(victim, b'evil')])
    with pytest.raises(UnsafeInputError, match='absolute path'):
        extract_archive(arc, str(target))
    assert not os.path.exists(victim)
    assert_nothing_extracted(target, outside)


@pytest.mark.parametrize('link_to', ['/etc', 'OUTSIDE'])
def test_tar_with_symlink_to_etc_then_member_through_it_is_refused(box, link_to):
    d, target, outside = box
    link_to = str(outside) if link_to == 'OUTSIDE' else link_to
    sentinel = 'kzoo-sentinel-%s' % uuid.uuid4().hex
    arc = make_tar(d / 'a.tar.gz', [
        _info('etc', type_=tarfile.SYMTYPE, linkname=link_to),
        _info('etc/' + sentinel, b'pwned')])
    try:
        with pytest.raises(UnsafeInputError, match='symbolic link'):
            extract_archive(arc, str(target))
        assert not os.path.exists(os.path.join(link_to, sentinel))
        assert_nothing_extracted(target, outside)
    finally:  # never leave a file in /etc, even if the check above failed
        if os.path.exists(os.path.join(link_to, sentinel)):
            os.remove(os.path.join(link_to, sentinel))


def test_tar_symlink_out_is_refused_by_the_data_filter_too(box, monkeypatch):
    """Defence in depth: with kzoo's own type check switched off, tarfile's data
    filter still refuses a link that points out of the folder."""
    if not hasattr(tarfile, 'data_filter'):
        pytest.skip('this Python has no tarfile data filter')
    d, target, outside = box
    monkeypatch.setattr(archives, '_check_tar_type', lambda member, archive: None)
    arc = make_tar(d / 'a.tar', [_info('etc', type_=tarfile.SYMTYPE, linkname=str(outside)),
                                 _info('etc/x', b'pwned')], mode='w')
    with pytest.raises(UnsafeInputError, match='data filter'):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


def test_tar_with_relative_symlink_inside_is_refused_too(box):
    d, target, outside = box
    arc = make_tar(d / 'a.tar.gz', [_info('a.txt', b'a'),
                                    _info('b.txt', type_=tarfile.SYMTYPE, linkname='a.txt')])
    with pytest.raises(UnsafeInputError, match='symbolic link'):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


@pytest.mark.parametrize('linkname', ['/etc/passwd', '../outside/secret', 'not-in-archive'])
def test_tar_with_hard_link_out_is_refused(box, linkname):
    d, target, outside = box
    (outside / 'secret').write_bytes(b'secret')
    arc = make_tar(d / 'a.tar.gz', [_info('h', type_=tarfile.LNKTYPE, linkname=linkname)])
    with pytest.raises(UnsafeInputError):
        extract_archive(arc, str(target))
    assert not os.path.exists(str(target))
    assert os.listdir(str(outside)) == ['secret']


def test_tar_hard_link_to_earlier_member_becomes_a_copy(box):
    d, target, _ = box
    arc = make_tar(d / 'a.tar.gz', [_info('dir/a.txt', b'data'),
                                    _info('b.txt', type_=tarfile.LNKTYPE, linkname='dir/a.txt')])
    assert extract_archive(arc, str(target))
    b = target / 'b.txt'
    assert b.read_bytes() == b'data'
    assert os.stat(str(b)).st_nlink == 1  # an independent copy, not a link


@pytest.mark.parametrize('type_', [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_tar_with_device_node_is_refused(box, type_):
    d, target, outside = box
    arc = make_tar(d / 'a.tar', [_info('dev-null', type_=type_, devmajor=1, devminor=3)],
                   mode='w')
    with pytest.raises(UnsafeInputError, match='device|FIFO'):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


def test_tar_special_bits_are_dropped(box):
    d, target, _ = box
    arc = make_tar(d / 'a.tar.gz', [_info('run.sh', b'#!/bin/sh\n', mode=0o6755),
                                    _info('plain', b'x', mode=0o600)])
    extract_archive(arc, str(target))
    mode = os.stat(str(target / 'run.sh')).st_mode
    assert not mode & (stat.S_ISUID | stat.S_ISGID) and mode & stat.S_IXUSR
    assert stat.S_IMODE(os.stat(str(target / 'plain')).st_mode) == 0o600


@pytest.mark.parametrize('mode', ['w', 'w:gz', 'w:bz2', 'w:xz'])
def test_tar_formats_extract(box, mode):
    d, target, _ = box
    arc = make_tar(d / 'a.tar', [_info('top', type_=tarfile.DIRTYPE, mode=0o755),
                                 _info('top/x.txt', b'hello'), _info('./y.txt', b'y')],
                   mode=mode)
    assert extract_archive(arc, str(target), archive_format='tar') is True
    assert (target / 'top' / 'x.txt').read_bytes() == b'hello'
    assert (target / 'y.txt').read_bytes() == b'y'


def test_tar_bomb_by_ratio_is_refused(box):
    d, target, outside = box
    arc = make_tar(d / 'bomb.tar.gz', [_info('zeros', b'\0' * (4 << 20))])
    limits = ExtractLimits(max_bytes=1 << 30, max_ratio=100, ratio_free_bytes=1 << 20,
                           max_members=100)
    with pytest.raises(UnsafeInputError, match='archive bomb'):
        extract_archive(arc, str(target), limits=limits)
    assert_nothing_extracted(target, outside)


def test_tar_too_many_members_is_refused(box):
    d, target, outside = box
    arc = make_tar(d / 'many.tar.gz', [_info('f%d' % i, b'') for i in range(20)])
    limits = archives.DEFAULT_LIMITS._replace(max_members=10)
    with pytest.raises(UnsafeInputError, match='more than 10 members'):
        extract_archive(arc, str(target), limits=limits)
    assert_nothing_extracted(target, outside)


def test_truncated_tar_gz_is_a_format_error(box):
    d, target, outside = box
    arc = make_tar(d / 'a.tar.gz', [_info('x', os.urandom(200000))])
    with open(arc, 'r+b') as f:
        f.truncate(os.path.getsize(arc) // 2)
    with pytest.raises(FileFormatError, match='a.tar.gz'):
        extract_archive(arc, str(target), archive_format='tar')
    assert_nothing_extracted(target, outside)


def test_failure_late_in_archive_leaves_no_half_extracted_target(box):
    d, target, outside = box
    members = [_info('f%d.txt' % i, b'x' * 1000) for i in range(50)]
    members.append(_info('../outside/late', b'evil'))
    arc = make_tar(d / 'a.tar.gz', members)
    with pytest.raises(UnsafeInputError):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


# -- item 21: zip -----------------------------------------------------------------

def test_zip_with_dotdot_member_is_refused(box):
    d, target, outside = box
    arc = make_zip(d / 'a.zip', [('good.txt', b'ok'), ('../outside/x', b'evil')])
    with pytest.raises(UnsafeInputError, match=r"\.\./outside/x"):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


@pytest.mark.parametrize('name', ['/abs.txt', '..\\outside\\x', 'C:/x.txt', 'a/../../x'])
def test_zip_with_absolute_or_escaping_names_is_refused(box, name):
    d, target, outside = box
    arc = make_zip(d / 'a.zip', [(name, b'evil')])
    with pytest.raises(UnsafeInputError):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)
    assert not os.path.exists('/abs.txt') or name != '/abs.txt'


def test_zip_symlink_member_is_refused(box):
    d, target, outside = box
    info = zipfile.ZipInfo('link')
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    arc = make_zip(d / 'a.zip', [(info, str(outside))])
    with pytest.raises(UnsafeInputError, match='symbolic link'):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


def test_zip_bomb_by_declared_size_is_refused_before_writing(box):
    d, target, outside = box
    arc = make_zip(d / 'a.zip', [('small.txt', b'x'), ('zeros', b'\0' * (4 << 20))])
    limits = ExtractLimits(max_bytes=1 << 20, max_ratio=10 ** 6, ratio_free_bytes=1 << 30,
                           max_members=100)
    with pytest.raises(UnsafeInputError, match='more than the limit of 1048576 bytes'):
        extract_archive(arc, str(target), limits=limits)
    assert_nothing_extracted(target, outside)


def test_zip_bomb_by_ratio_is_refused(box):
    d, target, outside = box
    arc = make_zip(d / 'a.zip', [('zeros%d' % i, b'\0' * (2 << 20)) for i in range(3)])
    assert os.path.getsize(arc) < 100000
    limits = archives.DEFAULT_LIMITS._replace(ratio_free_bytes=1 << 20)
    with pytest.raises(UnsafeInputError, match='ratio above 250'):
        extract_archive(arc, str(target), limits=limits)
    assert_nothing_extracted(target, outside)


def test_zip_extracts_files_and_folders(box):
    d, target, _ = box
    arc = make_zip(d / 'a.zip', [('top/', b''), ('top/x.txt', b'hello'), ('y.txt', b'y')])
    assert extract_archive(arc, str(target)) is True
    assert (target / 'top' / 'x.txt').read_bytes() == b'hello'
    assert (target / 'y.txt').read_bytes() == b'y'


def test_corrupt_zip_member_is_a_format_error(box):
    d, target, outside = box
    payload = os.urandom(5000)
    arc = make_zip(d / 'a.zip', [('x.bin', payload)])
    blob = bytearray(open(arc, 'rb').read())
    i = blob.index(b'x.bin') + 5 + 100  # inside the first member's compressed data
    blob[i] ^= 0xFF
    open(arc, 'wb').write(bytes(blob))
    with pytest.raises(FileFormatError, match='x.bin'):
        extract_archive(arc, str(target))
    assert_nothing_extracted(target, outside)


# -- behaviour ---------------------------------------------------------------------

def test_not_an_archive_returns_false(box):
    d, target, _ = box
    (d / 'plain.bin').write_bytes(b'not an archive')
    assert extract_archive(str(d / 'plain.bin'), str(target)) is False
    assert extract_archive(make_zip(d / 'a.zip', [('x', b'x')]), str(target),
                           archive_format=None) is False
    assert extract_archive(str(d / 'a.zip'), str(target), archive_format='tar') is False
    with pytest.raises(ValueError, match='rar'):
        extract_archive(str(d / 'a.zip'), str(target), archive_format='rar')


def test_extract_into_existing_folder_replaces_entries(box):
    d, target, _ = box
    target.mkdir()
    (target / 'keep.txt').write_bytes(b'keep')
    (target / 'top').mkdir()
    (target / 'top' / 'old.txt').write_bytes(b'old')
    arc = make_tar(d / 'a.tar.gz', [_info('top/new.txt', b'new')])
    extract_archive(arc, str(target))
    assert sorted(os.listdir(str(target))) == ['keep.txt', 'top']
    assert os.listdir(str(target / 'top')) == ['new.txt']


def test_stale_staging_of_a_dead_process_is_removed(box):
    d, target, _ = box
    stale = d / ('.target.extracting-%d-abc' % 2 ** 22)  # above pid_max's default
    stale.mkdir()
    (stale / 'junk').write_bytes(b'j')
    extract_archive(make_tar(d / 'a.tar.gz', [_info('x', b'x')]), str(target))
    assert not stale.exists()


def test_safe_member_parts():
    assert archives.safe_member_parts('./a//b/./c') == ['a', 'b', 'c']
    assert archives.safe_member_parts('./') == []
    for bad in ('/x', '../x', 'a/../../x', 'a\x00b', 'C:\\x', '\\\\server\\share'):
        with pytest.raises(UnsafeInputError):
            archives.safe_member_parts(bad)
