"""The users' test kit: fake apps, enqueue assertions, inline mode, drain, the pytest plugin."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pyresque import ConfigurationError, DontPerform, JobNotRegistered, JobStatus, Resque, hookimpl
from pyresque.backends.fake import FakeBackend
from pyresque.testing import (
    TooManyJobs,
    assert_enqueued,
    assert_not_enqueued,
    assert_scheduled,
    drain,
    enqueued,
    fake_app,
    fake_backend,
    inline,
    reset,
    scheduled,
)
from tests import jobs

ROOT = Path(__file__).resolve().parents[2]

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


@pytest.fixture
def kit_app() -> Resque:
    """A kit-made fake app with the test jobs registered."""
    app = fake_app()
    jobs.register_all(app)
    return app


def test_fake_app_is_isolated_and_namespaced() -> None:
    """Two fake apps never share data; the namespace option is honoured."""
    a, b = fake_app(), fake_app(namespace="other")
    a.enqueue("q", "X")
    assert b.queues() == []
    assert b.backend.keys.namespace == "other"  # type: ignore[attr-defined]
    b.enqueue("q", "Y")
    assert b.backend.client.exists("other:queue:q") == 1  # type: ignore[attr-defined]


def test_fake_backend_swaps_and_restores_the_apps_backend(redis_url: str) -> None:
    """fake_backend points a real app at fakeredis for the block and restores it after."""
    app = Resque(redis_url, namespace="proj")
    jobs.register_all(app)
    original = app.backend
    with fake_backend(app) as same:
        assert same is app
        assert isinstance(app.backend, FakeBackend)
        assert app.backend.keys.namespace == "proj"  # type: ignore[attr-defined]
        app.enqueue("q", jobs.Add, 1, 2)
        assert app.size("q") == 1
    assert app.backend is original
    assert app.size("q") == 0  # nothing reached the real server
    app.close()


def test_reset_empties_fake_server(kit_app: Resque) -> None:
    """reset() drops queues and failures from the fakeredis server."""
    kit_app.enqueue("q", jobs.Add, 1, 2)
    reset(kit_app)
    assert kit_app.queues() == []


def test_reset_refuses_a_real_redis(redis_url: str) -> None:
    """reset() never flushes a real Redis: it raises instead."""
    app = Resque(redis_url)
    app.enqueue("q", "X")
    with pytest.raises(ConfigurationError, match="only empties fakeredis"):
        reset(app)
    assert app.size("q") == 1
    app.close()


def test_enqueued_filters_by_queue_class_and_args(kit_app: Resque) -> None:
    """enqueued() lists waiting jobs, filtered by queue, job and exact args."""
    kit_app.enqueue("a", jobs.Add, 1, 2)
    kit_app.enqueue("b", jobs.Add, 3, 4)
    kit_app.enqueue("b", jobs.Echo, "x")
    assert [(j.queue, j.class_name) for j in enqueued(kit_app)] == [("a", "Add"), ("b", "Add"), ("b", "Echo")]
    assert [list(j.args) for j in enqueued(kit_app, "b", jobs.Add)] == [[3, 4]]
    assert [j.queue for j in enqueued(kit_app, job="Add", args=(3, 4))] == ["b"]
    assert enqueued(kit_app, job=jobs.Add, args=[9]) == []


def test_assert_enqueued_returns_matches_and_checks_count(kit_app: Resque) -> None:
    """assert_enqueued passes on a match, returns the jobs, and enforces count=."""
    kit_app.enqueue("mail", jobs.Echo, "a@b", {"lang": "fr"})
    kit_app.enqueue("mail", jobs.Echo, "a@b", {"lang": "fr"})
    found = assert_enqueued(kit_app, jobs.Echo, args=["a@b", {"lang": "fr"}], queue="mail", count=2)
    assert len(found) == 2 and all(j.id for j in found)
    with pytest.raises(AssertionError, match="expected 1 x Echo"):
        assert_enqueued(kit_app, jobs.Echo, count=1)


def test_assert_enqueued_failure_lists_what_is_enqueued(kit_app: Resque) -> None:
    """A failed assertion names what was expected and shows what is there instead."""
    kit_app.enqueue("q", jobs.Add, 1, 2)
    with pytest.raises(AssertionError) as info:
        assert_enqueued(kit_app, jobs.Add, args=[2, 1])
    message = str(info.value)
    assert "expected Add(2, 1), found 0" in message
    assert "q: Add(1, 2)" in message


def test_assert_not_enqueued(kit_app: Resque) -> None:
    """assert_not_enqueued passes on empty queues and fails naming the offending job."""
    assert_not_enqueued(kit_app)
    kit_app.enqueue("q", jobs.Add, 1, 2)
    assert_not_enqueued(kit_app, jobs.Echo)
    with pytest.raises(AssertionError, match="found 1"):
        assert_not_enqueued(kit_app, queue="q")


def test_unregistered_job_in_assertion_is_an_error(kit_app: Resque) -> None:
    """Asserting about a callable the app does not know raises JobNotRegistered, not a pass."""

    class Unknown:
        def perform(self) -> None: ...

    with pytest.raises(JobNotRegistered):
        assert_not_enqueued(kit_app, Unknown)


def test_enqueue_rejects_what_production_would_reject(kit_app: Resque) -> None:
    """Arguments JSON cannot carry are refused at enqueue on the fake app, as in production."""
    with pytest.raises(TypeError):
        kit_app.enqueue("q", jobs.Echo, dt.datetime.now())
    assert_not_enqueued(kit_app)


def test_undecodable_payload_is_reported_not_skipped(kit_app: Resque) -> None:
    """A corrupt payload in a queue makes enqueued() raise rather than hide it."""
    kit_app.backend.client.rpush("resque:queue:q", b"{not json")  # type: ignore[attr-defined]
    kit_app.backend.client.sadd("resque:queues", "q")  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not valid JSON"):
        enqueued(kit_app)


def test_docs_example_suite_passes() -> None:
    """The runnable example suite in docs/examples/testing passes, using the pytest plugin."""
    folder = ROOT / "docs" / "examples" / "testing"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "11 passed" in proc.stdout, proc.stdout


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


def test_inline_app_fixture_is_inline(pyresque_inline_app: Resque) -> None:
    """The plugin's pyresque_inline_app performs jobs at enqueue."""
    pyresque_inline_app.job(jobs.Boom, name="Boom")
    with pytest.raises(RuntimeError, match="boom"):
        pyresque_inline_app.enqueue("q", "Boom")
    assert pyresque_inline_app.failures.count() == 1


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


def test_importing_the_kit_has_no_side_effects() -> None:
    """Importing pyresque.testing (as pytest's plugin loader does) connects nowhere, installs no
    log handler or signal handler, and does not need fakeredis until an app is made."""
    code = (
        "import logging, signal, socket, sys\n"
        "opened = []\n"
        "socket.socket.connect = lambda self, *a: opened.append(a)\n"
        "term, alarm = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGALRM)\n"
        "import pyresque.testing\n"
        "assert not opened, opened\n"
        "assert not logging.getLogger().handlers\n"
        "assert signal.getsignal(signal.SIGTERM) is term and signal.getsignal(signal.SIGALRM) is alarm\n"
        "assert 'fakeredis' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr


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
