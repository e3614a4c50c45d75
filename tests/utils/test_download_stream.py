"""The data path of get_file (kzoo.utils.download.stream): the socket fast path, its
fallbacks (chunked, close-delimited bodies), buffers, background hashing, writeback.

The oracle for content is the bytes served and hashlib over them."""
import hashlib
import http.client
import http.server
import io
import os
import socket
import threading

import pytest

from kzoo.utils.data_utils import get_file
from kzoo.utils.download import stream

DATA = bytes(range(256)) * 4096 + b'tail'  # 1 MiB + 4 bytes
MD5 = hashlib.md5(DATA).hexdigest()


# -- _SocketBody on a socket pair -----------------------------------------------

def _response(head_and_body, timeout=0.3):
    """An http.client response whose socket got ``head_and_body`` in one send."""
    a, b = socket.socketpair()
    b.sendall(head_and_body)
    a.settimeout(timeout)
    resp = http.client.HTTPResponse(a)
    resp.begin()
    return resp, a, b


def test_bytes_read_with_the_headers_survive_a_timeout():
    """The body bytes that arrived with the headers sit in http.client's buffer; a
    read timeout right after must not lose them (BufferedReader.readinto1 does)."""
    resp, a, b = _response(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + b'x' * 50)
    try:
        body = stream._SocketBody(resp, resp.fp, resp.fp.raw)
        view = memoryview(bytearray(1 << 20))
        assert body.readinto(view) == 50 and bytes(view[:50]) == b'x' * 50
        with pytest.raises(OSError):  # the server holds: a timeout, nothing lost
            body.readinto(view)
    finally:
        a.close()
        b.close()


def test_socket_body_stops_at_content_length():
    resp, a, b = _response(b'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello')
    try:
        body = stream._SocketBody(resp, resp.fp, resp.fp.raw)
        view = memoryview(bytearray(64))
        got = bytearray()
        while True:
            n = body.readinto(view)
            if not n:
                break
            got += view[:n]
        assert bytes(got) == b'hello' and resp.length == 0
    finally:
        a.close()
        b.close()


# -- PartWriter -------------------------------------------------------------------

class Pieces(io.RawIOBase):
    """readinto returning the given pieces one per call (like recv), then an error."""

    def __init__(self, pieces, error=None):
        self.pieces, self.error = list(pieces), error

    def readinto(self, view):
        if not self.pieces:
            if self.error:
                raise self.error
            return 0
        piece = self.pieces.pop(0)
        n = min(len(piece), len(view))
        view[:n] = piece[:n]
        if n < len(piece):
            self.pieces.insert(0, piece[n:])
        return n


@pytest.mark.parametrize('bufsize,size', [(1, 3000), (7, 20000), (4096, len(DATA)),
                                          (1 << 20, len(DATA))])
def test_part_writer_writes_and_hashes_every_byte_in_order(tmp_path, bufsize, size):
    data = DATA[:size]
    pieces = [data[i:i + 3001] for i in range(0, len(data), 3001)]
    path = str(tmp_path / 'x.part')
    w = stream.PartWriter(path, append=False, hasher=hashlib.md5(), bufsize=bufsize)
    try:
        assert w.pump(Pieces(pieces).readinto) is None
    finally:
        w.close()
    assert w.received == len(data)
    assert open(path, 'rb').read() == data
    assert w.hasher.hexdigest() == hashlib.md5(data).hexdigest()


def test_part_writer_keeps_what_arrived_before_a_read_error(tmp_path):
    path = str(tmp_path / 'x.part')
    with open(path, 'wb') as f:
        f.write(b'prefix')
    w = stream.PartWriter(path, append=True, hasher=hashlib.sha256(), bufsize=8)
    err = ConnectionResetError('gone')
    try:
        assert w.pump(Pieces([b'abc', b'defghijkl'], err).readinto, (OSError,)) is err
    finally:
        w.close()
    assert w.received == 12
    assert open(path, 'rb').read() == b'prefixabcdefghijkl'
    assert w.hasher.hexdigest() == hashlib.sha256(b'abcdefghijkl').hexdigest()


