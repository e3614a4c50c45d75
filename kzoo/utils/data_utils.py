"""``get_file`` and the download cache: downloads that never corrupt, never repeat,
never hang.

``get_file`` has Keras's signature and meaning, with these guarantees:

- **Nothing unverified enters the cache.** Bytes stream into a ``.part`` file
  beside the destination and are hashed on the way (one pass). The file gets its
  final name (``os.replace``) only after the hash matched; a mismatch raises
  :class:`kzoo.errors.HashMismatchError` and leaves nothing behind.
- **Never repeat.** A broken transfer resumes with an HTTP ``Range`` request, in
  the same call or in a later process: the ``<name>.<digest>.part`` file is kept
  (digest of the expected hash, or of the origin when there is none), with its
  ``ETag``/``Last-Modified`` sent back as ``If-Range`` and its length compared, so
  a file that changed upstream is fetched whole rather than glued to an old
  prefix. A server that ignores ``Range`` (200) gets a full download; one that
  answers with the wrong ``Content-Range`` start is not asked for ranges again. A
  resumed download whose hash is wrong is fetched once more from byte 0. Concurrent processes asking for the same
  file take a ``FileLock``: one downloads, the others wait and reuse it. A file
  already in Keras's own cache (``~/.keras``, ``$KERAS_HOME``) with the right hash
  is reused.
- **Never hang.** Connect and read timeouts, bounded retries with exponential
  backoff on connection errors, 429 and 5xx (``Retry-After`` honoured up to a cap),
  bounded redirects with loop detection.
- **Safe.** ``fname`` must be a plain file name; origins are ``http``, ``https``
  or ``file``; redirects only to ``http(s)``; archives are extracted by
  :mod:`kzoo.utils.archives` (no traversal, links or devices).

Two files with the same name and different content (the old and new ResNet50
weights) both live in the cache: the first keeps the plain name, a file with
another expected hash is stored as ``<stem>-<hash[:16]><ext>``. A sidecar
``.kzoo/<stored name>.json`` next to each file records its origin and hash; it is
what ``kzoo cache list`` shows.

Environment:

=========================  ====================================================
``KZOO_HOME``              cache root (default ``~/.kzoo``)
``KZOO_OFFLINE=1``         only the cache; a miss raises OfflineError
``KZOO_MIRROR=<base>``     try ``<base>/<fname>`` before the origin
``KZOO_QUIET=1``           no progress bar
``KZOO_TIMEOUT``           read timeout in seconds (also caps the connect timeout)
``KZOO_CONNECT_TIMEOUT``   connect timeout in seconds
``KZOO_RETRIES``           retries per URL after a failed attempt
``KZOO_BACKOFF``           first backoff delay in seconds (doubles each retry)
=========================  ====================================================

Example::

    path = get_file('vgg16_weights_tf_dim_ordering_tf_kernels.h5',
                    'https://storage.googleapis.com/tensorflow/keras-applications/'
                    'vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5',
                    cache_subdir='models',
                    file_hash='64373286793e3c8b2b4e3219cbf3544b')
"""
import collections
import concurrent.futures
import datetime
import email.utils
import hashlib
import json
import logging
import os
import random
import re
import shutil
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from kzoo.errors import (DownloadError, FileFormatError, HashMismatchError, OfflineError,
                         UnsafeInputError)
from kzoo.utils import archives
from kzoo.utils.io_utils import (FileLock, LockTimeout, atomic_write_json, fsync_dir,
                                 remove_quietly)

__all__ = ['get_file', 'cache_root', 'hash_file', 'validate_file', 'resolve_hasher',
           'check_file_name', 'read_meta', 'META_DIR', 'CacheEntry', 'cache_entries',
           'remove_cache_entry']

log = logging.getLogger('kzoo.download')

# Defaults; each can be overridden per process by the environment variable named
# in the module docstring, and tests may lower them by assignment.
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0
MAX_RETRIES = 5
BACKOFF_BASE = 1.0
BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 60.0
MAX_REDIRECTS = 10
LOCK_TIMEOUT = 6 * 3600.0  # a waiter gives up only if one download takes longer
CHUNK_SIZE = 1 << 20

