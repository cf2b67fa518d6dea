"""Shards: an app over three real redis-servers, each a complete Resque namespace
(pyresque.backends.redis.shards). Enqueues route by queue, reads add up, each shard
is readable on its own as any Resque, and workers run per shard (a worker across
shards: test_shards_worker.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pyresque import EnqueueRequest, Resque
from pyresque.backends.redis.shards import ShardedBackend, ShardMap
from pyresque.core.errors import BackendConnectionError, ConfigurationError
from tests.redis_server import RedisServer
from tests.worker_proc import start_worker, stop

QUEUES = [f"q{i}" for i in range(30)]


@pytest.fixture
def servers() -> Iterator[list[RedisServer]]:
    started = []
    try:
        for _ in range(3):
            server = RedisServer()
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.close()


@pytest.fixture
def sharded(servers: list[RedisServer]) -> Iterator[Resque]:
    app = Resque(
        ShardedBackend(
            {"a": servers[0].url, "b": servers[1].url, "c": servers[2].url}, queue_map={"mail": "c"}
        )
    )
    yield app
    app.close()


def test_the_hash_is_stable_and_a_new_shard_takes_queues_only_for_itself() -> None:
    three = ShardMap(["a", "b", "c"])
    assert [three.shard_of(q) for q in QUEUES] == [ShardMap(["a", "b", "c"]).shard_of(q) for q in QUEUES]
    assert len({three.shard_of(q) for q in QUEUES}) == 3  # 30 queues spread over all three
    four = ShardMap(["a", "b", "c", "d"])
    moved = [q for q in QUEUES if four.shard_of(q) != three.shard_of(q)]
    assert moved and all(four.shard_of(q) == "d" for q in moved)
    assert ShardMap(["a", "b"], {"mail": "b"}).shard_of("mail") == "b"
    with pytest.raises(ConfigurationError, match="unknown shards"):
        ShardMap(["a", "b"], {"mail": "z"})


def test_enqueues_land_on_their_queues_shard_only(sharded: Resque, servers: list[RedisServer]) -> None:
    backend: ShardedBackend = sharded.backend  # type: ignore[assignment]
    for queue in [*QUEUES, "mail"]:
        sharded.enqueue(queue, "noop", queue)
    ids = sharded.enqueue_many([EnqueueRequest(q, "noop", (i,)) for i, q in enumerate(QUEUES)])
    assert len(set(ids)) == len(QUEUES)
    by_port = {s.port: s.client() for s in servers}
    for queue in [*QUEUES, "mail"]:
        home = backend.backend_for(queue).client.get_connection_kwargs()["port"]
        for port, client in by_port.items():
            assert client.llen(f"resque:queue:{queue}") == (
                (2 if queue != "mail" else 1) if port == home else 0
            )
    assert backend.map.shard_of("mail") == "c"
    assert sharded.size("mail") == 1 and sorted(sharded.queues()) == sorted([*QUEUES, "mail"])
    # each shard is a complete Resque namespace that any Resque client reads
    plain = Resque(servers[2].url)
    assert "mail" in plain.queues() and plain.size("mail") == 1
    plain.close()


def test_statuses_and_delayed_jobs_are_found_on_their_shard(
    sharded: Resque, servers: list[RedisServer]
) -> None:
    job_id = sharded.enqueue("mail", "noop", 1, track_status=True)
    status = sharded.tracked(job_id).get()
    assert status is not None and status.status.name == "WAITING"
    later = sharded.enqueue_at(time.time() + 3600, "mail", "noop", 2)
    assert Resque(servers[2].url).backend.delayed.count() == 1
    assert sharded.remove_delayed_by_id(later) == 1


def test_info_adds_up_the_shards_and_workers_run_per_shard(sharded: Resque) -> None:
    backend: ShardedBackend = sharded.backend  # type: ignore[assignment]
    for i, queue in enumerate(QUEUES):
        sharded.enqueue(queue, "boom" if i % 10 == 0 else "noop", i)
    info = sharded.info()
    assert info.pending == len(QUEUES) and info.queues == len(QUEUES) and len(info.servers) == 1
    workers = [
        start_worker(shard.describe(), ",".join(backend.queues_of(name)), "--burst", "--mode", "inprocess")
        for name, shard in backend.shards.items()
        if backend.queues_of(name)
    ]
    for worker in workers:
        assert stop(worker, 60) == 0
    info = sharded.info()
    assert (info.pending, info.processed, info.failed) == (0, len(QUEUES), 3)
    assert len(sharded.failures.all(0, 10)) == 3
    sharded.failures.requeue(2)  # the third, on whichever shard holds it
    assert sharded.info().pending == 1


def test_the_sharded_registry_itself_refuses_to_reserve_in_one_line(sharded: Resque) -> None:
    """A worker reserves through its own registry over the shards (test_shards_worker)."""
    with pytest.raises(ConfigurationError, match=r"a worker over shards is pyresque\.Worker"):
        sharded.backend.workers.reserve("w:1:q", ["q0"], "2026-01-01T00:00:00Z", token="t")


def test_a_durable_enqueue_waits_on_its_queues_shard(sharded: Resque) -> None:
    """The shards have no replica here: the wait says so, and the job is on its shard."""
    with pytest.raises(BackendConnectionError, match="0 of the 1 replica"):
        sharded.enqueue("mail", "noop", 1, durable=1)  # durable_timeout: the app's 1 s
    assert sharded.size("mail") == 1


def test_failures_all_reads_on_across_shards_with_a_negative_count(sharded: Resque) -> None:
    """``all(start, -1)`` is every entry from ``start`` on, as on one Redis (the CLI's
    ``failed list`` reads this way), across the shards' lists in shard order."""
    from pyresque.core.failure import FailureRecord

    for i, queue in enumerate(["q0", "q1", "q2", "q3", "q4", "q5", "mail"]):
        sharded.failures.save(
            FailureRecord(
                failed_at="2026/12/02 05:00:00 UTC",
                payload={"class": "noop", "args": [i]},
                exception="RuntimeError",
                error=f"e{i}",
                backtrace=[],
                worker="w:1:q",
                queue=queue,
            )
        )
    everything = sharded.failures.all(0, -1)
    assert sorted(r.error for r in everything) == [f"e{i}" for i in range(7)]
    assert [r.error for r in sharded.failures.all(2, -1)] == [r.error for r in everything[2:]]
    assert [r.error for r in sharded.failures.all(1, 3)] == [r.error for r in everything[1:4]]
    assert sharded.failures.all(7, -1) == []
