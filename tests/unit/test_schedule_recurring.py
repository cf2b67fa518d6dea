"""Recurring ticks on fakeredis: exactly once, missed-tick rules, dynamic schedules."""

from __future__ import annotations

import json
import logging
import re

import pytest

from pyresque import ConfigurationError, Resque
from pyresque.core.scheduling.recurring import Recurring
from pyresque.core.scheduling.schedule import Schedule

EVERY_10 = Schedule("ten", "Foo::Bar", queue="q", args=(1,), every=10)


def _queued(app: Resque, queue: str = "q") -> list[dict[str, object]]:
    return [json.loads(raw) for raw in app.backend.broker.peek(queue, 0, -1)]


def test_each_tick_is_enqueued_once_by_two_schedulers(fake_app: Resque) -> None:
    """Two Recurring instances on one Redis, polled repeatedly: one job per tick."""
    a, b = Recurring(fake_app, [EVERY_10]), Recurring(fake_app, [EVERY_10])
    for now in (1000.0, 1000.5, 1003.0, 1009.9, 1010.0, 1010.2, 1015.0, 1020.1):
        a.enqueue_due(now)
        b.enqueue_due(now)
    assert len(_queued(fake_app)) == 3  # ticks 1000, 1010, 1020
    assert fake_app.backend.delayed.last_ticks() == {"ten": 1020}