META_DIR = '.kzoo'  # per-folder metadata: sidecars and lock files
_TAR_SUFFIXES = ('.tar.gz', '.tar.bz2', '.tar.xz', '.tgz', '.tbz2', '.txz', '.tar')
_RETRY_STATUS = frozenset([408, 425, 429]) | frozenset(range(500, 600))
_REDIRECT_STATUS = frozenset([301, 302, 303, 307, 308])


# ---------------------------------------------------------------------------
# Small public helpers

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


def _algorithm_name(algorithm, file_hash=None):
    """'auto' means sha256 for a 64-digit hash and md5 otherwise, as in Keras."""
    algorithm = (algorithm or 'auto').lower()
    if algorithm == 'auto':
        return 'sha256' if file_hash is not None and len(file_hash) == 64 else 'md5'
    if algorithm not in hashlib.algorithms_available:
        raise ValueError('unknown hash_algorithm %r (use auto, sha256 or md5)' % algorithm)
    return algorithm


def resolve_hasher(algorithm, file_hash=None):
    """A new hashlib object for ``algorithm`` ('auto' looks at ``file_hash``)."""
    return hashlib.new(_algorithm_name(algorithm, file_hash))


def hash_file(fpath, algorithm='sha256', chunk_size=CHUNK_SIZE):
    """Hex digest of a file, read in chunks.

    ``algorithm`` is a name ('sha256', 'md5', 'auto' = sha256) or a hashlib object.

    >>> import tempfile; p = tempfile.mktemp(); _ = open(p, 'wb').write(b'')
    >>> hash_file(p)
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    hasher = hashlib.new('sha256' if algorithm == 'auto' else algorithm) \
        if isinstance(algorithm, str) else algorithm
    with open(fpath, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash, algorithm='auto', chunk_size=CHUNK_SIZE):
    """True when the file at ``fpath`` has hash ``file_hash`` (md5 or sha256).

    A missing or unreadable file is simply not valid.
    """
    try:
        actual = hash_file(fpath, resolve_hasher(algorithm, file_hash), chunk_size)
    except OSError:
        return False
    return actual == str(file_hash).strip().lower()


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


# ---------------------------------------------------------------------------
# Settings read at call time (environment first, then the module constants)

class _Settings:
    def __init__(self):
        env = os.environ
        self.read_timeout = float(env.get('KZOO_TIMEOUT') or READ_TIMEOUT)
        self.connect_timeout = float(env.get('KZOO_CONNECT_TIMEOUT')
                                     or min(CONNECT_TIMEOUT, self.read_timeout))
        self.retries = int(env.get('KZOO_RETRIES') or MAX_RETRIES)
        self.backoff = float(env.get('KZOO_BACKOFF') or BACKOFF_BASE)
        self.quiet = _truthy(env.get('KZOO_QUIET'))
        self.offline = _truthy(env.get('KZOO_OFFLINE'))
        self.mirror = env.get('KZOO_MIRROR') or None

    def delay(self, attempt, retry_after=None):
        """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), RETRY_AFTER_MAX)
        base = min(self.backoff * 2 ** (attempt - 1), BACKOFF_MAX)
        return base * (1 + 0.25 * random.random())  # jitter: waiters don't stampede


def _truthy(value):
    return str(value or '').strip().lower() not in ('', '0', 'false', 'no', 'off')


# ---------------------------------------------------------------------------
# Cache layout: names, sidecars

def _insert_tag(name, tag):
    """'a.h5', '-12ab' -> 'a-12ab.h5'; 'x.tar.gz' -> 'x-12ab.tar.gz'."""
    if not tag:
        return name
    for suffix in _TAR_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)] + tag + suffix
    root, ext = os.path.splitext(name)
    return root + tag + ext


