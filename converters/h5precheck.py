"""Checks of an HDF5 file's raw bytes that libhdf5 itself does not make.

libhdf5 trusts some structures it reads. A *global heap collection* (``GCOL``: where
variable-length strings live, the ``model_config`` of every Keras file among them) is
walked object by object, each object header giving the size of the next step; an
object of index 0 and size 0 makes that walk stand still, and libhdf5 1.14 then loops
for ever (a hostile or corrupted file hangs the reader; found by kzoo's fuzzer). A
size that wraps the pointer makes it read out of bounds. Before libhdf5 can walk a
collection, it is walked here the way libhdf5 will walk it, and a collection whose walk
would not advance, or would jump backwards, is refused.

A file opened by path is read by libhdf5 through :class:`CheckedFile`, which checks the
collections in the bytes libhdf5 reads, as it reads them: dataset bytes kzoo reads
itself are never scanned. :func:`check_global_heaps` and :func:`check_file` check every
collection anywhere in a buffer (an in-memory file) or a file.

>>> import struct
>>> heap = b'GCOL' + bytes([1, 0, 0, 0]) + struct.pack('<Q', 4096)
>>> heap += struct.pack('<HHIQ', 1, 1, 0, 5) + b'hello\\0\\0\\0'   # object 1: 5 bytes
>>> heap += struct.pack('<HHIQ', 0, 0, 0, 0)                       # free space of size 0
>>> check_global_heaps(heap + bytes(4096 - len(heap)), 'x.h5')
Traceback (most recent call last):
...
kzoo.errors.FileFormatError: x.h5: corrupt HDF5 global heap at byte 0: its object at offset 40 (index 0, size 0) would make libhdf5 read it for ever; refused
"""
import collections
import io
import os
import stat

from kzoo.errors import FileFormatError

_SIGNATURE = b'GCOL'
_MAX_OBJECTS = 1 << 20   # far more than any model file's variable-length strings
HDF5_SIGNATURE = b'\x89HDF\r\n\x1a\n'


def signature_offsets(size):
    """Where libhdf5 looks for the superblock: 0, then after a user block of 512 bytes
    times a power of two (the only sizes HDF5 allows)."""
    offset = 0
    while offset + 8 <= size:
        yield offset
        offset = 512 if offset == 0 else offset * 2


def size_of_lengths(buf):
    """The superblock's "size of lengths" (8 in every file h5py writes)."""
    for base in signature_offsets(len(buf)):
        if bytes(buf[base:base + 8]) == HDF5_SIGNATURE and len(buf) >= base + 16:
            version = buf[base + 8]
            value = buf[base + 14] if version in (0, 1) else buf[base + 10]
            return value if value in (2, 4, 8) else 8
    return 8


def check_global_heaps(buf, label):
    """Raise :class:`FileFormatError` if a global heap collection in ``buf`` (bytes, an
    mmap of the file, or a :class:`_FileBytes`) would make libhdf5 loop for ever or read
    out of bounds."""
    length_size = size_of_lengths(buf)
    # every occurrence ("GCOL" cannot overlap itself, so none is skipped by a step of 4)
    positions = buf.positions(_SIGNATURE) if isinstance(buf, _FileBytes) else _each(buf)
    for pos in positions:
        check_heap_at(buf, pos, length_size, label)


def check_heap_at(buf, pos, length_size, label):
    """Walk the collection whose signature is at ``pos`` in ``buf`` as libhdf5 would walk
    it (:class:`FileFormatError` if the walk would stand still or jump backwards)."""
    header = 8 + length_size          # H5HG_SIZEOF_HDR: signature, version, reserved, size
    object_header = 8 + length_size   # H5HG_SIZEOF_OBJHDR: index, refs, reserved, size
    end_of_file = len(buf)
    if pos + header <= end_of_file and buf[pos + 4] == 1:  # libhdf5 reads version 1 only
        total = int.from_bytes(buf[pos + 8:pos + 8 + length_size], 'little')
        if header <= total <= end_of_file - pos:  # otherwise libhdf5 fails to read it
            _walk(buf, pos, total, header, object_header, length_size, label)


def _each(buf):
    pos = buf.find(_SIGNATURE)
    while pos >= 0:
        yield pos
        pos = buf.find(_SIGNATURE, pos + 4)


