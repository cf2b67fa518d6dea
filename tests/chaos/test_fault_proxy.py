"""The fault injectors themselves (fast): a dropped reply means the command ran; a stall
delays without closing; a cut closes; the storm kills others' connections, not its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.faults import ClientKillStorm, FaultProxy, no_retry_client
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis


def raw_connection(port: int) -> socket.socket:
    """A bare TCP connection (no client handshake, no reconnection behind our back)."""
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def raw_command(sock: socket.socket, command: bytes) -> bytes:
    """Send an inline command; return the reply line, or b"" if the connection closed."""
    sock.sendall(command + b"\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(4096)
        if not chunk:
            return b""
        reply += chunk
    return reply


@pytest.fixture
def proxy(redis_url: str, redis_server: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(redis_server.port, seed=7) as p:
        yield p


def test_forwards_commands_both_ways(proxy: FaultProxy, redis_server: RedisServer) -> None:
    client = no_retry_client(proxy.port)
    assert client.set("k", b"v" * 200_000)
    assert client.get("k") == b"v" * 200_000
    assert redis_server.client().get("k") == b"v" * 200_000
    assert proxy.counters().replies_dropped == 0
    assert proxy.counters().accepted == 1
    client.close()


def test_a_dropped_reply_means_the_command_ran(proxy: FaultProxy, redis_server: RedisServer) -> None:
    client = no_retry_client(proxy.port)
    assert client.ping()
    proxy.drop_reply_rate = 1.0
    with pytest.raises(redis.ConnectionError):
        client.incr("counter")
    assert redis_server.client().get("counter") == b"1"  # it ran: only the reply was lost
    assert proxy.counters().replies_dropped == 1
    assert proxy.open_connections == 0  # the connection went with its reply
    proxy.drop_reply_rate = 0.0
    assert client.incr("counter") == 2  # a new connection works
    client.close()


def test_drop_rate_is_a_seeded_probability(redis_server: RedisServer, redis_url: str) -> None:
    def run(seed: int) -> list[bool]:
        outcomes = []
        with FaultProxy(redis_server.port, seed=seed, drop_reply_rate=0.3) as proxy:
            sock = raw_connection(proxy.port)
            for _ in range(60):
                ok = raw_command(sock, b"INCR n") != b""
                outcomes.append(ok)
                if not ok:
                    sock.close()
                    sock = raw_connection(proxy.port)
            sock.close()
            assert proxy.counters().replies_dropped == outcomes.count(False)
        return outcomes

    first = run(11)
    assert 5 <= first.count(False) <= 40
    assert run(11) == first  # the same seed, the same faults
    assert int(redis_server.client().get("n") or 0) == 120  # every INCR ran, lost reply or not
    with pytest.raises(ValueError):
        FaultProxy(redis_server.port, drop_reply_rate=1.5)


def test_stall_delays_replies_and_keeps_the_connection(proxy: FaultProxy) -> None:
    client = no_retry_client(proxy.port, socket_timeout=10)
    assert client.ping()
    proxy.stall(0.6)
    stalled = proxy.paused
    assert stalled
    t0 = time.monotonic()
    assert client.incr("s") == 1
    assert time.monotonic() - t0 >= 0.5
    assert not proxy.paused
    assert proxy.counters().accepted == 1  # the same connection throughout
    client.close()


def test_pause_holds_both_directions_until_resume(proxy: FaultProxy, redis_server: RedisServer) -> None:
    client = no_retry_client(proxy.port, socket_timeout=10)
    assert client.ping()
    proxy.pause()
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(client.incr("p")))
    thread.start()
    time.sleep(0.3)
    assert result == []
    assert redis_server.client().get("p") is None  # the command itself is held back too
    proxy.resume()
    thread.join(10)
    assert result == [1]
    client.close()


def test_cut_closes_every_connection(proxy: FaultProxy) -> None:
    socks = [raw_connection(proxy.port) for _ in range(3)]
    for sock in socks:
        assert raw_command(sock, b"PING") == b"+PONG\r\n"
    assert proxy.open_connections == 3
    assert proxy.cut() == 3
    assert proxy.open_connections == 0
    for sock in socks:
        assert sock.recv(10) == b""  # closed by the proxy
        sock.close()
    assert proxy.counters().connections_cut == 3
    client = no_retry_client(proxy.port)
    assert client.ping()  # new connections work
    client.close()


def test_close_stops_the_thread_and_the_port(redis_server: RedisServer, redis_url: str) -> None:
    before = threading.active_count()
    proxy = FaultProxy(redis_server.port)
    client = no_retry_client(proxy.port, socket_connect_timeout=2)
    assert client.ping()
    proxy.close()
    proxy.close()
    assert threading.active_count() == before
    with pytest.raises(redis.ConnectionError):
        client.ping()  # nothing listens any more
    assert proxy.cut() == 0  # controls on a closed proxy do nothing
    client.close()


def test_client_kill_storm_kills_other_connections(redis_server: RedisServer, redis_url: str) -> None:
    victim = raw_connection(redis_server.port)
    assert raw_command(victim, b"PING") == b"+PONG\r\n"
    with ClientKillStorm(redis_server.port, duration=5, seed=3) as storm:
        deadline = time.monotonic() + 5
        while storm.killed == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert storm.killed >= 1 and storm.commands >= 1, storm
    assert not storm.running
    assert victim.recv(10) == b""  # killed by the storm
    victim.close()
