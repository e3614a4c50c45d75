"""Proof that nothing was read or written where it should not be.

Two witnesses:

- :class:`AccessWatch` uses Linux inotify to see every open, read and write of the
  files in some folders, by any process (libhdf5's own ``open`` included, which no
  Python audit hook sees);
- :func:`snapshot` records a folder tree (names, types, sizes, modification times,
  link targets) so that a before/after comparison shows anything created, changed or
  removed.

>>> import os, tempfile
>>> d = tempfile.mkdtemp()
>>> open(os.path.join(d, 'f'), 'w').close()
>>> with AccessWatch([d]) as watch:
...     _ = open(os.path.join(d, 'f')).read()
>>> sorted({name for name, _ in watch.events()})
['f']
"""
import ctypes
import ctypes.util
import errno
import os
import select
import stat
import struct

IN_ACCESS = 0x001
IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_OPEN = 0x020
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000

_NAMES = {IN_ACCESS: 'access', IN_MODIFY: 'modify', IN_ATTRIB: 'attrib',
          IN_CLOSE_WRITE: 'close_write', IN_OPEN: 'open', IN_MOVED_FROM: 'moved_from',
          IN_MOVED_TO: 'moved_to', IN_CREATE: 'create', IN_DELETE: 'delete'}
WATCHED = IN_ACCESS | IN_MODIFY | IN_ATTRIB | IN_OPEN | IN_CREATE | IN_DELETE | \
    IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE

_EVENT = struct.Struct('iIII')


def _libc():
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return libc


def available():
    """True when inotify works here."""
    try:
        fd = _libc().inotify_init1(IN_NONBLOCK)
    except (OSError, AttributeError):
        return False
    if fd < 0:
        return False
    os.close(fd)
    return True


class AccessWatch(object):
    """Record every access to the files of ``folders`` (and their sub-folders).

    Events of a folder itself (a listing opens it) are recorded with the name ``'.'``
    only when ``folders_too`` is true. ``events()`` returns ``[(relative path, kind)]``.
    """

    def __init__(self, folders, folders_too=False):
        self.folders = [os.path.abspath(f) for f in folders]
        self.folders_too = folders_too
        self._fd = None
        self._wd = {}
        self._events = []

    def __enter__(self):
        libc = _libc()
        self._fd = libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), 'inotify_init1 failed')
        for top in self.folders:
            for root, dirs, _ in os.walk(top):
                wd = libc.inotify_add_watch(self._fd, root.encode(), WATCHED)
                if wd < 0:
                    raise OSError(ctypes.get_errno(), 'inotify_add_watch %s' % root)
                self._wd[wd] = root
        return self

    def __exit__(self, *exc):
        self._drain()
        os.close(self._fd)
        return False

    def _drain(self):
        while True:
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if not ready:
                return
            try:
                data = os.read(self._fd, 1 << 16)
            except OSError as e:
                if e.errno == errno.EAGAIN:
                    return
                raise
            offset = 0
            while offset < len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset:offset + length].rstrip(b'\0').decode('utf-8', 'replace')
                offset += length
                folder = self._wd.get(wd, '?')
                if not name:
                    if not self.folders_too:
                        continue
                    name = '.'
                path = os.path.relpath(os.path.join(folder, name),
                                       self._top(folder)) if folder != '?' else name
                for bit, kind in _NAMES.items():
                    if mask & bit:
                        self._events.append((path, kind))

    def _top(self, folder):
        for top in self.folders:
            if folder == top or folder.startswith(top + os.sep):
                return top
        return folder

    def events(self):
        """``[(path relative to its watched folder, kind)]`` seen so far."""
        if self._fd is not None:
            try:
                self._drain()
            except (OSError, ValueError):
                pass
        return list(self._events)


def snapshot(top, skip=()):
    """``{relative path: (kind, size, mtime_ns, link target)}`` for the tree at ``top``.

    Paths under any of ``skip`` (relative names of sub-folders) are left out.
    """
    tree = {}
    top = os.path.abspath(top)
    for root, dirs, files in os.walk(top):
        rel_root = os.path.relpath(root, top)
        if rel_root != '.' and any(rel_root == s or rel_root.startswith(s + os.sep)
                                   for s in skip):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.normpath(os.path.join(rel_root, name))
            if rel in skip:
                continue
            st = os.lstat(path)
            target = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            kind = 'dir' if stat.S_ISDIR(st.st_mode) else 'link' if target is not None \
                else 'file' if stat.S_ISREG(st.st_mode) else 'other'
            tree[rel] = (kind, st.st_size if kind == 'file' else None,
                         st.st_mtime_ns if kind == 'file' else None, target)
    return tree


def differences(before, after):
    """Human-readable lines: what appeared, vanished or changed between snapshots."""
    lines = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        if a == b:
            continue
        if a is None:
            lines.append('appeared: %s %s' % (path, b))
        elif b is None:
            lines.append('vanished: %s %s' % (path, a))
        else:
            lines.append('changed: %s %s -> %s' % (path, a, b))
    return lines
