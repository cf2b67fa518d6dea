"""Ids for delayed jobs: enqueue_at returns one, the item carries it, removal by id,
status tracking while scheduled, and the WARNING when no scheduler leads (issue 11).

Each test runs on fakeredis and on the real redis-server (the ``app`` fixture).
"""

from __future__ import annotations

import logging
import time

import pytest

from pyresque import ConfigurationError, JobStatus, Resque
from pyresque.backends.redis import RedisBackend
from pyresque.core.scheduling.promotion import Promoter
from pyresque.testing import drain
from tests.roundtrips import counting_client

RUBY_ITEM = b'{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}'


def _at(seconds: int = 3600) -> int:
    return int(time.time()) + seconds


def test_enqueue_at_returns_the_id_its_item_carries_last(app: Resque) -> None:
    """The full form's item is resque-scheduler's bytes with "id" last; the id is returned."""
    at = _at()
    job_id = app.enqueue_at(at, "high", "Foo::Bar", 1, "a/b")
    assert len(job_id) == 32
    assert app.backend.delayed.items_at(at) == [RUBY_ITEM[:-1] + b',"id":"' + job_id.encode() + b'"}']
    (item,) = app.delayed_peek()
    assert item.job is not None and item.job.id == job_id and item.job.extra == {}


def test_enqueue_in_returns_the_id_too(app: Resque) -> None:
    """enqueue_in goes through enqueue_at and returns its id."""
    job_id = app.enqueue_in(600, "high", "Foo::Bar", 1)
    assert isinstance(job_id, str) and len(job_id) == 32
    assert [d.job.id for d in app.delayed_peek() if d.job] == [job_id]


def test_a_promoted_job_keeps_its_id(app: Resque) -> None:
    """The id reaches the queue (the item is pushed byte for byte) and the worker."""
    at = _at()
    job_id = app.enqueue_at(at, "q", "Foo::Bar", 2)
    Promoter(app).promote_due(at)
    (job,) = app.peek("q")
    assert job_id and job.id == job_id and list(job.args) == [2]


def test_the_ruby_form_stays_byte_exact_and_id_free(app: Resque) -> None:
    """payload_form='ruby' writes resque-scheduler's exact bytes, returns '' and refuses tracking."""
    at = _at()
    assert app.enqueue_at(at, "high", "Foo::Bar", 1, "a/b", payload_form="ruby") == ""
    assert app.backend.delayed.items_at(at) == [RUBY_ITEM]
    assert app.scheduled_at("high", "Foo::Bar", 1, "a/b") == [at]
    with pytest.raises(ConfigurationError, match="track_status"):
        app.enqueue_at(at, "high", "Foo::Bar", 1, track_status=True, payload_form="ruby")
    ruby_app = Resque(app.backend, payload_form="ruby")
    assert ruby_app.enqueue_in(600, "high", "Foo::Bar", 1, "a/b") == ""
    assert app.remove_delayed("high", "Foo::Bar", 1, "a/b") == 2


def test_track_status_is_waiting_with_scheduled_at_until_performed(app: Resque) -> None:
    """A tracked delayed job is WAITING (with its due time) until a worker ran it."""
    calls: list[int] = []

    @app.job(name="Rec")
    def rec(x: int) -> int:
        calls.append(x)
        return x * 2

    at = _at()
    job_id = app.enqueue_at(at, "q", rec, 21, track_status=True)
    info = app.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.WAITING
    assert info.scheduled_at is not None and int(info.scheduled_at.timestamp()) == at
    drain(app, now=at)
    final = app.tracked(job_id).get()
    assert calls == [21]
    assert final is not None and final.status is JobStatus.COMPLETE and final.result == 42
    assert final.scheduled_at is None


def test_a_due_time_enqueues_at_once_and_still_returns_the_id(app: Resque) -> None:
    """A time not in the future goes through enqueue: same id, tracked as asked."""
    job_id = app.enqueue_at(time.time() - 5, "q", "Foo::Bar", 1, track_status=True)
    (job,) = app.peek("q")
    assert job.id == job_id
    info = app.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.WAITING and info.scheduled_at is None


def test_remove_delayed_by_id_removes_that_item_its_status_and_index(app: Resque) -> None:
    """Only the item with that id goes (with its WAITING status); a repeat removes nothing."""
    at = _at()
    keep = app.enqueue_at(at, "high", "Foo::Bar", 1, "a/b")
    gone = app.enqueue_at(at, "high", "Foo::Bar", 1, "a/b", track_status=True)
    other = app.enqueue_at(at + 5, "high", "Foo::Bar", 9)
    assert app.remove_delayed_by_id(gone) == 1
    assert app.remove_delayed_by_id(gone) == 0  # a repeat (after a lost reply) is a no-op
    assert app.tracked(gone).get() is None
    assert [d.job.id for d in app.delayed_peek(0, 10) if d.job] == [keep, other]
    assert app.remove_delayed_by_id(other) == 1
    assert app.delayed_timestamps() == [at]  # the emptied timestamp is gone from the schedule
    assert app.remove_delayed_by_id(keep) == 1
    assert app.backend.client.keys("*") == []  # no index, no timestamps:<item>, no status