def _walk(buf, pos, total, header, object_header, length_size, label):
    """H5HG__cache_heap_deserialize's loop, with its size_t arithmetic."""
    wrap = 1 << 64
    p, steps = header, 0
    while p < total:
        if p + object_header > total:
            return  # the tail too small for an object header is free space
        at = pos + p
        index = int.from_bytes(buf[at:at + 2], 'little')
        size = int.from_bytes(buf[at + 8:at + 8 + length_size], 'little')
        if index > 0:
            need = (object_header + ((size + 7) // 8 * 8) % wrap) % wrap
        else:
            need = size
        if need == 0 or need >= 1 << 63:
            raise FileFormatError(
                '%s: corrupt HDF5 global heap at byte %d: its object at offset %d (index %d, '
                'size %d) would make libhdf5 read it for ever; refused'
                % (label, pos, p, index, size))
        p += need
        steps += 1
        if steps > _MAX_OBJECTS:
            raise FileFormatError('%s: HDF5 global heap at byte %d holds more than %d objects; '
                                  'refused as corrupt' % (label, pos, _MAX_OBJECTS))


class _FileBytes(object):
    """The bytes of an open file as :func:`check_global_heaps` reads them (``len``,
    indexing, slices, ``find``), read window by window into one reused buffer: scanning
    a 553 MB weights file keeps a few MB resident (a memory map of it would count every
    page it touched as the process's resident memory while the file is loaded), and no
    window allocates fresh memory (each new megabyte would cost its page faults)."""

    WINDOW = 1 << 20  # stays in cache between the read and the search

    def __init__(self, f):
        """``f``: an open file, a descriptor, or another :class:`_FileBytes` (its file, a
        new window)."""
        if isinstance(f, _FileBytes):
            self.fd, self.size = f.fd, f.size
        elif isinstance(f, int):
            self.fd, self.size = f, os.fstat(f).st_size
        else:
            self.fd = f.fileno()
            self.size = os.fstat(self.fd).st_size
        self._buffer = None

    def __len__(self):
        return self.size

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, _ = index.indices(self.size)
            return os.pread(self.fd, max(stop - start, 0), start)
        data = os.pread(self.fd, 1, index)
        if not data:
            raise IndexError(index)
        return data[0]

    def find(self, sub, start=0):
        for at in self._between(sub, start, self.size):
            return at
        return -1

    def positions(self, sub):
        """Every position of ``sub``, in order; a large file is searched in parts by
        several threads (the reads and numpy's comparisons run without the GIL)."""
        workers = min(_cpus(), self.size // self.PART)
        if workers < 2:
            return list(self._between(sub, 0, self.size))
        import concurrent.futures
        cuts = [self.size * k // workers for k in range(workers + 1)]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            parts = pool.map(lambda k: list(_FileBytes(self)._between(sub, cuts[k], cuts[k + 1])),
                             range(workers))
            return [at for part in parts for at in part]

    PART = 32 << 20  # the least worth a thread of its own

    def _between(self, sub, start, end):
        """Positions p of ``sub`` with start <= p < end, in order."""
        overlap = len(sub) - 1
        if self._buffer is None or len(self._buffer) != self.WINDOW + overlap:
            self._buffer = _Finder(self.WINDOW + overlap)
        finder = self._buffer
        while start < end:
            n = _read_into(self.fd, finder.data, start)
            for at in finder.search(n, sub):
                if start + at >= end:
                    break
                yield start + at
            if start + n >= self.size:
                break
            start += self.WINDOW  # a full window: n is WINDOW + overlap


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _read_into(fd, buffer, offset):
    """Bytes read into ``buffer`` from ``offset`` (fewer only at the end of the file)."""
    view, done = memoryview(buffer), 0
    while done < len(view):
        n = os.preadv(fd, [view[done:]], offset + done)
        if n <= 0:
            break
        done += n
    return done


class _Finder(object):
    """A reused window and scratch masks for :meth:`search` (no allocation per window)."""

    def __init__(self, size):
        import numpy as np
        self.data = bytearray(size)
        self._bytes = np.frombuffer(self.data, np.uint8)
        self._a = np.empty(size // 2, bool)
        self._b = np.empty(size // 2, bool)

    def __len__(self):
        return len(self.data)

    def search(self, n, sub, data=None):
        """The positions of ``sub`` in the first ``n`` bytes of the window (or of
        ``data``, a uint8 array of at most the window's size), in order (a generator).

        Every occurrence of a needle of 3 or more bytes at position p covers an
        even-aligned byte pair that is either ``sub[0:2]`` (p even) or ``sub[1:3]`` (p
        odd); comparing 16-bit words finds those few candidates in two vectorized passes
        (bytes.find crawls through float weights, whose bytes often hold a needle's
        letters), and each candidate is then compared in full."""
        import numpy as np
        data = self._bytes if data is None else data
        size = len(sub)
        if size < 3:
            text, at = data[:n].tobytes(), -1
            while True:
                at = text.find(sub, at + 1)
                if at < 0:
                    return
                yield at
        pairs = n // 2
        words = data[:2 * pairs].view('<u2')
        a, b = self._a[:pairs], self._b[:pairs]
        np.equal(words, int.from_bytes(sub[0:2], 'little'), out=a)
        np.equal(words, int.from_bytes(sub[1:3], 'little'), out=b)
        np.logical_or(a, b, out=b)
        i, checked = 0, 0
        while i < pairs:  # candidates are rare in weights: step from one to the next
            i += int(b[i:].argmax())
            if not b[i]:
                return
            for p in (2 * i - 1, 2 * i):
                if 0 <= p <= n - size and data[p:p + size].tobytes() == sub:
                    yield p
            i, checked = i + 1, checked + 1
            if checked == 64:  # a window full of candidates ("GCGC..."): all at once
                at = (np.flatnonzero(b[i:]) + i) * 2
                at = np.sort(np.concatenate([at - 1, at]))
                at = at[at <= n - size]
                for k in range(size):
                    at = at[data[at + k] == sub[k]]
                for p in at.tolist():
                    yield p
                return


_PASSED = collections.OrderedDict()  # files that passed, by identity and change times


def check_file(path, label):
    """:func:`check_global_heaps` on a file, read in windows (see :class:`_FileBytes`).

    A file that passed is not scanned again while its inode, size, modification and
    status-change times stay the same (any write changes the status-change time, which
    no program can set): opening a file to detect its format, then again to load it,
    costs one scan."""
    with open(path, 'rb') as f:
        st = os.fstat(f.fileno())
        if st.st_size == 0:
            return
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        if key in _PASSED:
            return
        check_global_heaps(_FileBytes(f), label)
        _PASSED[key] = True
        while len(_PASSED) > 256:
            _PASSED.popitem(last=False)


class CheckedFile(io.RawIOBase):
    """A regular file as libhdf5 reads it through h5py's ``fileobj`` driver, every read
    checked: each global heap collection whose signature lies in, or straddles, the
    bytes of a read is walked (:func:`check_heap_at`) before libhdf5 gets them.

    libhdf5 interprets only bytes it has read, so a collection it would walk is checked
    first, as with the whole-file scan (:func:`check_file`), but dataset bytes that
    kzoo reads itself (``fd``, :meth:`~kzoo.converters.h5safe.H5File.read_extents`)
    are never scanned. A refusal is kept: every later read raises it again, so libhdf5
    cannot carry on past it. The file's size is fixed at opening (bytes past it read as
    zeros, as libhdf5's own driver gives past the end of a file)."""

    SMALL = 1 << 16  # reads up to this size are searched with bytes.find
    REMEMBERED = 4096  # libhdf5 reads a heap more than once; memory stays bounded

    def __init__(self, path, label):
        super().__init__()
        self.label, self.refused, self._pos, self.fd = label, None, 0, None
        self.fd = os.open(path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
        try:
            st = os.fstat(self.fd)
            if not stat.S_ISREG(st.st_mode):
                raise FileFormatError('%s: not a regular file' % label)
            self.size = st.st_size
            self._file = _FileBytes(self.fd)  # the walks' view of the file
            self._file.size = self.size
            self.length_size = size_of_lengths(self._file)
        except BaseException:
            os.close(self.fd)
            self.fd = None
            raise
        self._walked = collections.OrderedDict()  # positions that passed, latest last
        self._finder = None

    def readable(self):
        return True

    def seekable(self):
        return True

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def tell(self):
        return self._pos

    def readinto(self, buffer):
        if self.refused is not None:
            raise self.refused
        view = memoryview(buffer).cast('B')
        start, want = self._pos, len(view)
        n = max(0, min(want, self.size - start))
        if n:
            n = _read_into(self.fd, view[:n], start)
        if n < want:
            view[n:] = bytes(want - n)
        try:
            for pos in self._signatures(view, start, n):
                if pos in self._walked:
                    self._walked.move_to_end(pos)
                    continue
                check_heap_at(self._file, pos, self.length_size, self.label)
                self._walked[pos] = True
                if len(self._walked) > self.REMEMBERED:
                    self._walked.popitem(last=False)
        except FileFormatError as e:
            self.refused = e
            raise
        self._pos = start + want
        return want

    def _signatures(self, view, start, n):
        """File positions of every signature with a byte among ``view[:n]`` (the file's
        bytes from ``start``)."""
        head = os.pread(self.fd, min(start, 3), start - min(start, 3))
        tail = os.pread(self.fd, max(0, min(3, self.size - start - n)), start + n) if n else b''
        if n <= max(self.SMALL, 8):  # (the pieces below need a few bytes at least)
            data = head + bytes(view[:n]) + tail
            return [start - len(head) + p for p in _each(data)]
        found = [start - len(head) + p for p in _each(head + bytes(view[:3]))]
        found += [start + p for p in self._search(view, n)]
        found += [start + n - 3 + p for p in _each(bytes(view[n - 3:n]) + tail)]
        return sorted(set(found))

    def _search(self, view, n):
        """Positions of the signature in ``view[:n]``, window by window."""
        import numpy as np
        window = _FileBytes.WINDOW
        if self._finder is None:
            self._finder = _Finder(window + 3)
        data = np.frombuffer(view, np.uint8, n)
        for start in range(0, n, window):
            part = data[start:start + window + 3]
            for at in self._finder.search(len(part), _SIGNATURE, part):
                if at < window:  # the next window finds the others again
                    yield start + at

    def close(self):
        if self.fd is not None and not self.closed:
            os.close(self.fd)
        super().close()
