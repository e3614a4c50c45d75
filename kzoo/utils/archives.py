"""Safe extraction of tar (plain, gz, bz2, xz) and zip archives.

Archives are untrusted input (docs/security.md, items 20 and 21). kzoo extracts
only regular files and folders, only inside the target folder:

- member names that are absolute, hold a ``..`` component or a NUL are refused;
- symbolic links, device nodes and FIFOs are refused; a tar hard link is accepted
  only when it names a regular file extracted earlier from the same archive, and
  is then written as an independent copy (never as a link);
- on Python versions that have it, every tar member also passes tarfile's
  ``data`` filter, a second opinion on the checks above;
- sizes are bounded (zip and tar bombs): the total declared and the total actually
  written must stay below ``max_bytes`` and, past ``ratio_free_bytes``, below
  ``max_ratio`` times the archive's own size;
- files are written by kzoo itself with ``O_EXCL | O_NOFOLLOW`` and without
  set-uid/set-gid bits, never by ``tarfile.extractall``.

Extraction happens in a hidden staging folder beside the target and is renamed
into place at the end, so an interrupted extraction leaves no half-filled target.
Refusals raise :class:`kzoo.errors.UnsafeInputError`; corrupt archives raise
:class:`kzoo.errors.FileFormatError`. Both name the archive and the member.

Example::

    >>> import io, os, tarfile, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with tarfile.open(os.path.join(d, 'a.tar.gz'), 'w:gz') as t:
    ...     info = tarfile.TarInfo('data/hello.txt'); info.size = 2
    ...     t.addfile(info, io.BytesIO(b'hi'))
    >>> extract_archive(os.path.join(d, 'a.tar.gz'), os.path.join(d, 'out'))
    True
    >>> open(os.path.join(d, 'out', 'data', 'hello.txt')).read()
    'hi'
"""
import bz2  # noqa: F401  (imported so a missing codec fails here, not mid-extract)
import collections
import errno
import gzip
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib

from kzoo.errors import FileFormatError, KzooError, UnsafeInputError
from kzoo.utils.io_utils import pid_alive

__all__ = ['ExtractLimits', 'archive_kind', 'extract_archive', 'safe_member_parts',
           'DEFAULT_LIMITS']

ExtractLimits = collections.namedtuple(
    'ExtractLimits', 'max_bytes max_ratio ratio_free_bytes max_members')
ExtractLimits.__doc__ = """Bounds on what one archive may extract.

max_bytes: total bytes of all files (declared and actually written).
max_ratio: total bytes / archive file size, checked once the total passes
    ratio_free_bytes (small archives of zeros are legitimate; a 10 KB zip that
    unpacks to 10 GB is not).
max_members: number of entries (an inode bomb is also a bomb).
"""


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


# The real datasets kzoo fetches compress by 1.1x (images) to about 10x (text); 250x
# leaves a wide margin while stopping the classic bombs (1000x and more).
DEFAULT_LIMITS = ExtractLimits(
    max_bytes=_env_int('KZOO_MAX_EXTRACT_BYTES', 64 << 30),
    max_ratio=250,
    ratio_free_bytes=64 << 20,
    max_members=1000000)

_CHUNK = 1 << 20
_STAGING_RE = re.compile(r'^\.(?P<name>.+)\.extracting-(?P<pid>\d+)-[^/]*$')
# Exceptions that mean "the archive is corrupt" while reading it (not a disk error
# while writing, which keeps its own type).
_CORRUPT = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError,
            gzip.BadGzipFile, NotImplementedError)


