"""The hot path's bounded spin for a reply: returns when bytes wait, gives up in time."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

from pyresque.backends.redis.spin import wait_readable


def test_returns_at_once_when_reply_bytes_wait() -> None:
    """With data already readable, the spin ends immediately and reads nothing."""
    a, b = socket.socketpair()
    with a, b:
        a.settimeout(5.0)  # as redis-py's sockets: recv would poll first
        b.sendall(b"+PONG\r\n")
        time.sleep(0.01)
        t0 = time.perf_counter()
        wait_readable(SimpleNamespace(_sock=a), spin=1.0)
        assert time.perf_counter() - t0 < 0.1
        assert a.recv(100) == b"+PONG\r\n"  # nothing was consumed


def test_gives_up_after_the_spin_limit_without_reply() -> None:
    """No reply: the spin stops after its limit instead of hanging."""
    a, b = socket.socketpair()
    with a, b:
        t0 = time.perf_counter()
        wait_readable(SimpleNamespace(_sock=a), spin=0.02)
        elapsed = time.perf_counter() - t0
        assert 0.02 <= elapsed < 0.5


def test_connections_without_a_plain_socket_are_left_alone() -> None:
    """A connection not yet connected (no socket) returns at once."""
    t0 = time.perf_counter()
    wait_readable(SimpleNamespace(_sock=None), spin=1.0)
    assert time.perf_counter() - t0 < 0.1
