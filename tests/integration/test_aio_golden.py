"""Golden tests: the same calls through the sync and the async client leave the same
Redis contents, key by key and byte for byte (ids, clocks and call tokens pinned), on
a real redis-server; and each async enqueue is one round trip."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import redis.asyncio

from pyresque import AsyncResque, EnqueueRequest, Resque
from pyresque.backends.redis.aio import AsyncRedisBackend
from pyresque.core import delayed_plan, enqueueing, job, timefmt
from pyresque.core.failure import FailureRecord
from tests import jobs

pytestmark = pytest.mark.redis

NOW = 1_800_000_000.25

#: (method, args, kwargs): every write of the client API, each run through both clients
STEPS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("enqueue", ("default", jobs.Add, 1, 2), {}),
    ("enqueue", ("default", jobs.Echo, "é/x", 1.5, 1e20, None, {"k": [1, 2]}), {}),
    ("enqueue", ("high", "Ruby::Job", "a"), {"track_status": True}),
    ("enqueue", ("high", jobs.Add, 3, 4), {"job_id": "chosen-1"}),
    ("enqueue", ("high", jobs.Add, 3, 4), {"job_id": "chosen-1", "retries": 2}),  # a repeat: no-op
    ("enqueue", ("low", jobs.Add, 5, 6), {"idempotency_key": "key-1", "track_status": True}),
    ("enqueue", ("default", jobs.Echo, [1, 2]), {"payload_form": "ruby"}),
    (
        "enqueue_many",
        (
            [
                ("default", jobs.Add, (7, 8)),
                ("default", jobs.Add, (9, 10)),
                EnqueueRequest("other", jobs.Echo, ("t",), track_status=True),
                EnqueueRequest("default", jobs.Echo, ("g",), idempotency_key="many-1"),
                ("default", jobs.Add, (11, 12)),
            ],
        ),
        {},
    ),
    ("enqueue_at", (NOW + 3600, "later", jobs.Add, 1, 2), {}),
    ("enqueue_in", (7200, "later", jobs.Echo, "x"), {}),
    ("enqueue_at", (NOW - 10, "default", jobs.Echo, "past"), {}),  # due: enqueued at once
    ("enqueue_at", (NOW + 60, "later", jobs.Add, 3, 3), {"track_status": True}),
    ("enqueue_at", (NOW + 60, "later", jobs.Add, 4, 4), {"payload_form": "ruby"}),
    ("enqueue_in", (120, "later", jobs.Add, 5, 5), {}),
    ("remove_delayed_by_id", (f"{17:032x}",), {}),  # the enqueue_in just above (ids are pinned)
    ("dequeue", ("default", jobs.Add, 9, 10), {}),
    ("remove_delayed", ("later", jobs.Echo, "x"), {}),
    ("remove_queue", ("low",), {}),
]


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Pins job ids, call tokens and clocks; the returned function restarts the counters."""
    counters: dict[str, Iterator[int]] = {}

    def restart() -> None:
        counters["id"] = itertools.count(1)
        counters["token"] = itertools.count(1)

    restart()
    new_id = lambda: f"{next(counters['id']):032x}"  # noqa: E731
    monkeypatch.setattr(job, "new_job_id", new_id)
    monkeypatch.setattr(delayed_plan, "new_job_id", new_id)
    monkeypatch.setattr(enqueueing, "call_token", lambda: f"{next(counters['token']):016x}")
    monkeypatch.setattr(time, "time", lambda: NOW)
    monkeypatch.setattr(timefmt, "ruby_failed_at", lambda when=None: "2027/01/15 08:00:00 UTC")
    return restart


def dump(client: redis.Redis) -> dict[bytes, tuple[bytes, Any, bool]]:
    """Every key: (type, value, whether it expires)."""
    out: dict[bytes, tuple[bytes, Any, bool]] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        value: Any
        if kind == b"string":
            value = client.get(key)
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        elif kind == b"set":
            value = sorted(client.smembers(key))
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"hash":
            value = sorted(client.hgetall(key).items())
        else:
            raise AssertionError(f"unexpected type {kind!r} of {key!r}")
        out[key] = (kind, value, client.ttl(key) != -1)
    return out