def test_part_writer_write_errors_are_not_read_errors(tmp_path):
    w = stream.PartWriter(str(tmp_path / 'x.part'), append=False, hasher=hashlib.md5())
    os.close(w._fd)
    w._fd = os.open(os.devnull, os.O_RDONLY)  # writes now fail
    try:
        with pytest.raises(OSError):
            w.pump(Pieces([b'abc']).readinto, (ConnectionError,))
    finally:
        os.close(w._fd)
        w._fd = os.open(os.devnull, os.O_WRONLY)
        with pytest.raises(OSError):
            w.close()  # fsync of /dev/null: refused; the fd is closed anyway


def test_writeback_covers_the_file_in_order(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(stream, 'WRITEBACK_BYTES', 100000)
    monkeypatch.setattr(stream, '_writeback_function',
                        lambda: lambda fd, start, n, flags: calls.append((start, n)))
    path = str(tmp_path / 'x.part')
    with open(path, 'wb') as f:
        f.write(b'p' * 10)  # resuming after 10 bytes
    w = stream.PartWriter(path, append=True, hasher=hashlib.md5(), bufsize=65536)
    try:
        w.pump(Pieces([DATA[i:i + 50000] for i in range(0, len(DATA), 50000)]).readinto)
    finally:
        w.close()
    assert calls and calls[0][0] == 10
    assert all(a + n == b for (a, n), (b, _) in zip(calls, calls[1:]))
    assert all(n >= 100000 for _, n in calls)


# -- get_file through servers the loopback fixture does not imitate ---------------

def _serve(handler_body):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def do_GET(self):
            handler_body(self)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _chunked(h):
    h.send_response(200)
    h.send_header('Transfer-Encoding', 'chunked')
    h.end_headers()
    for i in range(0, len(DATA), 70000):
        piece = DATA[i:i + 70000]
        h.wfile.write(b'%x\r\n' % len(piece) + piece + b'\r\n')
    h.wfile.write(b'0\r\n\r\n')


def _close_delimited(h):
    h.send_response(200)
    h.send_header('Connection', 'close')
    h.end_headers()
    h.wfile.write(DATA)
    h.close_connection = True


def _count_fast_reads(monkeypatch):
    calls = []
    real = stream._SocketBody.readinto
    monkeypatch.setattr(stream._SocketBody, 'readinto',
                        lambda self, view: calls.append(1) or real(self, view))
    return calls


@pytest.mark.parametrize('handler,fast', [(_chunked, False), (_close_delimited, True)])
def test_get_file_reads_chunked_and_close_delimited_bodies(handler, fast, kzoo_env,
                                                           monkeypatch):
    calls = _count_fast_reads(monkeypatch)
    server = _serve(handler)
    try:
        url = 'http://127.0.0.1:%d/w.bin' % server.server_address[1]
        with open(get_file('w.bin', url, file_hash=MD5), 'rb') as f:
            assert f.read() == DATA
    finally:
        server.shutdown()
        server.server_close()
    assert bool(calls) == fast  # chunked bodies take urllib3's read1


def test_get_file_takes_the_socket_path(loopback, kzoo_env, monkeypatch):
    calls = _count_fast_reads(monkeypatch)
    loopback.add('/w.bin', DATA)
    with open(get_file('w.bin', loopback.url('/w.bin'), file_hash=MD5), 'rb') as f:
        assert f.read() == DATA
    assert calls


def test_writes_are_at_most_write_bytes(tmp_path, monkeypatch):
    sizes = []
    real_write = os.write
    monkeypatch.setattr(os, 'write', lambda fd, data: sizes.append(len(data)) or
                        real_write(fd, data))
    path = str(tmp_path / 'x.part')
    w = stream.PartWriter(path, append=False, hasher=hashlib.md5(), bufsize=1 << 20)
    try:
        w.pump(Pieces([DATA]).readinto)  # one 1 MiB receive, then the 4-byte tail
    finally:
        w.close()
    assert max(sizes) == stream.WRITE_BYTES and sum(sizes) == len(DATA)
    assert open(path, 'rb').read() == DATA