def _layout(fname, tag, untar, extract):
    """(stored file name, extraction folder name or None) for one cache variant.

    Follows Keras: ``extract=True`` with ``fname='x.zip'`` stores ``x.zip`` and
    extracts to ``x_extracted``; with ``fname='x'`` (no dot) stores ``x_archive`` and
    extracts to ``x``. ``untar=True`` keeps Keras 2's meaning: ``fname`` names the
    folder, the archive is ``fname + '.tar.gz'``.
    """
    if untar:
        for suffix in _TAR_SUFFIXES:
            if fname.endswith(suffix) and len(fname) > len(suffix):
                return _insert_tag(fname, tag), fname[:-len(suffix)] + tag
        return fname + tag + '.tar.gz', fname + tag
    if extract:
        if '.' in fname.lstrip('.'):
            return _insert_tag(fname, tag), fname[:fname.index('.', 1)] + tag + '_extracted'
        return fname + tag + '_archive', fname + tag
    return _insert_tag(fname, tag), None


def _meta_path(datadir, stored):
    return os.path.join(datadir, META_DIR, stored + '.json')


def read_meta(datadir, stored):
    """The sidecar of cached file ``stored`` in ``datadir`` (a dict), or None."""
    try:
        with open(_meta_path(datadir, stored), encoding='utf-8') as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _write_meta(datadir, stored, **fields):
    fields['file'] = stored
    fields['saved_at'] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')
    try:
        atomic_write_json(_meta_path(datadir, stored), fields)
    except OSError as e:  # the sidecar is a convenience; the file itself is what counts
        log.warning('could not write the cache index for %s: %s', stored, e)


def _part_path(datadir, stored, key):
    digest = hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]
    return os.path.join(datadir, '%s.%s.part' % (stored, digest))


# ---------------------------------------------------------------------------
# get_file

def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir='datasets', hash_algorithm='auto', extract=False,
             archive_format='auto', cache_dir=None, force_download=False):
    """Download ``origin`` into the cache unless it is there already; return its path.

    Arguments are those of ``keras.utils.get_file``. The file lands in
    ``<cache root>/<cache_subdir>/<fname>`` (see :func:`cache_root`). With
    ``extract=True`` (or the older ``untar=True``) the archive is extracted safely
    and the extracted folder's path is returned, named as Keras names it.

    Raises:
        UnsafeInputError: ``fname`` is not a plain name, the origin or a redirect
            uses a scheme other than http(s) (file: only as the origin), or an
            archive member tries to escape.
        HashMismatchError: the download does not have ``file_hash``.
        OfflineError: ``KZOO_OFFLINE=1`` and the file is not cached.
        DownloadError: the network failed after the allowed retries.
    """
    if origin is None:
        raise ValueError('get_file needs origin, the URL of the file to download')
    origin = os.fspath(origin)
    _check_scheme(origin, 'origin', allow_file=True)
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, 'md5'
    algorithm = None
    if file_hash is not None:
        file_hash = str(file_hash).strip().lower()
        algorithm = _algorithm_name(hash_algorithm, file_hash)
    if not fname:
        fname = urllib.parse.unquote(os.path.basename(urllib.parse.urlsplit(origin).path))
        if not fname:
            raise ValueError("can't tell a file name from origin %r; pass fname" % origin)
    fname = check_file_name(fname)
    settings = _Settings()

    datadir = os.path.join(cache_root(cache_dir), cache_subdir)
    os.makedirs(os.path.join(datadir, META_DIR), exist_ok=True)
    request = _Request(fname, origin, file_hash, algorithm, untar, extract,
                       archive_format, datadir, settings)

    if not force_download:
        hit = request.lookup()
        if hit is not None and not request.needs_extraction(hit):
            return request.result(hit)
    if settings.offline and not force_download:
        raise request.offline_error()

    lock_path = os.path.join(datadir, META_DIR, fname + '.lock')
    try:
        with FileLock(lock_path, timeout=LOCK_TIMEOUT):
            # Whoever held the lock before us may have fetched the file meanwhile.
            hit = None if force_download else request.lookup()
            if hit is None:
                if settings.offline:
                    raise request.offline_error()
                hit = request.download()
            if request.needs_extraction(hit):
                request.extract(hit)
            return request.result(hit)
    except LockTimeout as e:
        raise DownloadError('%s: %s' % (fname, e)) from e


class _Hit:
    """A verified file: its path, and the variant (plain or hash-tagged) it is."""

    def __init__(self, path, tag, fresh=False):
        self.path, self.tag, self.fresh = path, tag, fresh