def test_remove_delayed_by_id_finds_the_item_when_the_index_is_gone(app: Resque) -> None:
    """Without its delayed_id:<id> key (expired, or another app wrote the item) a scan finds it."""
    at = _at()
    job_id = app.enqueue_at(at, "high", "Foo::Bar", 1, track_status=True)
    app.backend.client.delete(f"resque:delayed_id:{job_id}")
    assert app.remove_delayed_by_id(job_id) == 1
    assert app.delayed_count() == 0 and app.tracked(job_id).get() is None
    assert app.remove_delayed_by_id(job_id) == 0


def test_remove_delayed_by_id_leaves_a_promoted_job_alone(app: Resque) -> None:
    """Once moved to its queue the job is not delayed any more: 0, the queue keeps it."""
    at = _at()
    job_id = app.enqueue_at(at, "q", "Foo::Bar", 1, track_status=True)
    Promoter(app).promote_due(at)
    assert app.remove_delayed_by_id(job_id) == 0
    assert app.size("q") == 1
    info = app.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.WAITING


def test_remove_delayed_by_id_refuses_an_unusable_id(app: Resque) -> None:
    """An id that no job can have is one plain error, nothing is asked of Redis."""
    with pytest.raises(ConfigurationError, match="job_id"):
        app.remove_delayed_by_id('x"}')


def test_remove_delayed_and_scheduled_at_by_args_see_id_form_items(app: Resque) -> None:
    """By class and args: the Ruby-form bytes and every id-form item of that job, nothing else."""
    a, b = _at(100), _at(200)
    tracked = app.enqueue_at(a, "high", "Foo::Bar", 1, "a/b", track_status=True)
    app.enqueue_at(b, "high", "Foo::Bar", 1, "a/b", payload_form="ruby")
    app.enqueue_at(b, "high", "Foo::Bar", 1, "a/b", "more")
    app.enqueue_at(b, "low", "Foo::Bar", 1, "a/b")
    assert app.scheduled_at("high", "Foo::Bar", 1, "a/b") == [a, b]
    assert app.remove_delayed("high", "Foo::Bar", 1, "a/b") == 2
    assert app.tracked(tracked).get() is None
    assert sorted((d.job.queue, d.job.args) for d in app.delayed_peek(0, 10) if d.job) == [
        ("high", (1, "a/b", "more")),
        ("low", (1, "a/b")),
    ]


def test_clear_delayed_drops_the_id_index(app: Resque) -> None:
    """clear_delayed leaves no delayed_id:<id> key behind."""
    app.enqueue_at(_at(), "q", "Foo::Bar", 1)
    assert app.clear_delayed() == 1
    assert app.backend.client.keys("*") == []


def test_a_warning_when_no_scheduler_leads_at_most_once_a_minute(
    app: Resque, caplog: pytest.LogCaptureFixture
) -> None:
    """No leader lock: one WARNING naming how to start a scheduler, then quiet for a minute."""
    with caplog.at_level(logging.WARNING, logger="pyresque.delayed"):
        app.enqueue_in(600, "q", "Foo::Bar", 1)
        app.enqueue_in(600, "q", "Foo::Bar", 2)
    warnings = [r for r in caplog.records if r.name == "pyresque.delayed"]
    assert len(warnings) == 1
    assert "pyresque scheduler" in warnings[0].getMessage()
    assert "--with-scheduler" in warnings[0].getMessage()


@pytest.mark.parametrize(
    "lock", ["resque:resque:resque_scheduler_master_lock", "resque:resque_scheduler_leader_lock"]
)
def test_no_warning_while_a_scheduler_holds_a_lock(
    app: Resque, caplog: pytest.LogCaptureFixture, lock: str
) -> None:
    """resque-scheduler's master lock (pyresque's, Ruby's) or node-resque's: no WARNING."""
    app.backend.client.set(lock, "host:1", ex=60)
    with caplog.at_level(logging.WARNING, logger="pyresque.delayed"):
        app.enqueue_in(600, "q", "Foo::Bar", 1)
    assert [r for r in caplog.records if r.name == "pyresque.delayed"] == []


def test_enqueue_at_is_still_one_round_trip(redis_url: str) -> None:
    """Id, index, status and the leader-lock look are folded into the one MULTI."""
    client, counter = counting_client(redis_url)
    app = Resque(RedisBackend(client))
    app.backend.client.flushdb()
    counter.sent = 0
    app.enqueue_in(600, "q", "Foo::Bar", 1)
    app.enqueue_in(600, "q", "Foo::Bar", 2, track_status=True)
    assert counter.sent == 2
