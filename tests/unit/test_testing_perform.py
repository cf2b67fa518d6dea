"""The test kit performing jobs: inline mode, drain(), delayed jobs, scheduled assertions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pyresque import ConfigurationError, DontPerform, JobStatus, Resque, hookimpl
from pyresque.testing import (
    TooManyJobs,
    assert_enqueued,
    assert_not_enqueued,
    assert_scheduled,
    drain,
    fake_app,
    inline,
    scheduled,
)
from tests import jobs

#: What the kit's test jobs saw, in order.
SEEN: list[tuple[str, list[Any]]] = []


class Seen:
    """Records the arguments it received."""

    def perform(self, *args: Any) -> str:
        SEEN.append(("Seen", list(args)))
        return "ok"


class Parent:
    """Enqueues two children, then records itself."""

    app: Resque

    def perform(self, n: int) -> None:
        Parent.app.enqueue("kids", Seen, n, "first")
        Parent.app.enqueue("kids", Seen, n, "second")
        SEEN.append(("Parent", [n]))


class Forever:
    """Enqueues itself again, forever."""

    app: Resque

    def perform(self) -> None:
        Forever.app.enqueue("loop", Forever)


@pytest.fixture
def perf_app() -> Any:
    """A fake app with the kit's test jobs registered, SEEN emptied."""
    SEEN.clear()
    app = fake_app()
    jobs.register_all(app)
    for cls in (Seen, Parent, Forever):
        app.job(cls, name=cls.__name__)
    Parent.app = Forever.app = app
    yield app
    app.close()


def test_inline_performs_at_once_with_round_tripped_args(perf_app: Resque) -> None:
    """In inline mode enqueue runs the job now, with args as a worker reads them back."""
    with inline(perf_app) as log:
        perf_app.enqueue("q", Seen, (1, 2), {3: "three"}, "é/x", None)
    assert SEEN == [("Seen", [[1, 2], {"3": "three"}, "é/x", None])]
    assert [p.result for p in log] == ["ok"]
    assert perf_app.size("q") == 0
    assert perf_app.backend.stats.get("processed") == 1


def test_inline_rejects_what_json_cannot_carry(perf_app: Resque) -> None:
    """A non-JSON argument fails at enqueue in inline mode too: nothing runs."""
    with inline(perf_app), pytest.raises(TypeError):
        perf_app.enqueue("q", Seen, {1, 2})
    assert SEEN == []


def test_inline_raises_job_error_after_recording_it(perf_app: Resque) -> None:
    """A failing job's exception propagates from enqueue; the failure is recorded as a worker would."""
    with inline(perf_app), pytest.raises(RuntimeError, match="boom"):
        perf_app.enqueue("q", jobs.Boom, 1)
    (record,) = perf_app.failures.all(0, -1)
    assert (record.exception, record.queue, record.payload["args"]) == ("RuntimeError", "q", [1])
    assert perf_app.backend.stats.get("failed") == 1


def test_inline_without_raising_only_records(perf_app: Resque) -> None:
    """raise_errors=False: enqueue returns normally and the log shows the failure."""
    with inline(perf_app, raise_errors=False) as log:
        perf_app.enqueue("q", jobs.Boom)
        perf_app.enqueue("q", Seen, 1)
    assert [p.ok for p in log] == [False, True]
    assert isinstance(log.failed[0].exception, RuntimeError)
    assert perf_app.failures.count() == 1


def test_inline_runs_jobs_enqueued_by_a_job_after_it(perf_app: Resque) -> None:
    """Jobs enqueued by a job run once it finished, in order, before enqueue returns."""
    with inline(perf_app) as log:
        perf_app.enqueue("q", Parent, 7)
        assert SEEN == [("Parent", [7]), ("Seen", [7, "first"]), ("Seen", [7, "second"])]
    assert log.class_names() == ["Parent", "Seen", "Seen"]
    assert_not_enqueued(perf_app)