def safe_member_parts(name, archive='archive'):
    """Split an archive member name into safe path components.

    Returns a list of components (empty for the archive's root entry ``./``).
    Raises UnsafeInputError for absolute names, ``..`` components and NULs.
    Both ``/`` and ``\\`` count as separators, so a Windows-made ``..\\x`` is
    caught too.

    >>> safe_member_parts('./data/x.txt')
    ['data', 'x.txt']
    >>> safe_member_parts('../x')
    Traceback (most recent call last):
    ...
    kzoo.errors.UnsafeInputError: archive: member '../x' points outside the extraction folder (a '..' component); refused
    """
    if '\x00' in name:
        raise UnsafeInputError('%s: member %r has a NUL in its name; refused' % (archive, name))
    if name.startswith(('/', '\\')) or re.match(r'^[A-Za-z]:', name):
        raise UnsafeInputError('%s: member %r has an absolute path; refused (only paths '
                               'inside the extraction folder are allowed)' % (archive, name))
    parts = [p for p in re.split(r'[/\\]', name) if p not in ('', '.')]
    if '..' in parts:
        raise UnsafeInputError("%s: member %r points outside the extraction folder (a '..' "
                               'component); refused' % (archive, name))
    return parts


def archive_kind(file_path, archive_format='auto'):
    """Return ``'tar'`` or ``'zip'`` for the first format in ``archive_format``
    that ``file_path`` matches, or None.

    ``archive_format`` is ``'auto'`` (meaning ``['tar', 'zip']``), one of
    ``'tar'``/``'zip'``, a list of them, or None / ``[]`` (never matches), as in Keras.
    """
    if not archive_format:
        return None
    if archive_format == 'auto':
        archive_format = ['tar', 'zip']
    if isinstance(archive_format, str):
        archive_format = [archive_format]
    for kind in archive_format:
        if kind == 'tar':
            if tarfile.is_tarfile(file_path):
                return 'tar'
        elif kind == 'zip':
            if zipfile.is_zipfile(file_path):
                return 'zip'
        else:
            raise ValueError("archive_format must be 'auto', 'tar', 'zip', None or a list "
                             'of those, not %r' % (kind,))
    return None


def extract_archive(file_path, path='.', archive_format='auto', limits=None):
    """Extract ``file_path`` (tar, tar.gz/bz2/xz or zip) into folder ``path``.

    Keras-compatible: returns True when the archive matched a format in
    ``archive_format`` and was extracted, False when it matched none.

    When ``path`` does not exist it appears at once, complete (one rename of the
    staging folder). When it exists, each top-level entry of the archive replaces
    the entry of that name inside it, again one rename per entry.
    """
    file_path = os.fspath(file_path)
    kind = archive_kind(file_path, archive_format)
    if kind is None:
        return False
    limits = limits or DEFAULT_LIMITS
    target = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    _remove_stale_staging(parent, name)
    staging = tempfile.mkdtemp(prefix='.%s.extracting-%d-' % (name, os.getpid()), dir=parent)
    try:
        if kind == 'tar':
            _extract_tar(file_path, staging, limits)
        else:
            _extract_zip(file_path, staging, limits)
        _move_into_place(staging, target)
    finally:
        if os.path.lexists(staging):
            shutil.rmtree(staging, ignore_errors=True)
    return True


class _Budget:
    """Counts members and bytes against ExtractLimits; raises on the first excess."""

    def __init__(self, limits, archive):
        self.limits = limits
        self.archive = archive
        self.archive_size = max(os.path.getsize(archive), 1)
        self.members = 0
        self.declared = 0
        self.written = 0

    def member(self, name):
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnsafeInputError('%s: more than %d members (at %r); refused as an archive '
                                   'bomb' % (self.archive, self.limits.max_members, name))

    def declare(self, nbytes, name):
        self.declared += nbytes
        self._check(self.declared, name, 'declares')

    def consume(self, nbytes, name):
        self.written += nbytes
        self._check(self.written, name, 'expands to')

    def _check(self, total, name, verb):
        lim = self.limits
        if total > lim.max_bytes:
            raise UnsafeInputError(
                '%s %s %d bytes, more than the limit of %d bytes (max_bytes, env '
                'KZOO_MAX_EXTRACT_BYTES; at member %r); refused as an archive bomb'
                % (self.archive, verb, total, lim.max_bytes, name))
        if total > lim.ratio_free_bytes and total > lim.max_ratio * self.archive_size:
            raise UnsafeInputError(
                '%s %s %d bytes from a %d-byte archive, a ratio above %d (at member %r); '
                'refused as an archive bomb' % (self.archive, verb, total, self.archive_size,
                                                lim.max_ratio, name))


