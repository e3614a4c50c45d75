"""Atomic writes for writers that need a path (h5py, zipfile) rather than a file object.

:func:`kzoo.utils.io_utils.atomic_write` yields a write-only file object; HDF5 needs to
read back what it writes, so this yields a temporary *path* in the destination folder
instead, then flushes it to disk and renames it into place with the same guarantees:
the destination is either the old complete file or the new complete file.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> with atomic_path(os.path.join(d, 'x.bin')) as tmp:
...     _ = open(tmp, 'wb').write(b'ok')
>>> sorted(os.listdir(d)), open(os.path.join(d, 'x.bin'), 'rb').read()
(['x.bin'], b'ok')
"""
import contextlib
import os
import tempfile

from kzoo.utils import io_utils
from kzoo.utils.io_utils import fsync_dir, remove_quietly


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        from kzoo.errors import ConversionError
        raise ConversionError('cannot write %s: folder %s does not exist' % (path, folder))
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        # mkstemp makes 0600; give the file what a plain open() would have.
        os.chmod(tmp, 0o666 & ~getattr(io_utils, '_UMASK', 0o022))
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    fsync_dir(folder)