def test_inline_failing_parent_leaves_children_queued(perf_app: Resque) -> None:
    """When a job raises after enqueuing others, those stay queued (never lost)."""

    class Breaker(Parent):
        def perform(self, n: int) -> None:
            super().perform(n)
            raise ValueError("after enqueuing")

    perf_app.job(Breaker, name="Breaker")
    with inline(perf_app), pytest.raises(ValueError):
        perf_app.enqueue("q", Breaker, 1)
    assert_enqueued(perf_app, Seen, queue="kids", count=2)


def test_inline_completes_tracked_status(perf_app: Resque) -> None:
    """A job enqueued with track_status ends COMPLETE with its result, as under a worker."""
    with inline(perf_app):
        job_id = perf_app.enqueue("q", jobs.Add, 2, 3, track_status=True)
    info = perf_app.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.COMPLETE and info.result == 5


def test_inline_ends_cleanly(perf_app: Resque) -> None:
    """After the block, enqueue queues again and the kit's worker is unregistered."""
    with inline(perf_app):
        perf_app.enqueue("q", Seen, 1)
    perf_app.enqueue("q", Seen, 2)
    assert SEEN == [("Seen", [1])]
    assert_enqueued(perf_app, Seen, args=[2], count=1)
    assert perf_app.backend.workers.all() == []


def test_inline_stops_a_job_that_enqueues_itself_forever(perf_app: Resque) -> None:
    """A self-enqueuing job ends with TooManyJobs instead of recursing without end."""
    with inline(perf_app, max_jobs=20), pytest.raises(TooManyJobs):
        perf_app.enqueue("loop", Forever)


def test_drain_performs_everything_including_enqueued_by_jobs(perf_app: Resque) -> None:
    """drain() runs every queue until all are empty, jobs enqueued by jobs included."""
    perf_app.enqueue("a", Parent, 1)
    perf_app.enqueue("b", Seen, "b")
    log = drain(perf_app)
    assert sorted(log.class_names()) == ["Parent", "Seen", "Seen", "Seen"]
    assert perf_app.queues() and all(perf_app.size(q) == 0 for q in perf_app.queues())
    assert perf_app.backend.stats.get("processed") == 4
    assert perf_app.backend.workers.all() == []


def test_drain_only_named_queues_in_priority_order(perf_app: Resque) -> None:
    """drain(app, [high, low]) empties those queues, high first, and leaves the others."""
    perf_app.enqueue("low", Seen, "low")
    perf_app.enqueue("high", Seen, "high")
    perf_app.enqueue("other", Seen, "other")
    drain(perf_app, ["high", "low"])
    assert SEEN == [("Seen", ["high"]), ("Seen", ["low"])]
    assert_enqueued(perf_app, Seen, args=["other"], queue="other", count=1)


def test_drain_raises_after_recording_or_goes_on(perf_app: Resque) -> None:
    """By default a failure is recorded then raised; raise_errors=False runs the rest."""
    perf_app.enqueue("q", jobs.Boom)
    perf_app.enqueue("q", Seen, 1)
    with pytest.raises(RuntimeError):
        drain(perf_app)
    assert perf_app.failures.count() == 1 and SEEN == []
    log = drain(perf_app, raise_errors=False)
    assert SEEN == [("Seen", [1])] and len(log.succeeded) == 1


def test_drain_runs_due_delayed_jobs_and_travels_in_time(perf_app: Resque) -> None:
    """Delayed jobs run once due; now= makes later ones due; include_delayed=False skips them."""
    soon = int(time.time()) + 60
    later = int(time.time()) + 7200
    perf_app.enqueue_at(soon, "q", Seen, "soon")
    perf_app.enqueue_at(later, "q", Seen, "later")
    assert len(drain(perf_app)) == 0
    assert len(drain(perf_app, now=soon + 1, include_delayed=False)) == 0
    drain(perf_app, now=soon + 1)
    assert SEEN == [("Seen", ["soon"])]
    drain(perf_app, now=later)
    assert SEEN == [("Seen", ["soon"]), ("Seen", ["later"])]
    assert perf_app.delayed_count() == 0


