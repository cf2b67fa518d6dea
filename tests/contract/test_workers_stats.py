"""Stats and worker-registry read side, as resque-web reads them."""

from __future__ import annotations

import json

from pyresque import Resque
from pyresque.backends.redis import RedisBackend


def test_stats_count_and_clear(backend: RedisBackend) -> None:
    """Counters start at 0, increment, and clear."""
    assert backend.stats.get("processed") == 0
    assert backend.stats.incr("processed") == 1
    assert backend.stats.incr("processed", 4) == 5
    backend.stats.clear("processed")
    assert backend.stats.get("processed") == 0


def test_info_counts_pending_workers_and_working(app: Resque, backend: RedisBackend) -> None:
    """info() reads queues, stats, failed, workers and who is working, like Resque.info."""
    app.enqueue("a", "Add", 1, 2)
    app.enqueue("b", "Add", 1, 2)
    app.enqueue("b", "Add", 1, 2)
    r = backend.client
    r.sadd(backend.keys.workers, "h:1:a", "h:2:b")
    record = {"queue": "a", "run_at": "2026-11-23T17:23:27Z", "payload": {"class": "Add", "args": []}}
    r.set(backend.keys.worker("h:1:a"), json.dumps(record))
    r.incrby(backend.keys.stat("processed"), 7)
    r.rpush(backend.keys.failed, b"{}")
    info = app.info()
    assert (info.pending, info.processed, info.failed) == (3, 7, 1)
    assert (info.queues, info.workers, info.working) == (2, 2, 1)
    assert backend.workers.working()["h:1:a"]["queue"] == "a"
