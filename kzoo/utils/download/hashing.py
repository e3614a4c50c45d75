"""Hashing downloads: algorithm choice, whole-file hashes, and hashing while streaming.

Keras's rule for ``hash_algorithm='auto'``: a 64-hex-digit hash is sha256, anything
else md5.

>>> algorithm_name('auto', '0' * 64), algorithm_name('auto', '0' * 32)
('sha256', 'md5')
>>> h = BackgroundHasher(hashlib.new('md5'))
>>> h.update(b'abc'); h.update(b'def')
>>> h.hexdigest() == hashlib.md5(b'abcdef').hexdigest()
True
>>> h.close()
"""
import hashlib
import queue
import threading

from kzoo.utils.download.settings import CHUNK_SIZE

__all__ = ['algorithm_name', 'resolve_hasher', 'hash_file', 'validate_file',
           'BackgroundHasher']


def algorithm_name(algorithm, file_hash=None):
    """'auto' means sha256 for a 64-digit hash and md5 otherwise, as in Keras."""
    algorithm = (algorithm or 'auto').lower()
    if algorithm == 'auto':
        return 'sha256' if file_hash is not None and len(file_hash) == 64 else 'md5'
    if algorithm not in hashlib.algorithms_available:
        raise ValueError('unknown hash_algorithm %r (use auto, sha256 or md5)' % algorithm)
    return algorithm


def resolve_hasher(algorithm, file_hash=None):
    """A new hashlib object for ``algorithm`` ('auto' looks at ``file_hash``)."""
    return hashlib.new(algorithm_name(algorithm, file_hash))


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


class BackgroundHasher:
    """Feeds a hashlib object from a second thread, in the order chunks are given.

    hashlib releases the GIL on large buffers, so while this thread hashes one
    buffer the caller receives and writes the next: md5 alone runs at about the
    speed of a loopback socket, and doing both in turn would halve throughput.

    ``update`` only queues the chunk and returns; ``on_hashed(chunk)`` is called
    (in the hash thread) once a chunk is hashed, so the caller can reuse its
    buffer, and must not change it before. The caller bounds the memory: a fixed
    set of buffers going round (see :class:`~.stream.PartWriter`). A queue rather
    than a hand-off per chunk: while chunks are waiting, the hash thread goes on to
    the next without sleeping, so on a busy machine it does not pay a scheduler
    wake-up (milliseconds) per chunk.
    """

    def __init__(self, hasher, on_hashed=None):
        self.hasher = hasher
        self._on_hashed = on_hashed
        self._queue = queue.Queue()
        self._error = None
        self._thread = threading.Thread(target=self._run, name='kzoo-hash', daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                if self._error is None:
                    try:
                        self.hasher.update(chunk)
                    except BaseException as e:  # re-raised in the caller's thread
                        self._error = e
                if self._on_hashed is not None:
                    self._on_hashed(chunk)
            finally:
                self._queue.task_done()

    def update(self, chunk):
        self._raise()
        self._queue.put(chunk)

    def wait(self):
        """Block until every chunk given so far is hashed."""
        self._queue.join()
        self._raise()

    def _raise(self):
        if self._error is not None:
            raise self._error

    def hexdigest(self):
        self.wait()
        return self.hasher.hexdigest()

    def close(self):
        """Finish the queued chunks and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()