class _Request:
    """One get_file call: where its variants live and how to fill them."""

    def __init__(self, fname, origin, file_hash, algorithm, untar, extract, archive_format,
                 datadir, settings):
        self.fname, self.origin = fname, origin
        self.file_hash, self.algorithm = file_hash, algorithm
        self.untar, self.extract_wanted = untar, extract or untar
        self.archive_format = 'tar' if untar else archive_format
        self.datadir, self.settings = datadir, settings
        self.tag = '-' + file_hash[:16] if file_hash else ''
        self._warned = set()

    # -- where things are
    def stored(self, tag):
        return _layout(self.fname, tag, self.untar, self.extract_wanted)[0]

    def path(self, tag):
        return os.path.join(self.datadir, self.stored(tag))

    def extract_dir(self, tag):
        name = _layout(self.fname, tag, self.untar, self.extract_wanted)[1]
        return os.path.join(self.datadir, name)

    def _plain_taken(self):
        """True when the plain name holds another file this name was asked with
        (a different, caller-given hash): that file keeps the name."""
        meta = read_meta(self.datadir, self.stored(''))
        return bool(meta and meta.get('pinned') and meta.get('hash')
                    and (meta.get('hash_algorithm'), meta.get('hash'))
                    != (self.algorithm, self.file_hash)
                    and os.path.exists(self.path('')))

    def slot(self):
        """The variant a download should fill."""
        if self.file_hash and self._plain_taken():
            return self.tag
        return ''

    # -- finding
    def lookup(self):
        """A verified cached copy, or None. Hashes every candidate it returns."""
        if self.file_hash is None:
            path = self.path('')
            return _Hit(path, '') if os.path.isfile(path) else None
        for tag in ('', self.tag):
            path = self.path(tag)
            if tag == '' and self._plain_taken():
                meta = read_meta(self.datadir, self.stored(''))
                if meta.get('hash_algorithm') == self.algorithm:
                    continue  # its sidecar already says it is the other file: don't hash
            if os.path.isfile(path):
                if validate_file(path, self.file_hash, self.algorithm):
                    if read_meta(self.datadir, self.stored(tag)) is None:
                        # Placed by hand (offline instructions) or by an older kzoo.
                        _write_meta(self.datadir, self.stored(tag), name=self.fname,
                                    origin=self.origin, url=None,
                                    hash_algorithm=self.algorithm, hash=self.file_hash,
                                    size=os.path.getsize(path), pinned=True)
                    return _Hit(path, tag)
                if path not in self._warned:
                    self._warned.add(path)
                    log.warning('%s: cached file %s does not have %s %s; it will be '
                                'downloaded again', self.fname, path, self.algorithm,
                                self.file_hash)
        return self._keras_lookup()

    def _keras_lookup(self):
        """A file Keras itself downloaded, if its hash matches (no copy is made)."""
        homes = []
        if os.environ.get('KERAS_HOME'):
            homes.append(os.environ['KERAS_HOME'])
        homes.append(os.path.join(os.path.expanduser('~'), '.keras'))
        subdir = os.path.basename(os.path.normpath(self.datadir))
        seen = set()
        for home in homes:
            for sub in (subdir, 'models', 'datasets'):
                # Keras names archives as we do in the plain variant.
                path = os.path.abspath(os.path.join(home, sub, self.stored('')))
                if path in seen or not os.path.isfile(path):
                    continue
                seen.add(path)
                if validate_file(path, self.file_hash, self.algorithm):
                    log.info('%s: reusing Keras cache file %s', self.fname, path)
                    return _Hit(path, self.tag if self._plain_taken() else '')
        return None

    def offline_error(self):
        target = self.path(self.slot())
        what = (' with %s %s' % (self.algorithm, self.file_hash)) if self.file_hash else ''
        state = ('is not in the cache' if not os.path.exists(target) else
                 'is in the cache at %s but fails verification' % target)
        return OfflineError(
            'KZOO_OFFLINE is set and %s%s %s. To use it offline, download %s and place it '
            'at %s (or unset KZOO_OFFLINE to let kzoo download it)'
            % (self.fname, what, state, self.origin, target))

    # -- filling
    def download(self):
        tag = self.slot()
        target = self.path(tag)
        key = self.file_hash or self.origin
        part = _part_path(self.datadir, self.stored(tag), key)
        candidates = []
        if self.settings.mirror:
            candidates.append(('mirror', self.settings.mirror.rstrip('/') + '/'
                               + urllib.parse.quote(self.fname)))
        candidates.append(('origin', self.origin))
        errors = []
        for i, (kind, url) in enumerate(candidates):
            try:
                digest, algorithm, final_url, size = _Transfer(
                    url, part, self.fname, self.file_hash, self.algorithm,
                    self.settings).run()
            except (DownloadError, UnsafeInputError) as e:
                if i == len(candidates) - 1:
                    if errors:
                        e.args = ('%s (the mirror failed first: %s)' % (e, errors[0]),)
                    raise
                errors.append(e)
                log.warning('%s: mirror %s failed (%s); trying the origin', self.fname, url, e)
                if self.file_hash is None:
                    remove_quietly(part)  # no hash to vouch for mixing two sources
                continue
            os.replace(part, target)
            fsync_dir(self.datadir)
            remove_quietly(part + '.json')
            _write_meta(self.datadir, self.stored(tag), name=self.fname, origin=self.origin,
                        url=final_url, hash_algorithm=algorithm, hash=digest, size=size,
                        pinned=self.file_hash is not None)
            return _Hit(target, tag, fresh=True)
        raise AssertionError('unreachable')

    def needs_extraction(self, hit):
        if not self.extract_wanted:
            return False
        return hit.fresh or not os.path.isdir(self.extract_dir(hit.tag))

    def extract(self, hit):
        final = self.extract_dir(hit.tag)
        name = os.path.basename(final)
        # Leftovers of a process killed mid-extraction; we hold the lock, so they
        # are nobody's work in progress.
        for entry in os.listdir(self.datadir):
            if entry.startswith('.%s.unpack-' % name):
                shutil.rmtree(os.path.join(self.datadir, entry), ignore_errors=True)
        staging = tempfile.mkdtemp(prefix='.%s.unpack-' % name, dir=self.datadir)
        try:
            inner = os.path.join(staging, 'x')
            if not archives.extract_archive(hit.path, inner, self.archive_format):
                raise FileFormatError('%s (from %s) is not a %s archive; cannot extract it'
                                      % (hit.path, self.origin,
                                         self.archive_format if self.archive_format != 'auto'
                                         else 'tar or zip'))
            src = inner
            if self.untar:
                # Keras 2: untar=True and fname 'cifar-10-batches-py' gave the folder of
                # that name from inside the archive.
                entries = os.listdir(inner)
                only = os.path.join(inner, entries[0]) if len(entries) == 1 else None
                if only and entries[0] == self.fname and os.path.isdir(only) \
                        and not os.path.islink(only):
                    src = only
            if os.path.lexists(final):
                os.rename(final, os.path.join(staging, 'old'))
            os.rename(src, final)
            fsync_dir(self.datadir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        stored = os.path.basename(hit.path)
        meta = read_meta(self.datadir, stored) if os.path.dirname(hit.path) == self.datadir \
            else None
        if meta is not None and meta.get('extracted') != name:
            meta['extracted'] = name  # lets `kzoo cache clear` remove the folder too
            _write_meta(self.datadir, stored, **meta)

    def result(self, hit):
        return self.extract_dir(hit.tag) if self.extract_wanted else hit.path


# ---------------------------------------------------------------------------
# Transfers

class _Retry(Exception):
    """A transient failure; carries the server's Retry-After, if any."""

    def __init__(self, reason, retry_after=None, progressed=False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.progressed = progressed


class _Restart(Exception):
    """The kept partial file cannot be resumed; start again from byte 0.

    ``distrust_ranges``: the server answered a range with other bytes than asked;
    don't ask it for ranges again during this transfer.
    """

    def __init__(self, distrust_ranges=False):
        super().__init__()
        self.distrust_ranges = distrust_ranges


def _check_scheme(url, what, allow_file):
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    allowed = ('http', 'https', 'file') if allow_file else ('http', 'https')
    if scheme not in allowed:
        raise UnsafeInputError('%s %r uses the scheme %r; kzoo only follows %s URLs'
                               % (what, url, scheme or '(none)', '/'.join(allowed)))


class _Transfer:
    """Fetch one URL into a ``.part`` file, resuming, hashing, verifying.

    ``run()`` returns (hex digest, algorithm, final URL, size) once the part file
    holds the complete, verified content; the caller renames it into place.
    """

    def __init__(self, url, part, fname, file_hash, algorithm, settings):
        self.url, self.part, self.fname = url, part, fname
        self.file_hash = file_hash
        # Without an expected hash, record a sha256 of what we got (for the index).
        self.algorithm = algorithm or 'sha256'
        self.settings = settings
        self.hasher, self.hashed = None, -1  # hasher over the first `hashed` bytes of part
        self.resumable = True

    def run(self):
        scheme = urllib.parse.urlsplit(self.url).scheme.lower()
        fetch = self._fetch_file_url if scheme == 'file' else self._fetch_http
        fresh_retry_done = False
        while True:
            resumed_from = fetch()
            digest = self.hasher.hexdigest()
            size = os.path.getsize(self.part)
            if self.file_hash is None or digest == self.file_hash:
                return digest, self.algorithm, self.final_url, size
            remove_quietly(self.part)
            remove_quietly(self.part + '.json')
            self.hasher, self.hashed = None, -1
            if resumed_from and not fresh_retry_done:
                # The kept prefix may be what was wrong (a file changed upstream);
                # one clean download settles it.
                log.warning('%s: resumed download has the wrong hash; downloading it '
                            'again from the start', self.fname)
                fresh_retry_done = True
                continue
            err = HashMismatchError(
                '%s downloaded from %s has %s %s, expected %s; the download was discarded '
                'and nothing was cached (the file may have changed upstream, or the '
                'transfer was tampered with)' % (self.fname, self.final_url, self.algorithm,
                                                 digest, self.file_hash))
            err.fname, err.url = self.fname, self.final_url
            err.expected, err.actual, err.algorithm = self.file_hash, digest, self.algorithm
            raise err

    # -- hashing the kept prefix
    def _hasher_for_prefix(self, offset):
        if self.hasher is None or self.hashed != offset:
            self.hasher = hashlib.new(self.algorithm)
            if offset:
                with open(self.part, 'rb') as f:
                    remaining = offset
                    while remaining:
                        chunk = f.read(min(CHUNK_SIZE, remaining))
                        if not chunk:
                            raise _Restart()
                        self.hasher.update(chunk)
                        remaining -= len(chunk)
            self.hashed = offset
        return self.hasher

    def _reset_part(self):
        remove_quietly(self.part)
        remove_quietly(self.part + '.json')
        self.hasher, self.hashed = None, -1

    # -- file:// origins
    def _fetch_file_url(self):
        parsed = urllib.parse.urlsplit(self.url)
        if parsed.netloc not in ('', 'localhost'):
            raise DownloadError('%s: file URL %r names another host' % (self.fname, self.url))
        src = urllib.request.url2pathname(parsed.path)
        self._reset_part()
        self.final_url = self.url
        hasher = self._hasher_for_prefix(0)
        try:
            with open(src, 'rb') as fin, open(self.part, 'wb') as fout:
                for chunk in iter(lambda: fin.read(CHUNK_SIZE), b''):
                    fout.write(chunk)
                    hasher.update(chunk)
                fout.flush()
                os.fsync(fout.fileno())
        except FileNotFoundError as e:
            self._reset_part()
            raise DownloadError('%s: %s does not exist' % (self.fname, src)) from e
        self.hashed = os.path.getsize(self.part)
        return 0

    # -- http(s)
    def _fetch_http(self):
        """Loop over attempts until the part file is complete; return the offset the
        successful attempt resumed from."""
        import requests  # imported here: kzoo's import must stay fast

        settings = self.settings
        failures = quiet_failures = 0
        session = requests.Session()
        try:
            while True:
                try:
                    return self._attempt(session)
                except _Restart as e:
                    self._reset_part()
                    if e.distrust_ranges:
                        self.resumable = False
                    failures += 1
                    if failures > settings.retries * 4 + 2:
                        raise DownloadError('%s: %s keeps answering range requests '
                                            'inconsistently' % (self.fname, self.url))
                except _Retry as e:
                    failures += 1
                    # Attempts that made progress don't use up the retry budget, but
                    # the total stays bounded so a server that trickles and drops
                    # cannot keep us here forever.
                    quiet_failures = 0 if e.progressed else quiet_failures + 1
                    if quiet_failures > settings.retries or failures > settings.retries * 10:
                        raise DownloadError(
                            'could not download %s from %s: %s (gave up after %d attempts; '
                            'timeouts %.3g s connect / %.3g s read)'
                            % (self.fname, self.url, e, failures, settings.connect_timeout,
                               settings.read_timeout)) from e
                    delay = settings.delay(quiet_failures or 1, e.retry_after)
                    log.info('%s: %s; retrying in %.1f s', self.fname, e, delay)
                    time.sleep(delay)
        finally:
            session.close()

    def _attempt(self, session):
        offset = os.path.getsize(self.part) if os.path.exists(self.part) else 0
        if not self.resumable:
            offset = 0
        saved = _read_json(self.part + '.json') if offset else None
        resp = self._open(session, offset, saved)
        with resp:
            status = resp.status_code
            total = None
            if status == 206 and offset:
                start, end, total = _content_range(resp.headers.get('Content-Range'))
                if start != offset:
                    raise _Restart(distrust_ranges=True)  # not the bytes we asked for
                if saved and saved.get('length') and total and total != saved['length']:
                    raise _Restart()  # another version of the file: start over
                append = True
            elif status == 200 or status == 206:
                if status == 206:  # a 206 we did not ask for: trust only a full range
                    start, end, total = _content_range(resp.headers.get('Content-Range'))
                    if start != 0:
                        raise _Restart(distrust_ranges=True)
                append = False  # 200 to a Range request: the server ignored it
                if total is None:
                    total = _int_or_none(resp.headers.get('Content-Length'))
            elif status == 416 and offset:
                _, _, total = _content_range(resp.headers.get('Content-Range'))
                if total == offset:  # the kept part is already complete
                    self._hasher_for_prefix(offset)
                    return offset
                raise _Restart()
            else:
                raise _status_error(status, resp, self.fname)

            if append:
                hasher = self._hasher_for_prefix(offset)
            else:
                offset = 0
                self.hasher, self.hashed = hashlib.new(self.algorithm), 0
                hasher = self.hasher
                _write_json(self.part + '.json', {
                    'url': self.final_url, 'length': total,
                    'etag': resp.headers.get('ETag'),
                    'last_modified': resp.headers.get('Last-Modified')})
            received = self._stream(resp, hasher, offset, append, total)
            if total is not None and offset + received != total:
                raise _Retry('connection closed after %d of %d bytes' % (offset + received,
                                                                          total),
                             progressed=received > 0)
            return offset if append else 0

    def _open(self, session, offset, saved):
        """GET with our own redirect handling: only http(s), bounded, no loops."""
        import requests

        headers = {'Accept-Encoding': 'identity', 'User-Agent': 'kzoo'}
        if offset:
            headers['Range'] = 'bytes=%d-' % offset
            validator = saved and (saved.get('etag') or saved.get('last_modified'))
            if validator and not validator.startswith('W/'):
                # If the file changed upstream, the server sends all of it (200).
                headers['If-Range'] = validator
        url, seen = self.url, [self.url]
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        for _ in range(MAX_REDIRECTS + 1):
            try:
                resp = session.get(url, headers=headers, stream=True, timeout=timeout,
                                   allow_redirects=False)
            except requests.exceptions.SSLError as e:
                raise DownloadError('%s: TLS error talking to %s: %s' % (self.fname, url, e))
            except requests.exceptions.InvalidURL as e:
                raise DownloadError('%s: invalid URL %s: %s' % (self.fname, url, e))
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
                raise _Retry('%s: %s' % (url, _short(e)))
            except requests.exceptions.RequestException as e:
                raise DownloadError('%s: request to %s failed: %s' % (self.fname, url, e))
            if resp.status_code not in _REDIRECT_STATUS or 'Location' not in resp.headers:
                self.final_url = url
                return resp
            location = urllib.parse.urljoin(url, resp.headers['Location'])
            resp.close()
            _check_scheme(location, 'redirect from %s to' % url, allow_file=False)
            if location in seen:
                raise DownloadError('%s: redirect loop: %s' % (self.fname,
                                                                ' -> '.join(seen + [location])))
            seen.append(location)
            url = location
        raise DownloadError('%s: more than %d redirects from %s' % (self.fname, MAX_REDIRECTS,
                                                                    self.url))

    def _stream(self, resp, hasher, offset, append, total):
        """Copy the body to the part file; hash as we go. Returns bytes received."""
        import requests
        import urllib3

        raw = resp.raw
        # read1 returns what has arrived instead of waiting for a full chunk, so a
        # transfer that breaks keeps every byte it received.
        read1 = getattr(raw, 'read1', None)
        if read1 is not None:
            def read():
                return read1(CHUNK_SIZE, decode_content=False)
        else:  # urllib3 < 2
            def read():
                return raw.read(CHUNK_SIZE, decode_content=False)
        received = 0
        bar = _progress_bar(self.fname, total, offset, self.settings)
        # Hash in a second thread (hashlib releases the GIL on large buffers) while
        # this one receives and writes the next chunk: md5 alone runs at about the
        # speed of a loopback socket, so doing both in turn would halve throughput.
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix='kzoo-hash')
        pending = None
        try:
            with open(self.part, 'ab' if append else 'wb') as f:
                try:
                    while True:
                        try:
                            chunk = read()
                        except (urllib3.exceptions.HTTPError, requests.RequestException,
                                OSError) as e:
                            raise _Retry('transfer from %s broke after %d bytes: %s'
                                         % (self.final_url, offset + received, _short(e)),
                                         progressed=received > 0)
                        if not chunk:
                            break
                        f.write(chunk)
                        # Hand every byte to the OS at once: if this process is
                        # killed, what it received stays in the .part for resuming.
                        f.flush()
                        if pending is not None:
                            pending.result()
                        # Only bytes that reached the file are hashed, in order.
                        pending = pool.submit(hasher.update, chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                finally:
                    if pending is not None:
                        pending.result()
                    # Whatever arrived is good (it is a prefix): keep it for resuming.
                    f.flush()
                    os.fsync(f.fileno())
                    self.hashed = offset + received
        finally:
            pool.shutdown(wait=True)
            if bar is not None:
                bar.close()
        return received


def _progress_bar(fname, total, initial, settings):
    if settings.quiet or not _isatty(sys.stderr):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, unit='B', unit_scale=True, unit_divisor=1024,
                desc=fname, file=sys.stderr, leave=True, dynamic_ncols=True)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _status_error(status, resp, fname):
    if status in _RETRY_STATUS:
        return _Retry('HTTP %d %s from %s' % (status, resp.reason, resp.url),
                      retry_after=_retry_after(resp.headers.get('Retry-After')))
    return DownloadError('could not download %s: HTTP %d %s from %s'
                         % (fname, status, resp.reason, resp.url))


def _retry_after(value):
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


_CONTENT_RANGE = re.compile(r'^\s*bytes\s+(?:(\d+)-(\d+)|\*)/(\d+|\*)\s*$', re.I)


def _content_range(value):
    """'bytes 10-99/100' -> (10, 99, 100); '*' parts are None; garbage -> restart."""
    m = _CONTENT_RANGE.match(value or '')
    if not m:
        raise _Restart(distrust_ranges=True)
    start, end, total = m.groups()
    return (int(start) if start else None, int(end) if end else None,
            int(total) if total != '*' else None)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _short(exc):
    text = str(exc)
    return text if len(text) < 300 else text[:300] + '...'


def _read_json(path):
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, obj):
    try:
        atomic_write_json(path, obj)
    except OSError:
        pass  # only an aid to resuming



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
    """Remove one CacheEntry with its sidecar (and, for a file, its kept partials).

    Lock files stay: removing a lock that another process holds would let a third
    lock a new file of the same name.
    """
    folder = os.path.dirname(entry.path)
    if entry.kind == 'folder':
        shutil.rmtree(entry.path, ignore_errors=True)
        return
    remove_quietly(entry.path)
    remove_quietly(_meta_path(folder, entry.file))
    if entry.kind == 'partial':
        remove_quietly(entry.path + '.json')
