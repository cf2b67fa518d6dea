"""The hot path's bounded spin for a reply: returns when bytes wait, gives up in time."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest
import redis

from pyresque.backends.redis.spin import call_spinning, wait_readable


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


class _Conn:
    def __init__(self, log: list[str], fail_send: bool, fail_read: bool) -> None:
        self.log, self.fail_send, self.fail_read = log, fail_send, fail_read
        self._sock = None

    def send_command(self, *args: object) -> None:
        self.log.append("send")
        if self.fail_send:
            raise redis.ConnectionError("stale")

    def read_response(self) -> object:
        self.log.append("read")
        if self.fail_read:
            raise redis.ConnectionError("reply lost")
        return 1

    def disconnect(self) -> None:
        self.log.append("disconnect")


class _Pool:
    def __init__(self, conns: list[_Conn]) -> None:
        self.conns, self.released = conns, 0

    def get_connection(self) -> _Conn:
        return self.conns.pop(0)

    def release(self, conn: _Conn) -> None:
        self.released += 1


def test_a_failed_send_is_retried_once_on_a_fresh_connection() -> None:
    """A connection gone stale in the pool fails on send: the command goes out again."""
    log: list[str] = []
    pool = _Pool([_Conn(log, True, False), _Conn(log, False, False)])
    assert call_spinning(SimpleNamespace(connection_pool=pool), "PING") == 1  # type: ignore[arg-type]
    assert log == ["send", "disconnect", "send", "read"] and pool.released == 2


def test_a_lost_reply_is_never_retried() -> None:
    """The command may have run (an enqueue): no second send, the error is raised."""
    log: list[str] = []
    pool = _Pool([_Conn(log, False, True), _Conn(log, False, False)])
    with pytest.raises(redis.ConnectionError):
        call_spinning(SimpleNamespace(connection_pool=pool), "EVALSHA")  # type: ignore[arg-type]
    assert log.count("send") == 1 and pool.released == 1
