"""The app's delayed-job API on fakeredis: times, errors, reading back, hooks."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest

from pyresque import EncodeError, InvalidQueueName, Job, JobNotRegistered, Resque, hookimpl

ITEM = b'{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}'


def _future(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


def test_enqueue_at_with_unix_timestamp_writes_the_item_under_that_second(fake_app: Resque) -> None:
    """A float timestamp is floored to the second, as Ruby's Time#to_i."""
    at = _future()
    job_id = fake_app.enqueue_at(at + 0.9, "high", "Foo::Bar", 1, "a/b")
    assert fake_app.delayed_timestamps() == [at]
    # the full form (the default) puts the id last; the Ruby form writes ITEM exactly
    assert fake_app.backend.delayed.items_at(at) == [ITEM[:-1] + b',"id":"%s"}' % job_id.encode()]


def test_enqueue_at_treats_a_naive_datetime_as_utc(fake_app: Resque) -> None:
    """A naive datetime is UTC, not local time."""
    at = _future()
    naive = dt.datetime.fromtimestamp(at, dt.timezone.utc).replace(tzinfo=None)
    fake_app.enqueue_at(naive, "high", "Foo::Bar", 1, "a/b")
    assert fake_app.delayed_timestamps() == [at]


def test_enqueue_at_converts_an_aware_datetime_from_its_zone(fake_app: Resque) -> None:
    """An aware datetime in +02:00 lands on the same epoch second."""
    at = _future()
    aware = dt.datetime.fromtimestamp(at, dt.timezone(dt.timedelta(hours=2)))
    fake_app.enqueue_at(aware, "high", "Foo::Bar", 1, "a/b")
    assert fake_app.delayed_timestamps() == [at]


def test_enqueue_in_accepts_seconds_and_timedelta(fake_app: Resque) -> None:
    """enqueue_in(60) and enqueue_in(timedelta(minutes=2)) land about then."""
    before = int(time.time())
    fake_app.enqueue_in(60, "q", "Foo::Bar")
    fake_app.enqueue_in(dt.timedelta(minutes=2), "q", "Foo::Bar", 2)
    stamps = fake_app.delayed_timestamps()
    assert len(stamps) == 2
    assert before + 60 <= stamps[0] <= before + 62
    assert before + 120 <= stamps[1] <= before + 122


def test_a_time_in_the_past_enqueues_at_once(fake_app: Resque) -> None:
    """enqueue_at(past) and enqueue_in(-5) push to the queue, nothing is delayed."""
    fake_app.enqueue_at(time.time() - 10, "now", "Foo::Bar", 1)
    fake_app.enqueue_in(-5, "now", "Foo::Bar", 2)
    assert fake_app.delayed_count() == 0
    assert [j.args for j in fake_app.peek("now", 0, 10)] == [(1,), (2,)]


@pytest.mark.parametrize("bad", [True, "tomorrow", None, float("nan"), float("inf")])
def test_enqueue_at_refuses_a_time_that_is_not_a_time(fake_app: Resque, bad: Any) -> None:
    """Bools, strings, None, NaN and infinity raise; nothing is written."""
    with pytest.raises((TypeError, ValueError)):
        fake_app.enqueue_at(bad, "q", "Foo::Bar")
    assert fake_app.backend.client.dbsize() == 0


def test_enqueue_at_refuses_bad_queue_bad_args_and_unregistered_jobs(fake_app: Resque) -> None:
    """Bad queue, non-JSON args, unregistered callables: clear errors, nothing written."""
    with pytest.raises(InvalidQueueName):
        fake_app.enqueue_at(_future(), "a,b", "Foo::Bar")
    with pytest.raises(EncodeError):
        fake_app.enqueue_at(_future(), "q", "Foo::Bar", {1, 2})
    with pytest.raises(JobNotRegistered):
        fake_app.enqueue_at(_future(), "q", lambda: None)
    assert fake_app.backend.client.dbsize() == 0


