"""A real HTTP server on 127.0.0.1 for download tests: no mocked ``requests``.

It serves files from a dict (``path -> bytes``) and/or a folder, honours
``Range`` (206 / 416), counts requests per path, and injects faults on demand:

=================  ===========================================================
``status``         answer ``code`` (default 503) with optional ``headers``
``redirect``       answer 302 (or ``code``) to ``to`` (absolute or relative)
``cut``            send ``at`` bytes of the body, then drop the connection
``hold``           send ``at`` bytes, then wait until :meth:`release` (or stop)
``stall``          sleep ``seconds`` before answering, then serve normally
``delay``          like stall, but meant for "slow but fine" (concurrency tests)
``ignore_range``   answer 200 with the whole file even to a Range request
``bad_range``      answer 206 starting at the wrong offset
``body``           serve ``data`` instead of the real content
``throttle``       send in ``chunk``-byte pieces with ``pause`` seconds between
=================  ===========================================================

Responses carry an ``ETag`` and a ``Range`` request whose ``If-Range`` names
another version gets the whole file (200), as real servers do.

Each fault applies to the next ``times`` requests of its path (``times=None``:
all of them), in the order added.

Example::

    with LoopbackServer({'/a.bin': b'x' * 1000}) as srv:
        srv.fault('/a.bin', 'cut', at=500)         # first GET breaks half-way
        url = srv.url('/a.bin')
        ...
        assert srv.count('/a.bin') == 2
        assert srv.range_requests('/a.bin') == ['bytes=500-']

As a pytest fixture: ``from tests.loopback_server import loopback`` in a
conftest, then ask for ``loopback`` in a test.
"""
import collections
import hashlib
import http.server
import os
import re
import socket
import threading
import time
import urllib.parse

__all__ = ['LoopbackServer', 'loopback']



class Record:
    """One request as the server saw it; ``status`` is None until answered."""
    __slots__ = ('method', 'path', 'headers', 'status')

    def __init__(self, method, path, headers):
        self.method, self.path, self.headers, self.status = method, path, headers, None

    def __repr__(self):
        return 'Record(%s %s %s -> %s)' % (self.method, self.path,
                                           self.headers.get('Range', ''), self.status)


