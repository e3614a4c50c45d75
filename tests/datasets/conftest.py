"""Fixtures for the dataset tests: upstream-format files served on loopback."""
import hashlib
import urllib.parse

import pytest

from loopback_server import LoopbackServer

_HASH_ATTR = {'ORIGIN': 'FILE_HASH', 'WORD_INDEX_ORIGIN': 'WORD_INDEX_HASH'}


@pytest.fixture
def serve(monkeypatch):
    """``serve(module, {origin attribute: bytes})``: serve each file on 127.0.0.1 at the
    URL path of the module's real origin (so under its real file name), and point the
    module's origin and hash there. Returns the server (request counts)."""
    servers = []

    def serve(module, files):
        server = LoopbackServer().start()
        servers.append(server)
        for origin_attr, data in files.items():
            path = urllib.parse.urlsplit(getattr(module, origin_attr)).path
            server.add(path, data)
            monkeypatch.setattr(module, origin_attr, server.url(path))
            monkeypatch.setattr(module, _HASH_ATTR[origin_attr], hashlib.sha256(data).hexdigest())
        return server

    yield serve
    for server in servers:
        server.stop()
