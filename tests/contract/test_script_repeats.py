"""Every script not on the worker's hot path, run twice with the same arguments (a lost
reply followed by a repeat): what the note next to each script says, it does."""

from __future__ import annotations

from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.scheduler_scripts import (
    LEADER_ACQUIRE,
    LEADER_RELEASE,
    PROMOTE,
    RECURRING_TICK,
    TIDY_TIMESTAMP,
)
from pyresque.backends.redis.scripts import LIST_REMOVE_IF, LIST_SET_IF, REQUEUE_FAILED


def test_promote_repeated_moves_each_item_once(backend: RedisBackend) -> None:
    r, k = backend.client, backend.keys
    item = b'{"class":"Add","args":[1],"queue":"q"}'
    r.rpush(k.delayed(100), item)
    r.zadd(k.delayed_schedule, {"100": 100})
    keys = [k.delayed(100), k.delayed_schedule, k.queues, k.queue("q"), k.timestamps(item.decode())]
    args = ["100", k.delayed_member(100), item, "q", "", 1]
    assert PROMOTE(r, keys, args) == [1]
    assert PROMOTE(r, keys, args) == [0]
    assert r.lrange(k.queue("q"), 0, -1) == [item]
    assert r.zcard(k.delayed_schedule) == 0
    assert TIDY_TIMESTAMP(r, [k.delayed(100), k.delayed_schedule], ["100"]) == 0


def test_leader_lock_repeated_refreshes_then_releases_once(backend: RedisBackend) -> None:
    r = backend.client
    assert LEADER_ACQUIRE(r, ["lock"], ["me:1", 30]) == 2
    assert LEADER_ACQUIRE(r, ["lock"], ["me:1", 30]) == 1
    assert LEADER_RELEASE(r, ["lock"], ["me:1"]) == 1
    assert LEADER_RELEASE(r, ["lock"], ["me:1"]) == 0


def test_recurring_tick_repeated_enqueues_once(backend: RedisBackend) -> None:
    r, k = backend.client, backend.keys
    keys = ["ticks", "last", k.queues, k.queue("q")]
    args = ["every_min", 1_800_000_000, "q", b'{"class":"Tick","args":[]}', "2027-01-15 08:00:00 +0000"]
    assert RECURRING_TICK(r, keys, args) == 1
    assert RECURRING_TICK(r, keys, args) == 0
    assert r.llen(k.queue("q")) == 1


def test_failure_list_scripts_repeated_act_once(backend: RedisBackend) -> None:
    r, k = backend.client, backend.keys
    r.rpush(k.failed, b"a", b"b", b"c")
    assert LIST_SET_IF(r, [k.failed], [0, b"a", b"A"]) == 1
    assert LIST_SET_IF(r, [k.failed], [0, b"a", b"A"]) == 0
    assert LIST_REMOVE_IF(r, [k.failed], [1, b"b", b"\x00gone"]) == 1
    assert LIST_REMOVE_IF(r, [k.failed], [1, b"b", b"\x00gone"]) == 0
    assert r.lrange(k.failed, 0, -1) == [b"A", b"c"]
    args = [1, b"c", b"c+retried_at", "q", b'{"class":"Add","args":[]}']
    assert REQUEUE_FAILED(r, [k.failed, k.queues, k.queue("q")], args) == 1
    assert REQUEUE_FAILED(r, [k.failed, k.queues, k.queue("q")], args) == 0
    assert r.llen(k.queue("q")) == 1