class LoopbackServer:
    """Serve files on ``http://127.0.0.1:<free port>`` from a thread."""

    def __init__(self, files=None, root=None):
        self.files = dict(files or {})
        self.root = root
        self.records = []
        self._faults = collections.defaultdict(list)
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._stopped = threading.Event()
        self.held = threading.Event()  # set when a 'hold' fault has sent its bytes
        self.etags = True  # send ETag and honour If-Range (set False for a plain server)
        self._httpd = None
        self._thread = None

    # -- lifecycle
    def start(self):
        handler = _make_handler(self)
        self._httpd = _Server(('127.0.0.1', 0), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={'poll_interval': 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopped.set()
        self._released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- content and faults
    def url(self, path):
        return 'http://127.0.0.1:%d%s' % (self.port, path)

    def add(self, path, data):
        self.files[path] = data

    def fault(self, path, kind, times=1, **params):
        """Make the next ``times`` requests of ``path`` misbehave as ``kind``."""
        with self._lock:
            self._faults[path].append({'kind': kind, 'times': times, **params})

    def clear_faults(self, path=None):
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def release(self):
        """Let every request held by a ``hold`` fault finish (by closing)."""
        self._released.set()

    # -- what happened
    def count(self, path, method='GET'):
        return sum(1 for r in self.records if r.path == path and r.method == method)

    def range_requests(self, path):
        return [r.headers.get('Range') for r in self.records
                if r.path == path and r.headers.get('Range')]

    def statuses(self, path):
        return [r.status for r in self.records if r.path == path]

    # -- internals
    def _next_fault(self, path):
        with self._lock:
            for fault in self._faults.get(path, []):
                if fault['times'] is None:
                    return fault
                if fault['times'] > 0:
                    fault['times'] -= 1
                    return fault
        return None

    def _content(self, path):
        if path in self.files:
            return self.files[path]
        if self.root is not None:
            local = os.path.realpath(os.path.join(self.root, path.lstrip('/')))
            if local.startswith(os.path.realpath(self.root) + os.sep) and os.path.isfile(local):
                return _DiskFile(local)
        return None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients that time out and hang up are the point of these tests


class _DiskFile:
    def __init__(self, path):
        self.path = path

    def __len__(self):
        return os.path.getsize(self.path)


def _etag(content):
    if isinstance(content, _DiskFile):
        st = os.stat(content.path)
        return '"%x-%x"' % (st.st_size, st.st_mtime_ns)
    return '"%s"' % hashlib.md5(content).hexdigest()[:16]


def _parse_range(header, size):
    """(start, end) inclusive for 'bytes=N-' / 'bytes=N-M' / 'bytes=-K'; None if absent."""
    m = re.match(r'^bytes=(\d*)-(\d*)$', (header or '').strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        k = int(m.group(2))
        return max(size - k, 0), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    return start, min(end, size - 1)


def _make_handler(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._serve(head=True)

        def do_GET(self):
            self._serve(head=False)

        def _record(self, status):
            self.record.status = status

        def _simple(self, status, headers=(), body=b''):
            self._record(status)
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            if body and self.command != 'HEAD':
                self.wfile.write(body)

        def _serve(self, head):
            path = urllib.parse.urlsplit(self.path).path
            self.record = Record(self.command, path, dict(self.headers))
            with server._lock:
                server.records.append(self.record)
            try:
                self._serve_inner(head)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError,
                    socket.timeout):
                self.close_connection = True

        def _serve_inner(self, head):
            path = urllib.parse.urlsplit(self.path).path
            fault = server._next_fault(path)
            kind = fault and fault['kind']
            if kind in ('stall', 'delay'):
                server._stopped.wait(fault.get('seconds', 1.0))
                if server._stopped.is_set():
                    self.close_connection = True
                    return
            if kind == 'status':
                code = fault.get('code', 503)
                self._simple(code, fault.get('headers', {}).items(),
                             ('fault %d\n' % code).encode())
                return
            if kind == 'redirect':
                self._simple(fault.get('code', 302), [('Location', fault['to'])])
                return
            content = fault['data'] if kind == 'body' else server._content(path)
            if content is None:
                self._simple(404, body=b'not found\n')
                return
            size = len(content)
            etag = _etag(content)
            rng = None if kind == 'ignore_range' else _parse_range(self.headers.get('Range'),
                                                                 size)
            if_range = self.headers.get('If-Range')
            if rng is not None and if_range is not None and if_range != etag:
                rng = None  # the client's copy is of another version: send it all
            if rng is not None and rng[0] >= size:
                self._simple(416, [('Content-Range', 'bytes */%d' % size)])
                return
            if kind == 'bad_range' and rng is not None:
                rng = (max(rng[0] - fault.get('shift', 1), 0), rng[1])
            start, end = rng if rng is not None else (0, size - 1)
            status = 206 if rng is not None else 200
            self._record(status)
            self.send_response(status)
            self.send_header('Content-Type', 'application/octet-stream')
            self.send_header('Accept-Ranges', 'none' if kind == 'ignore_range' else 'bytes')
            if server.etags:
                self.send_header('ETag', etag)
            self.send_header('Content-Length', str(end - start + 1))
            if status == 206:
                self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
            self.end_headers()
            if head:
                return
            limit = end - start + 1
            if kind in ('cut', 'hold'):
                limit = max(0, min(limit, fault.get('at', limit // 2) - start))
            self._send_body(content, start, limit, fault if kind == 'throttle' else None)
            if kind == 'cut':
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            elif kind == 'hold':
                server.held.set()
                server._released.wait(fault.get('seconds', 60))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def _send_body(self, content, start, count, throttle):
            if isinstance(content, _DiskFile):
                with open(content.path, 'rb') as f:
                    if throttle is None:
                        self.connection.sendfile(f, start, count)  # fast path for benchmarks
                        return
                    f.seek(start)
                    data_at = lambda n: f.read(n)  # noqa: E731
                    self._write_throttled(data_at, count, throttle)
                return
            if throttle is None:
                self.wfile.write(content[start:start + count])
                return
            view = memoryview(content)[start:start + count]
            pos = [0]

            def data_at(n):
                chunk = view[pos[0]:pos[0] + n]
                pos[0] += n
                return bytes(chunk)
            self._write_throttled(data_at, count, throttle)

        def _write_throttled(self, read, count, throttle):
            chunk, pause = throttle.get('chunk', 1024), throttle.get('pause', 0.01)
            sent = 0
            while sent < count and not server._stopped.is_set():
                data = read(min(chunk, count - sent))
                if not data:
                    break
                self.wfile.write(data)
                sent += len(data)
                time.sleep(pause)

    return Handler


try:
    import pytest
except ImportError:  # usable without pytest, e.g. from the benchmarks
    pytest = None

if pytest is not None:
    @pytest.fixture
    def loopback():
        """A started LoopbackServer, stopped after the test."""
        srv = LoopbackServer().start()
        try:
            yield srv
        finally:
            srv.stop()
