"""Bad endpoints for the tests of what a wrong URL says: a redis-server that demands a
password, and a listener that answers like a web server (fixtures registered in
tests/integration/conftest.py)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer, in_ci

#: the password ``auth_server`` demands
PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RedisServer]:
    """A redis-server of the module's own with ``requirepass`` :data:`PASSWORD`."""
    try:
        server = RedisServer(requirepass=PASSWORD)
        server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if in_ci():
            pytest.fail(f"CI needs a redis-server: {exc}")
        pytest.skip(f"no redis-server: {exc}")
    yield server
    server.close()


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    """A listener that answers every connection with an HTML page, as a web server would."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                conn.recv(4096)
                conn.sendall(b"<html><body>400 Bad Request</body></html>\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(5)
    listener.close()
