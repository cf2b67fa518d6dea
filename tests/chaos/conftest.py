"""Chaos fixtures: redis-servers of the chaos modules' own (kills, freezes and crashes
never touch the session's server), emptied before each scenario."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer, in_ci


def _start(appendonly: bool) -> RedisServer:
    try:
        server = RedisServer(appendonly=appendonly)
        server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if in_ci():
            pytest.fail(f"CI needs a redis-server: {exc}")
        pytest.skip(f"no redis-server: {exc}")
    return server


def _fresh(server: RedisServer) -> RedisServer:
    if server.proc is None or server.proc.poll() is not None:
        server.start()
    server.wait_ready()
    server.client().flushall()
    return server


@pytest.fixture(scope="module")
def chaos_server_module() -> Iterator[RedisServer]:
    server = _start(appendonly=False)
    yield server
    server.close()


@pytest.fixture
def chaos_server(chaos_server_module: RedisServer) -> Iterator[RedisServer]:
    """A redis-server of this module's own (no persistence), empty."""
    server = _fresh(chaos_server_module)
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.sigcont()  # never leave it frozen


@pytest.fixture(scope="module")
def aof_server_module() -> Iterator[RedisServer]:
    server = _start(appendonly=True)
    yield server
    server.close()


@pytest.fixture
def aof_server(aof_server_module: RedisServer) -> Iterator[RedisServer]:
    """A redis-server of this module's own with ``appendonly yes``, ``appendfsync always``
    (a ``kill -9`` then restart on the same port keeps every acknowledged write), empty."""
    server = _fresh(aof_server_module)
    yield server
    if server.proc is not None and server.proc.poll() is None:
        server.sigcont()