def test_drain_records_an_undecodable_payload(perf_app: Resque) -> None:
    """A corrupt payload becomes a failure record keeping its bytes, never a silent skip."""
    perf_app.backend.client.sadd("resque:queues", "q")  # type: ignore[attr-defined]
    perf_app.backend.client.rpush("resque:queue:q", b"{oops")  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        drain(perf_app)
    (record,) = perf_app.failures.all(0, -1)
    assert record.payload == {"class": None, "raw": "{oops"}


def test_drain_unknown_class_is_a_failure(perf_app: Resque) -> None:
    """A job nobody registered fails like it would in a worker (UnknownJobClass)."""
    perf_app.enqueue("q", "Nobody::Home", 1)
    log = drain(perf_app, raise_errors=False)
    assert type(log.failed[0].exception).__name__ == "UnknownJobClass"
    assert perf_app.failures.all(0, -1)[0].payload["class"] == "Nobody::Home"


def test_drain_honours_perform_hooks(perf_app: Resque) -> None:
    """Plugins run around kit-performed jobs: DontPerform in before_perform skips the job."""

    class Skipper:
        @hookimpl
        def pyresque_before_perform(self, job: Any) -> None:
            if job.args and job.args[0] == "skip":
                raise DontPerform("not this one")

    perf_app.plugins.register(Skipper())
    perf_app.enqueue("q", Seen, "skip")
    perf_app.enqueue("q", Seen, "run")
    log = drain(perf_app)
    assert [p.skipped for p in log] == [True, False]
    assert SEEN == [("Seen", ["run"])]


def test_scheduled_and_assert_scheduled(perf_app: Resque) -> None:
    """Delayed jobs are listed soonest first and asserted by class, args, queue and time."""
    t1 = int(time.time()) + 100
    t2 = int(time.time()) + 200
    perf_app.enqueue_at(t2, "mail", Seen, "late")
    perf_app.enqueue_at(t1, "mail", Seen, "early")
    perf_app.enqueue_at(t1, "other", jobs.Add, 1, 2)
    assert [(i.timestamp, i.job.args[0]) for i in scheduled(perf_app, Seen) if i.job] == [
        (t1, "early"),
        (t2, "late"),
    ]
    (item,) = assert_scheduled(perf_app, Seen, args=["late"], queue="mail", at=t2, count=1)
    assert item.timestamp == t2
    assert_scheduled(perf_app, jobs.Add, args=(1, 2))
    with pytest.raises(AssertionError) as info:
        assert_scheduled(perf_app, Seen, args=["early"], at=t2)
    assert "found 0" in str(info.value) and f"{t1} mail: Seen('early',)" in str(info.value)
    assert_not_enqueued(perf_app)


def test_scheduled_reports_unreadable_item(perf_app: Resque) -> None:
    """A garbage delayed item raises instead of being skipped."""
    perf_app.backend.delayed.schedule(int(time.time()) + 50, b"[1,2]")
    with pytest.raises(ValueError, match="unreadable delayed item"):
        scheduled(perf_app)


def test_inline_covers_enqueue_many_and_due_enqueue_at(perf_app: Resque) -> None:
    """enqueue_many and an enqueue_at whose time has come are performed inline too;
    a future enqueue_at stays scheduled."""
    with inline(perf_app) as log:
        perf_app.enqueue_many([("q", Seen, [1]), ("r", Seen, [2])])
        perf_app.enqueue_at(time.time() - 10, "q", Seen, 3)
        perf_app.enqueue_at(time.time() + 3600, "q", Seen, 4)
    assert SEEN == [("Seen", [1]), ("Seen", [2]), ("Seen", [3])]
    assert len(log) == 3
    assert_scheduled(perf_app, Seen, args=[4], count=1)
    assert_not_enqueued(perf_app)


def test_inline_blocks_do_not_nest(perf_app: Resque) -> None:
    """Entering inline mode twice on one app is refused rather than performing jobs twice."""
    with (
        inline(perf_app),
        pytest.raises(ConfigurationError, match="already in inline mode"),
        inline(perf_app),
    ):
        pass
    with inline(perf_app):  # usable again once the first block ended
        perf_app.enqueue("q", Seen, 1)
    assert SEEN == [("Seen", [1])]