def seed_failure(app: Resque) -> None:
    payload = {"class": "Add", "args": [1, 2], "id": "failed-1"}
    record = FailureRecord.from_exception(
        RuntimeError("boom"), payload=payload, queue="default", worker="w:1:q", when=NOW
    )
    app.backend.failures.save(record)


def run_sync(url: str, namespace: str, serializer: str) -> list[Any]:
    with Resque(url, namespace=namespace, serializer=serializer) as app:
        jobs.register_all(app)
        seed_failure(app)
        results = [getattr(app, name)(*args, **kwargs) for name, args, kwargs in STEPS]
        app.failures.requeue(0)
    return results


async def run_async(url: str, namespace: str, serializer: str) -> list[Any]:
    sync = Resque(url, namespace=namespace, serializer=serializer)
    seed_failure(sync)
    sync.close()
    async with AsyncResque(url, namespace=namespace, serializer=serializer) as app:
        jobs.register_all(app)  # type: ignore[arg-type]  # register_all only calls app.job
        results = [await getattr(app, name)(*args, **kwargs) for name, args, kwargs in STEPS]
        await app.failures.requeue(0)
    return results


@pytest.mark.asyncio
@pytest.mark.parametrize(("namespace", "serializer"), [("resque", "json"), ("myapp:jobs", "msgpack")])
async def test_both_clients_write_the_same_bytes(
    redis_url: str, pinned: Callable[[], None], namespace: str, serializer: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        sync_results = run_sync(redis_url, namespace, serializer)
        expected = dump(client)
        client.flushall()
        pinned()
        async_results = await run_async(redis_url, namespace, serializer)
        got = dump(client)
    finally:
        client.close()
    assert async_results == sync_results  # the same ids and counts returned
    assert dict(zip((name for name, _, _ in STEPS), sync_results, strict=False))["remove_delayed_by_id"] == 1
    assert sorted(got) == sorted(expected)
    for key in expected:
        assert got[key] == expected[key], key
    prefix = namespace.encode() + b":"
    assert {prefix + b"queue:default", prefix + b"delayed_queue_schedule", prefix + b"failed"} <= set(got)


def counting_backend(url: str) -> tuple[AsyncRedisBackend, list[int]]:
    """An async backend whose connections count the requests they send."""
    sent = [0]

    class Counting(redis.asyncio.Connection):
        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            sent[0] += 1
            await super().send_packed_command(command, check_health)

    pool = redis.asyncio.ConnectionPool.from_url(url, connection_class=Counting)
    return AsyncRedisBackend(redis.asyncio.Redis.from_pool(pool)), sent


@pytest.mark.asyncio
async def test_one_round_trip_per_enqueue_and_per_batch(redis_url: str) -> None:
    backend, sent = counting_backend(redis_url)
    threads = threading.active_count()
    async with AsyncResque(backend) as app:
        jobs.register_all(app)  # type: ignore[arg-type]
        await app.enqueue("q", jobs.Add, 0, 0)  # connects, loads the script
        await app.enqueue("q", jobs.Add, 0, 0, job_id="warm")
        for kwargs in ({}, {"track_status": True}, {"job_id": "j1"}, {"idempotency_key": "k1", "retries": 3}):
            before = sent[0]
            await app.enqueue("q", jobs.Add, 1, 2, **kwargs)
            assert sent[0] - before == 1, kwargs
        before = sent[0]
        ids = await app.enqueue_many([("q", jobs.Add, (i, i)) for i in range(1000)])
        assert sent[0] - before == 1 and len(ids) == 1000
        for kwargs in ({}, {"track_status": True}, {"payload_form": "ruby"}):
            before = sent[0]
            await app.enqueue_in(3600, "q", jobs.Add, 1, 2, **kwargs)
            assert sent[0] - before == 1, ("enqueue_in", kwargs)
        assert await app.size("q") == 1006
        assert threading.active_count() == threads  # redis.asyncio alone: no thread pool
