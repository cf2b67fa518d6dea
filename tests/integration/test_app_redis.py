"""The client against a real redis-server: round trips and reconnection."""

from __future__ import annotations

import pytest

from pyresque import BackendConnectionError, Resque
from pyresque.backends.redis import RedisBackend
from tests.redis_server import RedisServer
from tests.roundtrips import CountingConnection, counting_client


def _app(url: str) -> tuple[Resque, type[CountingConnection]]:
    client, counter = counting_client(url)
    app = Resque(RedisBackend(client))
    app.enqueue("warm", "Add", 0, 0)  # connect (handshake) and load the script
    counter.sent = 0
    return app, counter


def test_enqueue_is_one_round_trip(redis_url: str) -> None:
    """100 enqueues, tracked or not, are 100 round trips."""
    app, counter = _app(redis_url)
    for i in range(50):
        app.enqueue("q", "Add", i, i)
        app.enqueue("q", "Add", i, i, track_status=True)
    assert counter.sent == 100
    assert app.size("q") == 100


def test_bulk_enqueue_is_one_round_trip_per_chunk(redis_url: str) -> None:
    """enqueue_many of 12,000 jobs is one round trip per 5,000-job chunk."""
    app, counter = _app(redis_url)
    app.enqueue_many([("q", "Add", [i, i]) for i in range(12_000)])
    assert counter.sent == 3
    assert app.size("q") == 12_000


def test_client_recovers_after_redis_restarts(redis_server: RedisServer, redis_url: str) -> None:
    """While Redis is down enqueue raises BackendConnectionError; after restart it works."""
    app = Resque(redis_url)
    app.enqueue("q", "Add", 1, 2)
    redis_server.stop()
    try:
        with pytest.raises(BackendConnectionError):
            app.enqueue("q", "Add", 1, 2)
    finally:
        redis_server.start()
    try:
        app.enqueue("q", "Add", 3, 4)
        assert app.size("q") == 1  # the server keeps nothing on disk: only the new job
    finally:
        app.close()
