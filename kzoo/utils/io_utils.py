"""Small file-system helpers shared by downloads and converters.

The one rule they enforce: a file that another reader may open is either the
old complete file or the new complete file, never something half-written. Writes
go to a temporary file in the destination's own folder (so the final rename
stays on one file system and is atomic), are flushed to disk, and are renamed
into place with :func:`os.replace`.

Example::

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with atomic_write(os.path.join(d, 'config.json'), 'w') as f:
    ...     _ = f.write('{}')
    >>> open(os.path.join(d, 'config.json')).read()
    '{}'
"""
import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
import time

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: FileLock falls back to O_EXCL lock files
    fcntl = None

__all__ = ['atomic_write', 'atomic_path', 'atomic_write_json', 'fsync_dir', 'remove_quietly',
           'FileLock', 'LockTimeout', 'HDF5Matrix']


def fsync_dir(path):
    """Flush a folder's entry table so a rename inside it survives a power cut.

    Best effort: some file systems (and all of Windows) refuse to open a folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_quietly(path):
    """Remove a file if it exists; return True when something was removed."""
    try:
        os.remove(path)
        return True
    except FileNotFoundError:
        return False


def staging_prefix(path):
    """``.<name>.<pid>.``: the prefix of temporary files and folders staged beside
    ``path`` (the process id lets a later writer tell a dead writer's leftovers)."""
    return '.%s.%d.' % (os.path.basename(os.fspath(path)), os.getpid())


def remove_stale_staging(folder, name):
    """Remove what writers of ``name`` that were killed (SIGKILL, power loss) left in
    ``folder``: ``.<name>.<pid>.*.tmp`` files and folders whose process is gone."""
    pattern = re.compile(r'^\.%s\.(\d+)\..*\.tmp$' % re.escape(name))
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        m = pattern.match(entry)
        if not m or pid_alive(int(m.group(1))):
            continue
        stale = os.path.join(folder, entry)
        if os.path.isdir(stale) and not os.path.islink(stale):
            shutil.rmtree(stale, ignore_errors=True)
        else:
            remove_quietly(stale)


def pid_alive(pid):
    """True when process ``pid`` exists (or may: it belongs to another user)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def _staged(path):
    """Yield (fd, temporary path) beside ``path``; on success rename it to ``path``.

    The one mechanism behind :func:`atomic_write` and :func:`atomic_path`. The
    caller writes and flushes the temporary file inside the ``with``; any exception
    removes it and leaves ``path`` untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    # mkstemp in the destination folder: same file system, so os.replace is atomic,
    # and a unique name, so concurrent writers never share a temporary file.
    remove_stale_staging(folder, os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=staging_prefix(path), suffix='.tmp', dir=folder)
    try:
        yield fd, tmp
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode='wb', fsync=True, **open_kwargs):
    """Open a temporary file beside ``path``; rename it to ``path`` on success.

    On any exception (including ``KeyboardInterrupt``) the temporary file is
    removed and ``path`` is left untouched. A process killed with SIGKILL can
    leave a hidden ``.<name>.*.tmp`` file behind, never a half-written ``path``.

    Args:
        path: the final file name.
        mode: ``'wb'`` (default) or ``'w'`` (text; ``open_kwargs`` such as
            ``encoding`` are passed on).
        fsync: flush data to disk before the rename (turn off only for
            throw-away files).

    Example::

        with atomic_write('/tmp/weights.h5') as f:
            f.write(data)
    """
    if mode not in ('w', 'wb', 'wt'):
        raise ValueError('atomic_write supports modes w, wt and wb, not %r' % (mode,))
    path = os.fspath(path)
    if 'b' not in mode:
        open_kwargs.setdefault('encoding', 'utf-8')
    with _staged(path) as (fd, _tmp):
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
    if fsync:
        fsync_dir(os.path.dirname(os.path.abspath(path)))


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary *path* beside ``path``; on success it replaces ``path``.

    For writers that need a path rather than a file object (h5py, zipfile: HDF5
    reads back what it writes), with :func:`atomic_write`'s guarantee: ``path`` is
    either the old complete file or the new complete file.

    >>> import os, tempfile
    >>> d = tempfile.mkdtemp()
    >>> with atomic_path(os.path.join(d, 'x.bin')) as tmp:
    ...     _ = open(tmp, 'wb').write(b'ok')
    >>> sorted(os.listdir(d)), open(os.path.join(d, 'x.bin'), 'rb').read()
    (['x.bin'], b'ok')
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        from kzoo.errors import ConversionError
        raise ConversionError('cannot write %s: folder %s does not exist' % (path, folder))
    with _staged(path) as (fd, tmp):
        os.close(fd)
        yield tmp
        # The writer closed its own handle; flush its data before the rename.
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
    fsync_dir(folder)


def atomic_write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    with atomic_write(path, 'w') as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write('\n')


def _read_umask():
    # os.umask can only be read by setting it; do it once, at import, so that no
    # other thread can ever see the temporary value.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


class LockTimeout(TimeoutError):
    """FileLock.acquire gave up waiting (callers turn it into a kzoo error)."""