def _make_dirs(root, parts, archive, name):
    """Create root/parts... folder by folder, refusing anything that is not a real
    folder on the way (kzoo never creates links, so this is belt and braces)."""
    current = root
    for part in parts:
        current = os.path.join(current, part)
        try:
            os.mkdir(current, 0o755)
        except FileExistsError:
            st = os.lstat(current)
            if not stat.S_ISDIR(st.st_mode):
                raise FileFormatError('%s: member %r needs %r to be a folder, but the archive '
                                      'made it a file' % (archive, name, part))
    return current


def _write_file(root, parts, read_chunk, perm, budget, archive, name):
    folder = _make_dirs(root, parts[:-1], archive, name)
    dest = os.path.join(folder, parts[-1])
    if os.path.lexists(dest):
        if stat.S_ISDIR(os.lstat(dest).st_mode):
            raise FileFormatError('%s: member %r is a file where the archive already has a '
                                  'folder' % (archive, name))
        os.remove(dest)  # a later duplicate member wins, as with tar itself
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) \
        | getattr(os, 'O_CLOEXEC', 0)
    fd = os.open(dest, flags, 0o600)
    with os.fdopen(fd, 'wb') as out:
        while True:
            try:
                chunk = read_chunk(_CHUNK)
            except _CORRUPT + (OSError,) as e:
                raise FileFormatError('%s: member %r is corrupt or truncated: %s'
                                      % (archive, name, e)) from e
            if not chunk:
                break
            budget.consume(len(chunk), name)
            out.write(chunk)
    # Keep the execute bits, drop set-uid, set-gid and sticky; the owner can always
    # read and write what kzoo extracted.
    os.chmod(dest, (perm & 0o755) | 0o600)
    return dest


def _extract_tar(archive, root, limits):
    budget = _Budget(limits, archive)
    regular = {}  # member name (normalised) -> extracted path, for in-archive hard links
    try:
        tar = tarfile.open(archive, 'r:*')
    except _CORRUPT + (OSError,) as e:
        raise FileFormatError('%s: not a readable tar archive: %s' % (archive, e)) from e
    with tar:
        members = iter(tar)
        while True:
            try:
                member = next(members)
            except StopIteration:
                break
            except _CORRUPT + (OSError,) as e:
                raise FileFormatError('%s: corrupt tar archive: %s' % (archive, e)) from e
            name = member.name
            budget.member(name)
            parts = safe_member_parts(name, archive)
            _check_tar_type(member, archive)
            _data_filter(member, root, archive)
            if not parts:
                continue  # the archive's own root entry, './'
            if member.isdir():
                _make_dirs(root, parts, archive, name)
            elif member.isreg():
                budget.declare(member.size, name)
                src = tar.extractfile(member)
                dest = _write_file(root, parts, src.read, member.mode, budget, archive, name)
                regular['/'.join(parts)] = dest
            elif member.islnk():
                link_parts = safe_member_parts(member.linkname, archive)
                source = regular.get('/'.join(link_parts))
                if source is None:
                    raise UnsafeInputError(
                        '%s: hard link %r -> %r does not name a regular file extracted '
                        'earlier from this archive; refused' % (archive, name, member.linkname))
                budget.declare(os.path.getsize(source), name)
                with open(source, 'rb') as src:
                    dest = _write_file(root, parts, src.read, member.mode, budget, archive,
                                       name)
                regular['/'.join(parts)] = dest
            else:  # unreachable while _check_tar_type runs; never extract the unknown
                raise UnsafeInputError('%s: member %r is not a regular file or folder; '
                                       'refused' % (archive, name))


