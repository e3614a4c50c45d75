"""The cache's layout on disk: where files live, what they are called, what is
recorded about them, and the inventory ``kzoo cache`` lists and clears.

::

    <root>/                     $KZOO_HOME, default ~/.kzoo (cache_root)
      models/                   a cache_subdir
        w.h5                    the first file asked for as 'w.h5'
        w-64373286793e3c8b.h5   another 'w.h5' (other expected hash): tagged name
        w.h5.<key>.part         a download in progress or kept for resuming
        .kzoo/w.h5.json         sidecar: name, origin, url, hash, size, pinned
        .kzoo/w.h5.lock         the lock concurrent get_file calls share

Two files with the same name and different content (the old and new ResNet50
weights) both live in the cache: the first keeps the plain name, a file with
another expected hash is stored as ``<stem>-<hash[:16]><ext>``.

>>> stored_names('w.h5', '-64373286793e3c8b', untar=False, extract=False)
('w-64373286793e3c8b.h5', None)
>>> stored_names('x.tar.gz', '', untar=False, extract=True)
('x.tar.gz', 'x_extracted')
"""
import collections
import datetime
import hashlib
import json
import logging
import os
import shutil
import tempfile

from kzoo.errors import UnsafeInputError
from kzoo.utils.io_utils import atomic_write_json, remove_quietly

__all__ = ['META_DIR', 'cache_root', 'check_file_name', 'stored_names', 'meta_path',
           'read_meta', 'write_meta', 'part_path', 'CacheEntry', 'cache_folders',
           'cache_entries', 'remove_cache_entry']

log = logging.getLogger('kzoo.download')

META_DIR = '.kzoo'  # per-folder metadata: sidecars and lock files
TAR_SUFFIXES = ('.tar.gz', '.tar.bz2', '.tar.xz', '.tgz', '.tbz2', '.txz', '.tar')


# ---------------------------------------------------------------------------
# The root and the names in it

def cache_root(cache_dir=None):
    """The folder that holds kzoo's cache subfolders (``models``, ``datasets``).

    ``cache_dir`` if given, else ``$KZOO_HOME``, else ``~/.kzoo``. When that folder
    cannot be created or written (read-only home, some CI sandboxes), a private
    folder in the temporary directory is used instead, as Keras does.

    >>> cache_root('/tmp/kzoo-doc')
    '/tmp/kzoo-doc'
    """
    base = cache_dir or os.environ.get('KZOO_HOME') or os.path.join('~', '.kzoo')
    base = os.path.abspath(os.path.expanduser(os.fspath(base)))
    if _writable_dir(base):
        return base
    # Per-user name and mode 0700: a shared /tmp must not let another user plant
    # files in our cache.
    uid = os.getuid() if hasattr(os, 'getuid') else 'user'
    fallback = os.path.join(tempfile.gettempdir(), '.kzoo-%s' % uid)
    try:
        os.makedirs(fallback, mode=0o700, exist_ok=True)
    except OSError:
        pass
    log.warning('kzoo cache %s is not writable; using %s', base, fallback)
    return fallback


def _writable_dir(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK | os.X_OK)


def check_file_name(fname):
    """Refuse anything but a plain file name (no folders, no ``..``, no NUL).

    >>> check_file_name('a.h5')
    'a.h5'
    >>> check_file_name('../a.h5')
    Traceback (most recent call last):
    ...
    kzoo.errors.UnsafeInputError: fname must be a plain file name without folders or '..', got '../a.h5'; use cache_dir/cache_subdir to choose the folder
    """
    fname = os.fspath(fname)
    seps = {'/', '\\', os.sep} | ({os.altsep} if os.altsep else set())
    if (not fname or fname in ('.', '..', META_DIR) or '\x00' in fname
            or any(s in fname for s in seps)):
        raise UnsafeInputError("fname must be a plain file name without folders or '..', "
                               'got %r; use cache_dir/cache_subdir to choose the folder'
                               % (fname,))
    return fname


def _insert_tag(name, tag):
    """'a.h5', '-12ab' -> 'a-12ab.h5'; 'x.tar.gz' -> 'x-12ab.tar.gz'."""
    if not tag:
        return name
    for suffix in TAR_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)] + tag + suffix
    root, ext = os.path.splitext(name)
    return root + tag + ext


