"""Moving a body into the part file: received, written and hashed in one pass.

The data path of a download, kept apart from the HTTP protocol (:mod:`.transfer`)
because it is where the time goes. Per byte it does what ``curl -o`` does, plus
the hash:

- :func:`body_reader` receives straight into a preallocated buffer (one
  ``recv_into`` of whatever has arrived), with no ``bytes`` object made per chunk
  and no copy between the socket and the buffer;
- :class:`PartWriter` writes each received piece to the part file at once with
  ``os.write`` (no Python-side file buffer: a process killed mid-transfer leaves
  everything it received on disk, ready to resume), and queues each full buffer
  for a :class:`~.hashing.BackgroundHasher`, which hashes it in a second thread
  while this one receives into the next free buffer. Four buffers of
  ``CHUNK_SIZE`` bytes go round whatever the file size: memory stays flat.
- every 16 MiB it asks the kernel to start writing to disk (``sync_file_range``,
  from a third thread), so the ``fsync`` before the rename waits for the tail
  only.

>>> import hashlib, io, os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), 'x.part')
>>> w = PartWriter(path, append=False, hasher=hashlib.md5(), bufsize=4)
>>> w.pump(io.BytesIO(b'0123456789').readinto)
>>> w.close()
>>> w.received, open(path, 'rb').read()
(10, b'0123456789')
>>> w.hasher.hexdigest() == hashlib.md5(b'0123456789').hexdigest()
True
"""
import functools
import http.client
import io
import os
import queue
import sys
import threading

from kzoo.utils.download import settings as config
from kzoo.utils.download.hashing import BackgroundHasher

__all__ = ['body_reader', 'PartWriter']

BUFFERS = 4  # buffers of CHUNK_SIZE going round between receiving and hashing

# The most bytes one write() hands the kernel. A 1 MiB write at a 1 MiB-aligned
# offset (which is where a fresh download's buffers end) makes the kernel allocate
# 1 MiB page-cache folios; on the VM this was measured on that copy costs 4-5x the
# CPU of the same bytes in 256 KiB writes (benchmarks/RESULTS-download.md), and
# four system calls per MiB cost nothing measurable.
WRITE_BYTES = 256 << 10

# Every this many bytes written, the kernel is asked to start writing them to disk
# (Linux sync_file_range), so the fsync before the rename waits only for the tail.
WRITEBACK_BYTES = 16 << 20


def body_reader(resp):
    """A ``readinto(view) -> int`` for the body of a streamed requests response.

    Each call receives what has arrived (one system call, at most ``len(view)``
    bytes) and returns 0 at the end of the body, so a transfer that breaks keeps
    every byte it got. Bytes are the body as sent (no content decoding: kzoo asks
    for ``identity`` and hashes what the server sent).

    The fast path receives from the socket straight into the caller's buffer: under
    urllib3's response is the ``http.client.HTTPResponse`` (urllib3 keeps it as
    ``raw._fp``), under that a ``BufferedReader`` over the socket. What that reader
    holds already (read with the headers) is taken with ``read1``; after that its
    raw ``readinto`` is one ``recv_into``. (Not ``BufferedReader.readinto1``: with
    a few bytes buffered it also blocks on the socket, and a timeout there loses
    the buffered bytes.) It counts ``Content-Length`` itself; a short body is seen
    by the caller comparing sizes. Chunked bodies, or a urllib3 without these
    attributes, take urllib3's ``read1`` and one copy per chunk.
    """
    raw = resp.raw
    fp = getattr(raw, '_fp', None)
    buffered = getattr(fp, 'fp', None)
    sock_io = getattr(buffered, 'raw', None)
    if (isinstance(fp, http.client.HTTPResponse) and not fp.chunked
            and isinstance(buffered, io.BufferedReader) and hasattr(sock_io, 'readinto')
            and not getattr(raw, '_fp_bytes_read', 0)):
        return _SocketBody(fp, buffered, sock_io).readinto

    read1 = getattr(raw, 'read1', None)
    if read1 is None:  # urllib3 < 2
        def read1(n, decode_content):
            return raw.read(n, decode_content=decode_content)

    def readinto(view):
        chunk = read1(len(view), decode_content=False)
        view[:len(chunk)] = chunk
        return len(chunk)
    return readinto


class _SocketBody:
    """The fast path of :func:`body_reader` (see there)."""

    def __init__(self, response, buffered, sock_io):
        self.response, self.buffered, self.sock_io = response, buffered, sock_io
        self.remaining = response.length  # None: the body ends when the server closes
        self.drained = False  # True once the BufferedReader holds nothing

    def readinto(self, view):
        remaining = self.remaining
        if remaining is not None:
            if remaining <= 0:
                return 0
            if len(view) > remaining:
                view = view[:remaining]
        if not self.drained:
            # read1 returns only buffered bytes when there are some, else makes one
            # raw read; either way a short answer means nothing is buffered now.
            chunk = self.buffered.read1(len(view))
            n = len(chunk)
            view[:n] = chunk
            self.drained = n < len(view)
        else:
            n = self.sock_io.readinto(view)
            if n is None:  # only a non-blocking socket says "nothing yet"
                raise BlockingIOError('socket has no data and no timeout')
        if remaining is not None:
            self.remaining = remaining - n
            self.response.length = self.remaining  # keep http.client's count true
        return n


