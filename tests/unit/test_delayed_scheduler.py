"""The scheduler loop on fakeredis: leadership, reloads, sleeping, surviving errors."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from pyresque import Resque
from pyresque.core.scheduling.promotion import PromoteResult
from pyresque.core.scheduling.schedule import Schedule
from pyresque.core.scheduling.scheduler import Scheduler

LOCK = "resque:resque:resque_scheduler_master_lock"


def test_only_one_of_two_schedulers_leads(fake_app: Resque) -> None:
    """The second scheduler follows while the first holds the lock."""
    a = Scheduler(fake_app, interval=1, name="a:1")
    b = Scheduler(fake_app, interval=1, name="b:2")
    assert a.poll().leader and not b.poll().leader
    assert fake_app.backend.client.get(LOCK) == b"a:1"


def test_a_returning_leader_reloads_schedules_changed_while_it_followed(fake_app: Resque) -> None:
    """Leadership moves a -> b -> a; a change consumed by b is still seen by a."""
    client = fake_app.backend.client
    a = Scheduler(fake_app, interval=1, name="a:1")
    b = Scheduler(fake_app, interval=1, name="b:2")
    a.poll()
    client.delete(LOCK)
    assert b.poll().leader
    fake_app.set_schedule("late", {"class": "A", "every": "1m", "queue": "q"})
    b.poll()  # b takes the change flag
    assert client.exists("resque:schedules_changed") == 0
    client.delete(LOCK)
    assert a.poll().leader
    assert "late" in a.recurring.schedules


def test_run_stops_after_max_polls_and_releases_the_lock(fake_app: Resque) -> None:
    """run(max_polls=2) returns and deletes its own lock."""
    sched = Scheduler(fake_app, interval=0.01, name="a:1")
    sched.run(max_polls=2)
    assert fake_app.backend.client.exists(LOCK) == 0


def test_stop_from_another_thread_ends_run(fake_app: Resque) -> None:
    """stop() (what the signal handlers call) ends a running loop promptly."""
    sched = Scheduler(fake_app, interval=0.05)
    runner = threading.Thread(target=sched.run)
    runner.start()
    time.sleep(0.1)
    sched.stop()
    runner.join(5)
    assert not runner.is_alive()
    assert sched.stopping


def test_run_survives_a_failing_poll(
    fake_app: Resque, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected error in one poll is logged; the loop goes on."""
    sched = Scheduler(fake_app, interval=0.01)
    calls: list[int] = []

    def flaky(now: int, keep_going: object = None) -> PromoteResult:
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("transient")
        return PromoteResult()

    monkeypatch.setattr(sched.promoter, "promote_due", flaky)
    with caplog.at_level(logging.ERROR, logger="pyresque.scheduler"):
        sched.run(max_polls=2)
    assert len(calls) == 3  # the failing poll does not count
    assert "transient" in caplog.text


def test_sleep_ends_at_the_next_recurring_tick(fake_app: Resque) -> None:
    """With a tick due in 0.25 s and a 5 s interval, the scheduler sleeps about 0.25 s."""
    sched = Scheduler(fake_app, [Schedule("s", "A", queue="q", every=10)], interval=5, clock=lambda: 1009.75)
    assert 0.2 < sched._sleep_time() < 0.3


def test_without_the_lock_every_scheduler_works_and_writes_no_lock(fake_app: Resque) -> None:
    """use_lock=False: no lock key; due items are still moved once."""
    ts = int(time.time()) - 1
    fake_app.backend.delayed.schedule(ts, b'{"class":"A","args":[],"queue":"q"}')
    a = Scheduler(fake_app, interval=1, use_lock=False)
    b = Scheduler(fake_app, interval=1, use_lock=False)
    assert b.poll().leader and a.poll().leader
    assert fake_app.size("q") == 1
    assert fake_app.backend.client.exists(LOCK) == 0


def test_scheduler_refuses_bad_settings(fake_app: Resque) -> None:
    """interval <= 0, batch size 0, bad default queue, unknown missed rule: errors."""
    with pytest.raises(ValueError):
        Scheduler(fake_app, interval=0)
    with pytest.raises(ValueError):
        Scheduler(fake_app, batch_size=0)
    with pytest.raises(ValueError):
        Scheduler(fake_app, default_queue="a,b")
    with pytest.raises(ValueError):
        Scheduler(fake_app, missed="sometimes")  # type: ignore[arg-type]


def test_a_large_backlog_does_not_hold_back_recurring_ticks(fake_app: Resque) -> None:
    """Promotion stops after its time budget; the tick is enqueued in the same poll; no sleep follows."""
    client = fake_app.backend.client
    ts = int(time.time()) - 1
    pipe = client.pipeline(transaction=False)
    for i in range(20_000):
        pipe.rpush(f"resque:delayed:{ts}", b'{"class":"A","args":[%d],"queue":"q"}' % i)
    pipe.zadd("resque:delayed_queue_schedule", {str(ts): ts})
    pipe.execute()
    sched = Scheduler(fake_app, [Schedule("s", "T", queue="ticks", every=1)], interval=0.5, batch_size=1)
    started = time.monotonic()
    result = sched.poll()
    assert time.monotonic() - started < 5
    assert 0 < result.promoted.promoted < 20_000
    assert result.ticks == 1 and fake_app.size("ticks") == 1
    assert sched._sleep_time() == 0.0
