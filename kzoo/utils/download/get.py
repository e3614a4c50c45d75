"""``get_file``: the cache first, then a locked, verified download.

The order of one call (each step's details live in its own module):

1. check the arguments: ``fname`` a plain name, the origin's scheme, the hash
   algorithm (:mod:`.cache`, :mod:`.transfer`, :mod:`.hashing`);
2. look for a verified copy: the plain name, the hash-tagged name, Keras's own
   cache (``$KERAS_HOME``, ``~/.keras``); a hit needs no lock;
3. otherwise take the folder's ``FileLock`` for this name, look again (whoever
   held the lock may have fetched it), and download: the mirror, then the origin
   (:class:`~.transfer.Transfer`), into a ``.part`` file that is renamed into
   place only after its hash matched, then record the sidecar (:mod:`.cache`);
4. extract archives into a staging folder renamed into place
   (:mod:`kzoo.utils.archives` refuses traversal, links and devices).

A cached file that fails verification is downloaded again once, never in a loop;
``KZOO_OFFLINE=1`` stops before step 3 with an error saying how to get the file.
"""
import logging
import os
import shutil
import tempfile
import urllib.parse

from kzoo.errors import DownloadError, FileFormatError, OfflineError, UnsafeInputError
from kzoo.utils import archives
from kzoo.utils.download import settings as config
from kzoo.utils.download.cache import (META_DIR, cache_root, check_file_name, part_path,
                                       read_meta, stored_names, write_meta)
from kzoo.utils.download.hashing import algorithm_name, validate_file
from kzoo.utils.download.settings import Settings
from kzoo.utils.download.transfer import Transfer, check_scheme
from kzoo.utils.io_utils import FileLock, LockTimeout, fsync_dir, remove_quietly

__all__ = ['get_file']

log = logging.getLogger('kzoo.download')


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
    check_scheme(origin, 'origin', allow_file=True)
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, 'md5'
    algorithm = None
    if file_hash is not None:
        file_hash = str(file_hash).strip().lower()
        algorithm = algorithm_name(hash_algorithm, file_hash)
    if not fname:
        fname = urllib.parse.unquote(os.path.basename(urllib.parse.urlsplit(origin).path))
        if not fname:
            raise ValueError("can't tell a file name from origin %r; pass fname" % origin)
    fname = check_file_name(fname)
    settings = Settings()

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
        with FileLock(lock_path, timeout=config.LOCK_TIMEOUT):
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
        return stored_names(self.fname, tag, self.untar, self.extract_wanted)[0]

    def path(self, tag):
        return os.path.join(self.datadir, self.stored(tag))

    def extract_dir(self, tag):
        name = stored_names(self.fname, tag, self.untar, self.extract_wanted)[1]
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
                        write_meta(self.datadir, self.stored(tag), name=self.fname,
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
        part = part_path(self.datadir, self.stored(tag), key)
        candidates = []
        if self.settings.mirror:
            candidates.append(('mirror', self.settings.mirror.rstrip('/') + '/'
                               + urllib.parse.quote(self.fname)))
        candidates.append(('origin', self.origin))
        errors = []
        for i, (kind, url) in enumerate(candidates):
            try:
                digest, algorithm, final_url, size = Transfer(
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
            write_meta(self.datadir, self.stored(tag), name=self.fname, origin=self.origin,
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
            write_meta(self.datadir, stored, **meta)

    def result(self, hit):
        return self.extract_dir(hit.tag) if self.extract_wanted else hit.path