def _check_tar_type(member, archive):
    if member.isreg() or member.isdir() or member.islnk():
        return
    if member.issym():
        raise UnsafeInputError('%s: member %r is a symbolic link (to %r); kzoo extracts only '
                               'regular files and folders; refused'
                               % (archive, member.name, member.linkname))
    kind = ('character device' if member.ischr() else 'block device' if member.isblk()
            else 'FIFO' if member.isfifo() else 'special member (type %r)' % member.type)
    raise UnsafeInputError('%s: member %r is a %s; kzoo extracts only regular files and '
                           'folders; refused' % (archive, member.name, kind))


def _data_filter(member, root, archive):
    """Second opinion from tarfile's own 'data' filter (Python 3.12, 3.11.4+, ...)."""
    data_filter = getattr(tarfile, 'data_filter', None)
    if data_filter is None:
        return
    try:
        data_filter(member, root)
    except tarfile.FilterError as e:
        raise UnsafeInputError('%s: member %r refused by the tar data filter: %s'
                               % (archive, member.name, e)) from e


def _extract_zip(archive, root, limits):
    budget = _Budget(limits, archive)
    try:
        zf = zipfile.ZipFile(archive)
    except _CORRUPT + (OSError,) as e:
        raise FileFormatError('%s: not a readable zip archive: %s' % (archive, e)) from e
    with zf:
        infos = zf.infolist()
        # Check every name, type and declared size before writing a single byte.
        plan = []
        for info in infos:
            budget.member(info.filename)
            parts = safe_member_parts(info.filename, archive)
            mode = info.external_attr >> 16
            fmt = stat.S_IFMT(mode)
            if fmt == stat.S_IFLNK:
                raise UnsafeInputError('%s: member %r is a symbolic link; kzoo extracts only '
                                       'regular files and folders; refused'
                                       % (archive, info.filename))
            if fmt not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeInputError('%s: member %r is a special file (mode %o); refused'
                                       % (archive, info.filename, mode))
            if info.flag_bits & 0x1:
                raise FileFormatError('%s: member %r is encrypted; kzoo cannot extract it'
                                      % (archive, info.filename))
            if not info.is_dir():
                budget.declare(info.file_size, info.filename)
            plan.append((info, parts, mode))
        for info, parts, mode in plan:
            if not parts:
                continue
            if info.is_dir() or stat.S_ISDIR(mode):
                _make_dirs(root, parts, archive, info.filename)
                continue
            try:
                src = zf.open(info)
            except _CORRUPT + (OSError, RuntimeError) as e:
                raise FileFormatError('%s: member %r cannot be read: %s'
                                      % (archive, info.filename, e)) from e
            with src:
                _write_file(root, parts, src.read, (mode & 0o777) or 0o644, budget, archive,
                            info.filename)


def _move_into_place(staging, target):
    if not os.path.lexists(target):
        try:
            os.rename(staging, target)
            return
        except OSError as e:
            # Someone else created it meanwhile: fall through to the entry-wise merge.
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    if os.path.islink(target) or not os.path.isdir(target):
        raise KzooError('cannot extract into %s: it exists and is not a folder' % target)
    for entry in os.listdir(staging):
        src = os.path.join(staging, entry)
        dst = os.path.join(target, entry)
        if os.path.lexists(dst):
            if os.path.isdir(dst) and not os.path.islink(dst):
                trash = tempfile.mkdtemp(prefix='.%s.old-' % entry, dir=target)
                os.rename(dst, os.path.join(trash, entry))
                os.rename(src, dst)
                shutil.rmtree(trash, ignore_errors=True)
                continue
            if os.path.isdir(src):
                os.remove(dst)
        os.rename(src, dst)  # a file replaces a file atomically


def _remove_stale_staging(parent, name):
    """Remove staging folders left by killed processes extracting to ``name``."""
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for entry in entries:
        m = _STAGING_RE.match(entry)
        if not m or m.group('name') != name:
            continue
        if not pid_alive(int(m.group('pid'))):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