def stored_names(fname, tag, untar, extract):
    """(stored file name, extraction folder name or None) for one cache variant.

    Follows Keras: ``extract=True`` with ``fname='x.zip'`` stores ``x.zip`` and
    extracts to ``x_extracted``; with ``fname='x'`` (no dot) stores ``x_archive`` and
    extracts to ``x``. ``untar=True`` keeps Keras 2's meaning: ``fname`` names the
    folder, the archive is ``fname + '.tar.gz'``.
    """
    if untar:
        for suffix in TAR_SUFFIXES:
            if fname.endswith(suffix) and len(fname) > len(suffix):
                return _insert_tag(fname, tag), fname[:-len(suffix)] + tag
        return fname + tag + '.tar.gz', fname + tag
    if extract:
        if '.' in fname.lstrip('.'):
            return _insert_tag(fname, tag), fname[:fname.index('.', 1)] + tag + '_extracted'
        return fname + tag + '_archive', fname + tag
    return _insert_tag(fname, tag), None


def part_path(datadir, stored, key):
    """The kept partial download of ``stored``; ``key`` (the expected hash, or the
    origin) makes downloads of different content use different part files."""
    digest = hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]
    return os.path.join(datadir, '%s.%s.part' % (stored, digest))


# ---------------------------------------------------------------------------
# Sidecars

def meta_path(datadir, stored):
    return os.path.join(datadir, META_DIR, stored + '.json')


def read_meta(datadir, stored):
    """The sidecar of cached file ``stored`` in ``datadir`` (a dict), or None."""
    try:
        with open(meta_path(datadir, stored), encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def write_meta(datadir, stored, **fields):
    """Record ``fields`` (name, origin, url, hash_algorithm, hash, size, pinned, ...)
    as the sidecar of ``stored``; a failure only logs a warning."""
    fields['file'] = stored
    fields['saved_at'] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')
    try:
        atomic_write_json(meta_path(datadir, stored), fields)
    except OSError as e:  # the sidecar is a convenience; the file itself is what counts
        log.warning('could not write the cache index for %s: %s', stored, e)


# ---------------------------------------------------------------------------
# The cache's inventory (what ``kzoo cache list / verify / clear`` show and do)

CacheEntry = collections.namedtuple(
    'CacheEntry', 'subdir file path kind size name hash_algorithm hash origin meta')
CacheEntry.__doc__ = """One thing in the cache.

kind: 'file' (a complete download), 'partial' (a kept ``.part`` file waiting to be
resumed) or 'folder' (an extracted archive). name is the name it was asked for
(``fname``), which differs from ``file`` for a hash-tagged variant.
"""


def cache_folders(root=None):
    """Folders under the cache root that kzoo manages (those with a ``.kzoo`` folder)."""
    root = cache_root(root)
    for folder, dirs, _files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != META_DIR and not d.startswith('.'))
        if os.path.isdir(os.path.join(folder, META_DIR)):
            yield folder


def cache_entries(root=None):
    """Every file, partial download and extracted folder in the cache, sorted.

    >>> for e in cache_entries():  # doctest: +SKIP
    ...     print(e.subdir, e.file, e.size, e.hash)
    models vgg16_weights_tf_dim_ordering_tf_kernels.h5 553467096 6437...
    """
    root = cache_root(root)
    out = []
    for folder in cache_folders(root):
        subdir = os.path.relpath(folder, root)
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if entry == META_DIR or entry.startswith('.') or os.path.islink(path):
                continue  # metadata, temporary and staging files
            if os.path.isdir(path):
                out.append(CacheEntry(subdir, entry, path, 'folder', _tree_size(path), entry,
                                      None, None, None, None))
                continue
            meta = read_meta(folder, entry) or {}
            kind = 'partial' if entry.endswith('.part') else 'file'
            out.append(CacheEntry(subdir, entry, path, kind, os.path.getsize(path),
                                  meta.get('name', entry), meta.get('hash_algorithm'),
                                  meta.get('hash'), meta.get('origin'), meta or None))
    return out


def _tree_size(path):
    total = 0
    for folder, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(folder, f)).st_size
            except OSError:
                pass
    return total


def remove_cache_entry(entry):
    """Remove one CacheEntry with its sidecar (a partial: with its resume record).

    Lock files stay: removing a lock that another process holds would let a third
    lock a new file of the same name.
    """
    folder = os.path.dirname(entry.path)
    if entry.kind == 'folder':
        shutil.rmtree(entry.path, ignore_errors=True)
        return
    remove_quietly(entry.path)
    remove_quietly(meta_path(folder, entry.file))
    if entry.kind == 'partial':
        remove_quietly(entry.path + '.json')
