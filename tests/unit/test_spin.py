"""The hot path's bounded spin for a reply: returns when bytes wait, gives up in time, and
in mode "auto" spins only while replies come fast."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace

import pytest
import redis

from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis import spin as spin_module
from pyresque.backends.redis.spin import (
    AUTO_WINDOW,
    SPIN_SECONDS,
    SpinState,
    call_spinning,
    pool_connection,
    read_reply,
    set_mode,
    wait_readable,
)
from pyresque.core.errors import ConfigurationError


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


# --- the adaptive policy (mode "auto"), and the modes "on" and "off" -------------------


def test_auto_spins_while_replies_are_fast_and_stops_when_they_are_slow() -> None:
    """Replies slower than the window turn the spin off in a handful of calls; fast
    replies (a blocking read measures them too) turn it back on."""
    state = SpinState("auto")
    assert state.window() == AUTO_WINDOW
    for _ in range(20):
        state.observe(0.00003)  # 30 us: a local Redis
    assert state.window() == AUTO_WINDOW
    calls = 0
    while state.window() > 0:
        state.observe(0.0008)  # 0.8 ms: Redis on another host
        calls += 1
    assert 1 <= calls <= 12
    for _ in range(40):
        state.observe(0.0008)
    assert state.window() == 0.0
    back = 0
    while state.window() == 0.0:
        state.observe(0.00008)  # 80 us: a blocking read of a local reply
        back += 1
    assert back <= 40
    for _ in range(40):
        state.observe(0.00003)
    state.observe(0.005)  # one slow script (5 ms) turns it off for a few calls only
    again = 0
    while state.window() == 0.0:
        state.observe(0.00003)
        again += 1
    assert again <= 20


def test_auto_is_the_default() -> None:
    """A connection nobody set a mode for is in mode auto (it spins until replies are slow)."""
    assert SpinState().mode == "auto" and SpinState().window() == AUTO_WINDOW
    conn = _TimedConn(0.0)
    read_reply(conn, time.perf_counter())
    assert conn._pyresque_spin.mode == "auto"  # type: ignore[attr-defined]


def test_on_always_spins_and_off_never_does() -> None:
    """Mode "on" keeps the full window whatever the replies; "off" never spins."""
    on, off = SpinState("on"), SpinState("off")
    for _ in range(50):
        on.observe(0.002)
        off.observe(0.00001)
    assert on.window() == SPIN_SECONDS
    assert off.window() == 0.0


class _TimedConn:
    def __init__(self, delay: float) -> None:
        self._sock = None
        self.delay = delay

    def read_response(self) -> bytes:
        time.sleep(self.delay)
        return b"OK"


def test_read_reply_skips_the_spin_once_replies_are_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through read_reply, a connection whose replies take 2 ms stops calling the spin."""
    spins: list[float] = []
    monkeypatch.setattr(spin_module, "wait_readable", lambda conn, window, since: spins.append(window))
    conn = _TimedConn(0.002)
    conn._pyresque_spin = SpinState("auto")  # type: ignore[attr-defined]
    for _ in range(30):
        assert read_reply(conn, time.perf_counter()) == b"OK"
    assert 1 <= len(spins) <= 12  # the first calls spin, then the average says stop
    assert all(window == AUTO_WINDOW for window in spins)


def test_set_mode_reaches_pooled_connections_and_refuses_unknown_modes(redis_url: str) -> None:
    """RedisBackend(spin=...) sets the mode of the connections the hot path takes."""
    backend = RedisBackend.from_url(redis_url, spin="off")
    try:
        conn = pool_connection(backend.client)
        try:
            assert conn._pyresque_spin.mode == "off"
        finally:
            backend.client.connection_pool.release(conn)
        set_mode(backend.client, "on")
        conn = pool_connection(backend.client)
        try:
            assert conn._pyresque_spin.mode == "on"
        finally:
            backend.client.connection_pool.release(conn)
        with pytest.raises(ConfigurationError, match="spin mode"):
            set_mode(backend.client, "sometimes")  # type: ignore[arg-type]
    finally:
        backend.close()
