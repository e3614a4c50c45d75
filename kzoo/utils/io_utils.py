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
import json
import os
import tempfile

__all__ = ['atomic_write', 'atomic_write_json', 'fsync_dir', 'remove_quietly']


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
    folder = os.path.dirname(os.path.abspath(path))
    if 'b' not in mode:
        open_kwargs.setdefault('encoding', 'utf-8')
    # mkstemp in the destination folder: same file system, so os.replace is atomic,
    # and a unique name, so concurrent writers never share a temporary file.
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), suffix='.tmp',
                               dir=folder)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        remove_quietly(tmp)
        raise
    if fsync:
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