def test_enqueued_tick_is_a_normal_payload_and_records_last_enqueued_at(fake_app: Resque) -> None:
    """The job is {"class","args","id","queue_time"}; last_enqueued_at holds Ruby's Time#to_s."""
    Recurring(fake_app, [EVERY_10]).enqueue_due(1000.0)
    (payload,) = _queued(fake_app)
    assert list(payload) == ["class", "args", "id", "queue_time"]
    assert (payload["class"], payload["args"]) == ("Foo::Bar", [1])
    assert fake_app.queues() == ["q"]
    stamp = fake_app.backend.client.hget("resque:delayed:last_enqueued_at", "ten")
    assert stamp is not None
    assert re.fullmatch(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", stamp)


def test_skip_rule_enqueues_only_the_latest_missed_tick(fake_app: Resque) -> None:
    """After a gap, 'skip' enqueues the most recent tick only."""
    rec = Recurring(fake_app, [EVERY_10], missed="skip")
    rec.enqueue_due(1000.0)
    rec.enqueue_due(1055.0)
    assert fake_app.backend.delayed.last_ticks() == {"ten": 1050}
    assert len(_queued(fake_app)) == 2


def test_skip_rule_drops_a_tick_later_than_grace(fake_app: Resque, caplog: pytest.LogCaptureFixture) -> None:
    """A tick more than `grace` seconds late is skipped and logged, not enqueued."""
    rec = Recurring(fake_app, [Schedule("h", "A", queue="q", every=3600)], grace=60)
    with caplog.at_level(logging.INFO, logger="pyresque.scheduler"):
        assert rec.enqueue_due(3600 * 5 + 61) == 0
    assert "first run" in caplog.text  # never ran before: INFO, nothing was missed
    assert fake_app.size("q") == 0
    assert rec.enqueue_due(3600 * 6 + 1) == 1
    on_time = Recurring(fake_app, [Schedule("g", "A", queue="q", every=3600)], grace=60)
    assert on_time.enqueue_due(3600 * 5 + 60) == 1  # exactly `grace` late still runs


def test_catch_up_rule_enqueues_every_missed_tick_oldest_first(fake_app: Resque) -> None:
    """'catch_up' enqueues each tick after the last recorded one."""
    rec = Recurring(fake_app, [Schedule("t", "A", queue="q", every=10, args=())], missed="catch_up")
    rec.enqueue_due(1000.0)
    assert rec.enqueue_due(1055.0) == 5
    assert fake_app.backend.delayed.last_ticks() == {"t": 1050}
    assert len(_queued(fake_app)) == 6


def test_catch_up_is_capped_at_max_catch_up(fake_app: Resque) -> None:
    """A long outage enqueues at most max_catch_up ticks per schedule."""
    rec = Recurring(fake_app, [Schedule("t", "A", queue="q", every=1)], missed="catch_up", max_catch_up=7)
    rec.enqueue_due(1000.0)
    assert rec.enqueue_due(5000.0) == 7


def test_a_new_schedule_starts_with_its_latest_tick_only(fake_app: Resque) -> None:
    """No recorded tick: even 'catch_up' starts at the latest tick (no backfill from the epoch)."""
    rec = Recurring(fake_app, [EVERY_10], missed="catch_up")
    assert rec.enqueue_due(1005.0) == 1
    assert fake_app.backend.delayed.last_ticks() == {"ten": 1000}


def test_schedule_queue_falls_back_to_class_attribute_then_default(fake_app: Resque) -> None:
    """No queue in the config: the job class's `queue`, else the default queue, else an error."""

    class Mailer:
        queue = "mail"

        def perform(self) -> None: ...

    fake_app.job(Mailer, name="Mailer")
    Recurring(fake_app, [Schedule("m", "Mailer", every=10)]).enqueue_due(1000.0)
    assert fake_app.size("mail") == 1
    Recurring(fake_app, [Schedule("d", "Other", every=10)], default_queue="dflt").enqueue_due(1000.0)
    assert fake_app.size("dflt") == 1
    with pytest.raises(ConfigurationError, match="no queue"):
        Recurring(fake_app, [Schedule("x", "Other", every=10)])


def test_duplicate_static_names_are_refused(fake_app: Resque) -> None:
    """Two static schedules with one name: ConfigurationError."""
    with pytest.raises(ConfigurationError, match="two schedules"):
        Recurring(fake_app, [EVERY_10, EVERY_10])


def test_dynamic_schedule_is_stored_in_resque_scheduler_format_and_picked_up(fake_app: Resque) -> None:
    """set_schedule writes persistent_schedules + schedules_changed; reload runs it; remove stops it."""
    fake_app.set_schedule("dyn", {"class": "Foo::Bar", "every": "1m", "args": [1], "queue": "q"})
    client = fake_app.backend.client
    stored = json.loads(client.hget("resque:persistent_schedules", "dyn") or b"null")
    assert stored == {"class": "Foo::Bar", "every": "1m", "args": [1], "queue": "q", "persist": True}
    assert client.smembers("resque:schedules_changed") == {b"dyn"}
    rec = Recurring(fake_app)
    rec.reload()
    assert client.exists("resque:schedules_changed") == 0
    assert list(rec.schedules) == ["dyn"]
    assert rec.enqueue_due(600.0) == 1
    assert fake_app.remove_schedule("dyn") is True
    rec.reload()
    assert rec.schedules == {}
    assert fake_app.remove_schedule("dyn") is False


def test_dynamic_schedule_overrides_a_static_one_of_the_same_name(fake_app: Resque) -> None:
    """A stored schedule named like a file schedule wins."""
    fake_app.set_schedule("ten", {"class": "Other", "every": "20s", "queue": "q"})
    rec = Recurring(fake_app, [EVERY_10])
    rec.reload()
    assert rec.schedules["ten"].class_name == "Other"


def test_invalid_stored_schedule_is_logged_and_skipped(
    fake_app: Resque, caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage in persistent_schedules does not stop the other schedules."""
    client = fake_app.backend.client
    client.hset("resque:persistent_schedules", "bad", b'{"class":"A","every":"soon"}')
    client.hset("resque:persistent_schedules", "junk", b"not json")
    fake_app.set_schedule("good", {"class": "A", "every": "10s", "queue": "q"})
    rec = Recurring(fake_app)
    with caplog.at_level(logging.ERROR, logger="pyresque.scheduler"):
        rec.reload()
    assert list(rec.schedules) == ["good"]
    assert "'bad'" in caplog.text and "'junk'" in caplog.text
    errors = fake_app.dynamic_schedules()
    assert isinstance(errors["bad"], ConfigurationError)
    assert isinstance(errors["good"], Schedule)


def test_set_schedule_refuses_an_invalid_config_and_writes_nothing(fake_app: Resque) -> None:
    """A bad config raises before anything reaches Redis."""
    with pytest.raises(ConfigurationError):
        fake_app.set_schedule("x", {"class": "A"})
    assert fake_app.backend.client.keys("*") == []


def test_next_tick_is_the_soonest_of_all_schedules(fake_app: Resque) -> None:
    """The scheduler sleeps until the soonest tick."""
    rec = Recurring(fake_app, [EVERY_10, Schedule("three", "A", queue="q", every=3)])
    assert rec.next_tick(1000.5) == 1002


def test_a_tick_ruby_enqueued_is_not_repeated_after_a_leader_change(fake_app: Resque) -> None:
    """Ruby wrote last_enqueued_at inside tick 1000's second: pyresque skips 1000, takes 1010."""
    client = fake_app.backend.client
    client.hset("resque:delayed:last_enqueued_at", "ten", "1970-01-01 00:16:40 +0000")  # 1000
    rec = Recurring(fake_app, [EVERY_10])
    assert rec.enqueue_due(1003.0) == 0
    assert rec.enqueue_due(1010.5) == 1
    client.hset("resque:delayed:last_enqueued_at", "ten", "not a time")
    assert rec.enqueue_due(1011.0) == 0  # our own schedule_ticks still guards


def test_last_enqueued_at_records_the_tick_not_the_clock(fake_app: Resque) -> None:
    """Ticks enqueued late record their own time, so the following tick still runs."""
    client = fake_app.backend.client
    client.hset("resque:schedule_ticks", "s", 999)
    rec = Recurring(fake_app, [Schedule("s", "A", queue="q", every=1)], missed="catch_up")
    assert rec.enqueue_due(1001.9) == 2  # 1000 and 1001, late
    assert client.hget("resque:delayed:last_enqueued_at", "s") == b"1970-01-01 00:16:41 +0000"
    assert rec.enqueue_due(1002.1) == 1
