"""Idempotent enqueue against a real redis-server whose replies get lost after the script ran.

Two ways to lose a reply: a connection class that reads the script's reply and then
drops the connection and raises (exact and deterministic), and the fault-injecting TCP
proxy of ``tests/faults.py`` (``FaultProxy(drop_reply_rate=...)``), which swallows reply
bytes on the wire. Either way the server ran the push; the caller only sees a
connection error. With an idempotency key and ``retries`` each job must be queued
exactly once and every call must return its job's id.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import pytest
import redis

from pyresque import BackendConnectionError, EnqueueRequest, Resque
from pyresque.backends.redis import RedisBackend
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis

CALLS = 500
LOSS = 0.10


class LostReplyConnection(redis.Connection):
    """Sends each request; for a request holding ``needle`` (a script by default, alone or
    in a pipeline), with probability ``rate`` and at most ``budget`` times, reads the first
    reply, then drops the connection and raises ConnectionError as if the reply never
    arrived (the server ran it all)."""

    rng = random.Random(0)
    rate = 0.0
    lost = 0
    budget = 1_000_000
    needle = b"EVAL"
    _lose_next = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        data = command if isinstance(command, bytes) else b"".join(bytes(c) for c in command)
        cls = type(self)
        self._lose_next = cls.needle in data and cls.lost < cls.budget and cls.rng.random() < cls.rate
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        reply = super().read_response(*args, **kwargs)
        if self._lose_next:
            self._lose_next = False
            type(self).lost += 1
            self.disconnect()  # type: ignore[no-untyped-call]
            raise redis.ConnectionError("reply lost (test)")
        return reply


def _lossy_app(
    url: str, rate: float, seed: int, *, ready_client: bool = False, **attrs: Any
) -> tuple[Resque, type[LostReplyConnection]]:
    """An app whose connections lose replies. Its client is built as ``RedisBackend.from_url``
    builds one, or (``ready_client``) as a user's ``redis.Redis(host=..., port=...)``, which
    redis-py gives a retry policy of its own (10 retries in redis-py 8)."""
    attrs = {"rng": random.Random(seed), "rate": rate, "lost": 0, **attrs}
    conn_class = type("Lossy", (LostReplyConnection,), attrs)
    if ready_client:
        parsed = urlparse(url)
        client = redis.Redis(host=parsed.hostname or "", port=parsed.port or 6379)
        client.connection_pool.connection_class = conn_class  # before any connection exists
    else:
        client = redis.Redis.from_url(url, connection_class=conn_class)
    return Resque(RedisBackend(client)), conn_class


def _queued_ids(url: str, queue: str = "q") -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(raw)["id"] for raw in client.lrange(f"resque:queue:{queue}", 0, -1)]
    finally:
        client.close()


def test_a_lost_reply_raises_without_a_key_and_is_retried_safely_with_one(redis_url: str) -> None:
    """One script reply lost: a plain enqueue raises although its job is queued (a blind
    retry would duplicate it); the same call with a key and ``retries`` returns the id
    of the one job it queued."""
    app, lossy = _lossy_app(redis_url, rate=1.0, seed=1, budget=1)
    with pytest.raises(BackendConnectionError):
        app.enqueue("q", "Add", 1, 2)
    assert lossy.lost == 1 and len(_queued_ids(redis_url)) == 1
    lossy.budget = 2
    job_id = app.enqueue("k", "Add", 1, 2, idempotency_key="k", retries=1)
    assert lossy.lost == 2
    assert _queued_ids(redis_url, "k") == [job_id]
    app.close()


def test_a_lost_pipeline_reply_is_not_resent_blindly(redis_url: str) -> None:
    """A plain ``enqueue_many`` whose reply is lost raises and is not sent again behind
    the caller's back, whatever the client: redis-py's pipeline retry (a user's
    ``redis.Redis(host=...)`` has one) would queue every job twice."""
    for ready_client in (False, True):
        with redis.Redis.from_url(redis_url) as admin:
            admin.flushall()
        app, lossy = _lossy_app(
            redis_url, rate=1.0, seed=2, ready_client=ready_client, needle=b"RPUSH", budget=1
        )
        with pytest.raises(BackendConnectionError):
            app.enqueue_many([("q", "Add", (i, i)) for i in range(10)])
        assert lossy.lost == 1
        assert len(_queued_ids(redis_url)) == 10, f"ready_client={ready_client}"
        app.enqueue_many([("q", "Add", (i, i)) for i in range(10)])  # the connection is usable again
        assert len(_queued_ids(redis_url)) == 20
        app.close()


def test_retries_with_keys_queue_each_job_exactly_once(redis_url: str) -> None:
    """500 calls, 10 % of script replies lost after the script ran: no call raises, each
    job is queued once, and each call returned the id of its queued job."""
    app, lossy = _lossy_app(redis_url, rate=LOSS, seed=9)
    returned = [app.enqueue("q", "Add", i, i, idempotency_key=f"call-{i}", retries=8) for i in range(CALLS)]
    assert lossy.lost >= CALLS * LOSS / 2  # the fault really happened, ~50 times
    queued = _queued_ids(redis_url)
    assert len(queued) == CALLS
    assert queued == returned
    app.close()


def test_repeated_calls_with_one_key_queue_one_job(redis_url: str) -> None:
    """The same key sent by 200 calls (each retrying through lost replies): one job, one id."""
    app, lossy = _lossy_app(redis_url, rate=LOSS, seed=4)
    returned = {app.enqueue("q", "Add", 1, 2, idempotency_key="once", retries=8) for _ in range(200)}
    assert lossy.lost > 0
    assert len(returned) == 1
    assert _queued_ids(redis_url) == list(returned)
    app.close()


def test_enqueue_many_with_keys_retries_lost_replies_safely(redis_url: str) -> None:
    """Batches of guarded requests resent after lost replies: each job queued once."""
    app, lossy = _lossy_app(redis_url, rate=0.3, seed=5)
    returned: list[str] = []
    for batch in range(20):
        requests = [
            EnqueueRequest("q", "Add", (batch, i), idempotency_key=f"b{batch}-{i}") for i in range(25)
        ]
        returned += app.enqueue_many(requests, retries=10)
    assert lossy.lost > 0
    assert _queued_ids(redis_url) == returned
    assert len(set(returned)) == 500
    app.close()


def test_through_the_fault_proxy_each_job_is_queued_once(redis_server: RedisServer, redis_url: str) -> None:
    """The same audit with replies swallowed on the wire by ``FaultProxy`` (10 %)."""
    faults = pytest.importorskip("tests.faults", reason="tests/faults.py (the fault proxy) is not there")
    with faults.FaultProxy(redis_server.port, seed=11, drop_reply_rate=LOSS) as proxy:
        app = Resque(proxy.url)
        returned = [app.enqueue("q", "Add", i, i, idempotency_key=f"p{i}", retries=12) for i in range(CALLS)]
        dropped = proxy.counters().replies_dropped
        app.close()
    assert dropped >= CALLS * LOSS / 2
    queued = _queued_ids(redis_url)
    assert Counter(queued).most_common(1)[0][1] == 1
    assert queued == returned