class FileLock:
    """An exclusive lock between processes (and threads), held on a ``.lock`` file.

    Uses ``fcntl.flock``: the kernel releases the lock when its holder dies, even
    by SIGKILL, so a killed process never blocks the others. Where ``fcntl`` is
    missing it falls back to an ``O_EXCL`` lock file holding the owner's pid; a
    lock whose pid is no longer alive is stale and is taken over.

    The lock file itself is left in place: deleting a flock'ed file lets two
    processes lock two different inodes of the same name.

    Example::

        with FileLock('/tmp/x.lock', timeout=60):
            ...  # only one process at a time runs this
    """

    def __init__(self, path, timeout=None, poll=0.2):
        self.path = os.fspath(path)
        self.timeout = timeout
        self.poll = poll
        self._fd = None

    def acquire(self):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        delay = 0.01
        while not self._try_acquire():
            if deadline is not None and time.monotonic() >= deadline:
                raise LockTimeout('timed out after %.1f s waiting for the lock %s (another '
                                  'process holds it)' % (self.timeout, self.path))
            time.sleep(delay)
            delay = min(delay * 2, self.poll)  # answer quickly when the wait is short
        return self

    def release(self):
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        else:
            os.close(fd)
            remove_quietly(self.path)

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()

    def _try_acquire(self):
        if fcntl is not None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                os.close(fd)
                if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    return False
                raise
            self._fd = fd
            return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if self._holder_is_dead():
                remove_quietly(self.path)
            return False
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def _holder_is_dead(self):
        try:
            with open(self.path) as f:
                pid = int(f.read().strip() or 0)
            age = time.time() - os.path.getmtime(self.path)
        except (OSError, ValueError):
            return False  # being written right now; look again on the next poll
        if pid <= 0:
            # Empty: its owner is between create and write, or died right there.
            return age > 10
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False


class HDF5Matrix(object):
    """Rows ``start:end`` of an HDF5 dataset, used in place of a numpy array.

    ``fit``, ``evaluate`` and ``predict`` read it one batch at a time, so a dataset
    larger than memory trains without being loaded. ``normalizer`` is applied to
    every read. The file is opened read-only and shared by all matrices on it.

    >>> import h5py, os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), 'data.h5')
    >>> with h5py.File(path, 'w') as f:
    ...     _ = f.create_dataset('x', data=np.arange(10.).reshape(5, 2))
    >>> m = HDF5Matrix(path, 'x', start=1, end=4, normalizer=lambda a: a / 2)
    >>> m.shape, m[0].tolist(), m[1:3].tolist()
    ((3, 2), [1.0, 1.5], [[2.0, 2.5], [3.0, 3.5]])
    """
    refs = {}

    def __init__(self, datapath, dataset, start=0, end=None, normalizer=None):
        import h5py
        from kzoo.errors import FileFormatError, ShapeError
        datapath = os.fspath(datapath)
        key = os.path.abspath(datapath)
        f = self.refs.get(key)
        if f is None or not f.id.valid:
            try:
                f = h5py.File(datapath, 'r')
            except OSError as e:
                raise FileFormatError('HDF5Matrix: cannot open %s as HDF5: %s'
                                      % (datapath, e)) from e
            self.refs[key] = f
        if dataset not in f or not isinstance(f[dataset], h5py.Dataset):
            raise FileFormatError('HDF5Matrix: %s has no dataset %r' % (datapath, dataset))
        self.datapath, self.dataset = datapath, dataset
        self.data = f[dataset]
        total = self.data.shape[0] if self.data.shape else 0
        self.start = int(start)
        self.end = total if end is None else int(end)
        if not 0 <= self.start <= self.end <= total:
            raise ShapeError('HDF5Matrix: rows %d:%d are outside dataset %r of %s (%d rows)'
                             % (self.start, self.end, dataset, datapath, total))
        self.normalizer = normalizer
        self._base_shape, self._base_dtype = self.data.shape[1:], self.data.dtype
        if normalizer is not None and self.end > self.start:
            first = np.asarray(normalizer(self.data[self.start:self.start + 1]))
            self._base_shape, self._base_dtype = first.shape[1:], first.dtype

    def __len__(self):
        return self.end - self.start

    def _rows(self, key):
        n = len(self)
        if isinstance(key, slice):
            start, stop, step = key.indices(n)
            if step != 1:
                return np.arange(start, stop, step) + self.start
            return slice(start + self.start, max(stop, start) + self.start)
        if isinstance(key, (int, np.integer)):
            if not -n <= key < n:
                raise IndexError('HDF5Matrix index %d out of range for %d rows' % (key, n))
            return int(key % n) + self.start
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        if key.size and (key.min() < -n or key.max() >= n):
            raise IndexError('HDF5Matrix indices out of range for %d rows' % n)
        return key % n + self.start if key.size else key.astype('int64')

    def __getitem__(self, key):
        rows = self._rows(key)
        if isinstance(rows, np.ndarray):
            # h5py reads increasing, unique indices: read those, then reorder.
            unique, inverse = np.unique(rows, return_inverse=True)
            values = self.data[unique.tolist()][inverse] if unique.size else \
                self.data[self.start:self.start][:0]
        else:
            values = self.data[rows]
        return self.normalizer(values) if self.normalizer is not None else values

    def subset(self, start, end):
        """Another view, on rows ``start:end`` of this one (nothing is read)."""
        return HDF5Matrix(self.datapath, self.dataset, self.start + start,
                          self.start + end, self.normalizer)

    @property
    def shape(self):
        return (len(self),) + tuple(self._base_shape)

    @property
    def dtype(self):
        return self._base_dtype

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __array__(self, dtype=None, copy=None):
        values = np.asarray(self[:])
        return values if dtype is None else values.astype(dtype)

    def __repr__(self):
        return '<HDF5Matrix %s:%s rows %d:%d>' % (self.datapath, self.dataset,
                                                   self.start, self.end)
