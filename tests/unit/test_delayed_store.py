"""The DelayedStore contract, run on fakeredis and on a real redis-server."""

from __future__ import annotations

from pyresque.backends.redis import RedisBackend
from pyresque.core.delayed_item import DelayedMove
from pyresque.core.failure import FailureRecord

A = b'{"class":"A","args":[1],"queue":"qa"}'
B = b'{"class":"B","args":[2],"queue":"qb"}'


def _failure() -> FailureRecord:
    return FailureRecord("2026/01/01 00:00:00 UTC", {"class": "X", "args": []}, "E", "m", [], "w", "")


def test_schedule_and_read_back(backend: RedisBackend) -> None:
    """schedule -> timestamps, items_at (ranges), size_at, count, scheduled_at, due_timestamps."""
    d = backend.delayed
    d.schedule(200, A)
    d.schedule(100, B)
    d.schedule(100, A)
    assert d.timestamps() == [100, 200] and d.timestamps(1, 1) == [200] and d.timestamps(0, 0) == []
    assert d.items_at(100) == [B, A] and d.items_at(100, 1, 1) == [A] and d.items_at(100, 0, 0) == []
    assert (d.size_at(100), d.size_at(300), d.count()) == (2, 0, 3)
    assert d.scheduled_at(A) == [100, 200] and d.scheduled_at(b"nope") == []
    assert d.due_timestamps(150, 10) == [100] and d.due_timestamps(99) == []
    assert d.due_timestamps(1000, 1) == [100]


def test_remove_and_clear(backend: RedisBackend) -> None:
    """remove drops every copy and tidies; clear drops all and returns the count."""
    d = backend.delayed
    d.schedule(100, A)
    d.schedule(200, A)
    d.schedule(200, B)
    assert d.remove(A) == 2 and d.remove(A) == 0
    assert d.timestamps() == [200]
    assert d.clear() == 1
    assert backend.client.keys("*") == []


def test_promote_moves_each_item_once_and_reports_it(backend: RedisBackend) -> None:
    """promote: flags per move, queue and failure destinations, reverse index and ZSET tidied."""
    d = backend.delayed
    d.schedule(100, A)
    d.schedule(100, B)
    moves = [DelayedMove(A, queue="qa", position=0), DelayedMove(B, failure=_failure(), position=1)]
    assert d.promote(100, moves) == [True, True]
    assert d.promote(100, moves) == [False, False]
    assert backend.broker.peek("qa", 0, -1) == [A]
    assert backend.broker.queues() == ["qa"]
    assert backend.failures.count() == 1
    assert d.timestamps() == [] and d.scheduled_at(A) == [] and d.scheduled_at(B) == []


def test_promote_with_payload_pushes_the_payload(backend: RedisBackend) -> None:
    """A move with a payload pushes that payload in place of the item."""
    backend.delayed.schedule(100, A)
    assert backend.delayed.promote(100, [DelayedMove(A, queue="qa", payload=b'{"class":"A","args":[]}')]) == [
        True
    ]
    assert backend.broker.peek("qa") == [b'{"class":"A","args":[]}']


def test_promote_searches_no_further_than_the_read_position(backend: RedisBackend) -> None:
    """An item now beyond its read position is left for the next read (never lost)."""
    d = backend.delayed
    for item in (B, B, A):
        d.schedule(100, item)
    assert d.promote(100, [DelayedMove(A, queue="qa", position=0)]) == [False]
    assert d.items_at(100) == [B, B, A]
    assert d.promote(100, [DelayedMove(A, queue="qa", position=2)]) == [True]
    assert d.items_at(100) == [B, B]


def test_tidy_drops_only_empty_timestamps(backend: RedisBackend) -> None:
    """tidy removes a timestamp whose list is empty, and only then."""
    d = backend.delayed
    d.schedule(100, A)
    assert d.tidy(100) is False
    backend.client.delete("resque:delayed:100")
    assert d.tidy(100) is True and d.timestamps() == []


def test_leader_lock_codes_ttl_and_release(backend: RedisBackend) -> None:
    """acquire: 2 fresh, 1 refreshed, 0 held by another; release only our own."""
    d = backend.delayed
    assert d.leader(lock_prefix="") == (None, -2)
    assert d.leader_acquire("me:1", 30) == 2
    assert d.leader_acquire("me:1", 30) == 1
    assert d.leader_acquire("you:2", 30) == 0
    holder, ttl = d.leader()
    assert holder == "me:1" and 0 < ttl <= 30
    assert d.leader_release("you:2") is False
    assert d.leader_release("me:1") is True
    assert d.leader() == (None, -2)


def test_enqueue_tick_is_monotonic_per_schedule(backend: RedisBackend) -> None:
    """A tick is pushed once; an older or equal tick is refused; schedules are independent."""
    d = backend.delayed
    assert d.enqueue_tick("s", 100, "q", b"p100", "t") is True
    assert d.enqueue_tick("s", 100, "q", b"again", "t") is False
    assert d.enqueue_tick("s", 90, "q", b"older", "t") is False
    assert d.enqueue_tick("other", 90, "q", b"o90", "t") is True
    assert d.enqueue_tick("s", 110, "q", b"p110", "t") is True
    assert backend.broker.peek("q", 0, -1) == [b"p100", b"o90", b"p110"]
    assert d.last_ticks() == {"s": 110, "other": 90}


def test_schedule_configs_and_change_flags(backend: RedisBackend) -> None:
    """set/remove flag names as changed; take_schedules_changed empties the flags."""
    d = backend.delayed
    d.set_schedule_config("a", b"{}")
    d.set_schedule_config("b", b"{}")
    assert d.schedule_configs() == {"a": b"{}", "b": b"{}"}
    assert d.remove_schedule_config("a") is True and d.remove_schedule_config("a") is False
    assert d.take_schedules_changed() == ["a", "b"]
    assert d.take_schedules_changed() == []