def test_remove_delayed_removes_every_copy_and_tidies_the_keys(fake_app: Resque) -> None:
    """Two timestamps, three copies: remove_delayed returns 3 and leaves no key behind."""
    a, b = _future(100), _future(200)
    fake_app.enqueue_at(a, "high", "Foo::Bar", 1, "a/b")
    fake_app.enqueue_at(a, "high", "Foo::Bar", 1, "a/b")
    fake_app.enqueue_at(b, "high", "Foo::Bar", 1, "a/b")
    fake_app.enqueue_at(b, "high", "Foo::Bar", 2)
    assert fake_app.scheduled_at("high", "Foo::Bar", 1, "a/b") == [a, b]
    assert fake_app.remove_delayed("high", "Foo::Bar", 1, "a/b") == 3
    assert fake_app.scheduled_at("high", "Foo::Bar", 1, "a/b") == []
    assert fake_app.delayed_timestamps() == [b]
    assert fake_app.delayed_count() == 1


def test_remove_delayed_of_an_unknown_job_removes_nothing(fake_app: Resque) -> None:
    """No such item: 0, and other items stay."""
    fake_app.enqueue_at(_future(), "high", "Foo::Bar", 1)
    assert fake_app.remove_delayed("high", "Foo::Bar", 2) == 0
    assert fake_app.delayed_count() == 1


def test_delayed_peek_walks_items_in_due_order(fake_app: Resque) -> None:
    """Peek returns (timestamp, job) soonest first, across timestamps, and leaves them."""
    a, b = _future(100), _future(200)
    fake_app.enqueue_at(b, "q", "Foo::Bar", 3)
    fake_app.enqueue_at(a, "q", "Foo::Bar", 1)
    fake_app.enqueue_at(a, "q", "Foo::Bar", 2)
    peeked = fake_app.delayed_peek(0, 10)
    assert [(d.timestamp, d.job.args if d.job else None) for d in peeked] == [(a, (1,)), (a, (2,)), (b, (3,))]
    assert [d.job.args for d in fake_app.delayed_peek(1, 1) if d.job] == [(2,)]
    assert fake_app.delayed_size_at(a) == 2
    assert [d.raw[:43] for d in fake_app.delayed_at(b)] == [b'{"class":"Foo::Bar","args":[3],"queue":"q",']
    assert fake_app.delayed_count() == 3


def test_clear_delayed_drops_items_and_reverse_index(fake_app: Resque) -> None:
    """clear_delayed returns the count and leaves no scheduler key."""
    fake_app.enqueue_at(_future(100), "q", "Foo::Bar", 1)
    fake_app.enqueue_at(_future(200), "q", "Foo::Bar", 2)
    assert fake_app.clear_delayed() == 2
    assert fake_app.backend.client.keys("*") == []


def test_after_schedule_hook_receives_the_timestamp_and_job(fake_app: Resque) -> None:
    """after_schedule fires once per delayed write with (timestamp, Job)."""
    seen: list[tuple[int, Job]] = []

    class Plugin:
        @hookimpl
        def pyresque_after_schedule(self, app: Resque, timestamp: int, job: Job) -> None:
            seen.append((timestamp, job))

    fake_app.plugins.register(Plugin())
    at = _future()
    fake_app.enqueue_at(at, "high", "Foo::Bar", 1, "a/b")
    fake_app.enqueue_at(time.time() - 5, "high", "Foo::Bar", 9)  # immediate: not a schedule
    assert [(t, j.queue, j.class_name, j.args) for t, j in seen] == [(at, "high", "Foo::Bar", (1, "a/b"))]


def test_registered_job_is_scheduled_under_its_registered_name(fake_app: Resque) -> None:
    """A registered class is written under its Resque name."""
    from tests.jobs import Add

    fake_app.enqueue_at(_future(), "math", Add, 1, 2, payload_form="ruby")
    (item,) = fake_app.delayed_peek()
    assert item.raw == b'{"class":"Add","args":[1,2],"queue":"math"}'