class PartWriter:
    """Appends to (or starts) a part file and hashes what was written, in order.

    ``received`` always counts the bytes that reached the file; the hash covers
    all of them once :meth:`close` returned. ``bar`` is anything with
    ``update(n)`` (a tqdm bar) or None. Memory: ``BUFFERS`` buffers of ``bufsize``
    (default ``CHUNK_SIZE``, 1 MiB) whatever the size of the file.
    """

    def __init__(self, path, append, hasher, bar=None, bufsize=None):
        bufsize = bufsize or config.CHUNK_SIZE
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        # Unbuffered: each piece goes to the kernel as it arrives.
        self._fd = os.open(path, flags | getattr(os, 'O_BINARY', 0), 0o666)
        self._end = os.lseek(self._fd, 0, os.SEEK_END)
        self._writeback = _Writeback(self._fd, self._end)
        self.hasher = hasher
        self.bar = bar
        self.received = 0
        # BUFFERS buffers go round: filled here, hashed in the background, free again.
        self._free = queue.SimpleQueue()
        for _ in range(BUFFERS):
            self._free.put(memoryview(bytearray(bufsize)))
        self._background = BackgroundHasher(hasher, on_hashed=self._free.put)
        self._view, self._filled = self._free.get(), 0

    def pump(self, readinto, read_errors=()):
        """Copy until ``readinto`` returns 0; return None, or the exception (one of
        ``read_errors``) that ended the reading. Write errors propagate."""
        fd, bar = self._fd, self.bar
        view, filled = self._view, self._filled
        size = len(view)
        try:
            while True:
                if filled == size:
                    self._background.update(view)
                    # Blocks only while every buffer waits to be hashed.
                    view = self._view = self._free.get()
                    filled = 0
                try:
                    n = readinto(view[filled:])
                except read_errors as e:
                    return e
                if not n:
                    return None
                _write_all(fd, view[filled:filled + n])
                filled += n
                self.received += n
                self._end += n
                if self._end - self._writeback.start >= WRITEBACK_BYTES:
                    self._writeback.request(self._end)
                if bar is not None:
                    bar.update(n)
        finally:
            self._filled = filled

    def close(self):
        """Hash the last partial buffer, flush the file to disk, release it all.

        Whatever arrived is good (a prefix of the body), so it is kept and synced
        even after an error: the next attempt resumes after it.
        """
        try:
            if self._filled:
                self._background.update(self._view[:self._filled])
                self._filled = 0
            self._background.wait()
            self._writeback.stop()
            os.fsync(self._fd)
        finally:
            self._writeback.stop()  # before the descriptor closes and its number is reused
            os.close(self._fd)
            self._background.close()


class _Writeback:
    """Asks the kernel to start writing ranges of a file to disk, without waiting.

    So that a large download does not end with a long fsync (on a fast disk, one
    of 1 GiB takes about a third of the transfer's time). Linux only
    (``sync_file_range``); elsewhere nothing happens and the final fsync does it
    all. The calls run in a thread of their own: one can block for a while (a
    journal commit, a busy disk), and receiving must not stall meanwhile. Only a
    hint: its errors are ignored, the fsync in :meth:`PartWriter.close` is the
    guarantee.
    """

    def __init__(self, fd, start):
        self.fd, self.start = fd, start  # bytes before start were asked for already
        self._function = _writeback_function()
        self._queue = self._thread = None

    def request(self, end):
        """Start writing back the bytes from ``start`` to ``end``."""
        if self._function is None:
            self.start = end
            return
        if self._thread is None:  # first request: small files never start the thread
            self._queue = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name='kzoo-writeback',
                                            daemon=True)
            self._thread.start()
        self._queue.put((self.start, end - self.start))
        self.start = end

    def _run(self):
        for offset, length in iter(self._queue.get, None):
            self._function(self.fd, offset, length, _SYNC_FILE_RANGE_WRITE)

    def stop(self):
        """Wait for the requests made so far; no more calls on the descriptor after."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None


_SYNC_FILE_RANGE_WRITE = 2  # <linux/fs.h>: start writeback, don't wait


@functools.lru_cache(maxsize=None)
def _writeback_function():
    """libc's sync_file_range on Linux, else None (the final fsync does it all)."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        import ctypes
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (ImportError, OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _write_all(fd, view):
    while view:
        n = os.write(fd, view[:WRITE_BYTES])
        view = view[n:]
