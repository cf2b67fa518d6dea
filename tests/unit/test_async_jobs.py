"""``async def`` jobs run (issue 12, Jobs): functions, classes with async steps, their
timeouts, the tasks they leave, the hooks around them, and what is refused."""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace
from typing import Any

import pytest

from pyresque import ConfigurationError, Resque, current_job, hookimpl
from pyresque.core.errors import JobTimeoutError, UnknownJobClass
from pyresque.core.job import Job
from pyresque.core.registry import JobRegistry
from pyresque.core.worker.eventloop import JobLoop
from pyresque.core.worker.perform import perform_job
from pyresque.testing import drain


def _worker(app: Resque) -> Any:
    return SimpleNamespace(app=app, id="host:1:q")


# -- they run ------------------------------------------------------------------------
def test_an_async_function_runs_and_its_result_is_kept(fake_app: Resque) -> None:
    ran: list[int] = []

    @fake_app.job(name="Mail")
    async def mail(n: int) -> int:
        await asyncio.sleep(0)
        ran.append(n)
        return n * 2

    job_id = fake_app.enqueue("q", "Mail", 21, track_status=True)
    log = drain(fake_app)
    assert ran == [21]
    assert [(p.ok, p.result) for p in log.jobs] == [(True, 42)]
    status = fake_app.tracked(job_id).status
    assert status is not None and status.name == "COMPLETE"


def test_a_class_with_async_set_up_perform_tear_down(fake_app: Resque) -> None:
    steps: list[str] = []

    @fake_app.job(name="Klass")
    class Klass:
        async def set_up(self) -> None:
            steps.append("set_up")

        async def perform(self, x: str) -> str:
            await asyncio.sleep(0)
            steps.append(f"perform {x} {self.args}")  # type: ignore[attr-defined]
            return x.upper()

        async def tear_down(self) -> None:
            steps.append("tear_down")

    fake_app.enqueue("q", "Klass", "a")
    assert drain(fake_app).jobs[0].result == "A"
    assert steps == ["set_up", "perform a ['a']", "tear_down"]


def test_mixed_sync_and_async_steps_and_tear_down_after_a_failure(fake_app: Resque) -> None:
    steps: list[str] = []

    @fake_app.job(name="Mixed")
    class Mixed:
        def setUp(self) -> None:
            steps.append("setUp")

        async def perform(self) -> None:
            raise ValueError("async boom")

        def tearDown(self) -> None:
            steps.append("tearDown")

    fake_app.enqueue("q", "Mixed")
    with pytest.raises(ValueError, match="async boom"):
        drain(fake_app)
    assert steps == ["setUp", "tearDown"]
    record = fake_app.failures.all(0, 1)[0]
    assert record.exception == "ValueError" and record.error == "async boom"


def test_a_sync_job_returning_a_coroutine_is_awaited_not_reported_done(fake_app: Resque) -> None:
    """A sync wrapper around an async function (decorators do this): the coroutine runs."""
    ran: list[str] = []

    async def body(x: str) -> str:
        ran.append(x)
        return "awaited"

    def wrapper(*args: Any) -> Any:
        return body(*args)

    fake_app.job(wrapper, name="Wrapped")
    job_id = fake_app.enqueue("q", "Wrapped", "y", track_status=True)
    log = drain(fake_app)
    assert ran == ["y"] and log.jobs[0].result == "awaited"
    status = fake_app.tracked(job_id).status
    assert status is not None and status.name == "COMPLETE"


def test_a_coroutine_raising_cancelled_error_by_itself_is_a_failure(fake_app: Resque) -> None:
    @fake_app.job(name="SelfCancel")
    async def self_cancel() -> None:
        raise asyncio.CancelledError()

    fake_app.enqueue("q", "SelfCancel")
    log = drain(fake_app, raise_errors=False)
    assert [p.ok for p in log.jobs] == [False]
    assert fake_app.failures.count() == 1


def test_current_job_is_seen_in_the_job_and_in_tasks_it_starts(fake_app: Resque) -> None:
    seen: list[Any] = []

    @fake_app.job(name="Ctx")
    async def ctx() -> None:
        async def child() -> Any:
            info = current_job()
            return info.class_name if info else None

        info = current_job()
        seen.append(info.id if info else None)
        seen.append(await asyncio.create_task(child()))

    job_id = fake_app.enqueue("q", "Ctx")
    drain(fake_app)
    assert seen == [job_id, "Ctx"]


# -- the loop -------------------------------------------------------------------------
def test_one_loop_serves_successive_jobs_and_a_forked_copy_is_never_reused(fake_app: Resque) -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    @fake_app.job(name="WhichLoop")
    async def which_loop() -> None:
        loops.append(asyncio.get_running_loop())

    job_loop = JobLoop()
    try:
        for _ in range(2):
            assert perform_job(_worker(fake_app), Job.new("q", "WhichLoop"), loop=job_loop).ok
        assert loops[0] is loops[1]
        job_loop._pid = -1  # as if inherited through fork: this process did not make it
        assert perform_job(_worker(fake_app), Job.new("q", "WhichLoop"), loop=job_loop).ok
        assert loops[2] is not loops[0] and not loops[0].is_closed()
    finally:
        loops[0].close()
        job_loop.close()


def test_tasks_a_job_leaves_running_are_cancelled_when_it_returns(
    fake_app: Resque, caplog: pytest.LogCaptureFixture
) -> None:
    events: list[str] = []

    async def forgotten() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    @fake_app.job(name="Leaky")
    async def leaky() -> str:
        asyncio.get_running_loop().create_task(forgotten())
        await asyncio.sleep(0)
        return "returned"

    @fake_app.job(name="Next")
    async def next_job() -> int:
        return len([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])

    fake_app.enqueue("q", "Leaky")
    fake_app.enqueue("q", "Next")
    with caplog.at_level(logging.WARNING, logger="pyresque.worker"):
        log = drain(fake_app)
    assert [p.result for p in log.jobs] == ["returned", 0]
    assert events == ["cancelled"]
    assert "left 1 task(s) running: cancelled (" in caplog.text and "forgotten" in caplog.text


# -- timeouts: always a failure record --------------------------------------------------
class _Slow:
    timeout = 0.2

    async def perform(self, how: str) -> str:
        if how == "sleep":
            await asyncio.sleep(30)
        elif how == "swallow":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                return "pretended to finish"
        elif how == "block":
            time.sleep(30)  # never awaits: only the timer signal can reach it
        return "done"


@pytest.mark.parametrize("how", ["sleep", "swallow", "block"])
def test_an_async_job_past_its_timeout_ends_as_a_timeout_failure(fake_app: Resque, how: str) -> None:
    fake_app.job(_Slow, name="Slow")
    job_loop = JobLoop()
    try:
        outcome = perform_job(_worker(fake_app), Job.new("q", "Slow", [how]), loop=job_loop)
    finally:
        job_loop.close()
    assert not outcome.ok and isinstance(outcome.exception, JobTimeoutError)
    assert outcome.record is not None and outcome.record.exception == "pyresque.JobTimeoutError"


def test_a_job_within_its_timeout_is_not_touched(fake_app: Resque) -> None:
    fake_app.job(_Slow, name="Slow")
    outcome = perform_job(_worker(fake_app), Job.new("q", "Slow", ["quick"]))
    assert outcome.ok and outcome.result == "done"


def test_the_jobs_own_timeout_error_is_its_own(fake_app: Resque) -> None:
    @fake_app.job(name="OwnTimeout")
    async def own_timeout() -> None:
        await asyncio.wait_for(asyncio.sleep(10), 0.01)

    outcome = perform_job(_worker(fake_app), Job.new("q", "OwnTimeout"), timeout=30)
    assert outcome.record is not None
    assert outcome.record.exception.endswith("TimeoutError")  # asyncio's (3.10) or the builtin
    assert outcome.record.exception != "pyresque.JobTimeoutError"


# -- hooks keep working around async jobs --------------------------------------------
def test_class_hooks_and_plugins_wrap_the_real_run(fake_app: Resque) -> None:
    events: list[str] = []

    class Plugin:
        @hookimpl(wrapper=True)
        def pyresque_perform(self, worker: Any, job: Job) -> Any:
            events.append("wrapper in")
            result = yield
            events.append(f"wrapper out {result!r}")
            return result

        @hookimpl
        def pyresque_after_perform(self, worker: Any, job: Job, result: Any) -> None:
            events.append(f"after_perform plugin {result!r}")

    @fake_app.job(name="Hooked")
    class Hooked:
        @classmethod
        def before_perform_a(cls, x: int) -> None:
            events.append("before")

        @classmethod
        def around_perform_a(cls, x: int) -> Any:
            events.append("around in")
            result = yield
            events.append(f"around out {result!r}")

        async def perform(self, x: int) -> int:
            await asyncio.sleep(0)
            events.append("perform")
            return x + 1

        @classmethod
        def on_failure_a(cls, exc: BaseException, x: int) -> None:
            events.append(f"on_failure {type(exc).__name__}")

    fake_app.hooks.register(Plugin())
    fake_app.enqueue("q", "Hooked", 1)
    fake_app.enqueue("q", "Hooked", "x")
    drain(fake_app, raise_errors=False)
    assert events[:7] == [
        "before",
        "wrapper in",
        "around in",
        "perform",
        "around out 2",
        "wrapper out 2",
        "after_perform plugin 2",
    ]
    assert events[7:] == ["before", "wrapper in", "around in", "perform", "on_failure TypeError"]


# -- what cannot run is refused, plainly -----------------------------------------------
def test_an_async_generator_is_refused_at_registration(fake_app: Resque) -> None:
    async def stream() -> Any:
        yield 1

    with pytest.raises(ConfigurationError, match="async generator"):
        fake_app.job(stream, name="Stream")

    class StreamPerform:
        async def perform(self) -> Any:
            yield 1

    with pytest.raises(ConfigurationError, match=r"StreamPerform\.perform is an async generator"):
        fake_app.job(StreamPerform, name="StreamPerform")
    assert "Stream" not in fake_app.registry.names()


def test_an_async_class_hook_is_refused_at_registration(fake_app: Resque) -> None:
    class AsyncHook:
        @classmethod
        async def before_perform_check(cls) -> None: ...

        async def perform(self) -> None: ...

    with pytest.raises(ConfigurationError, match=r"before_perform_check is async.*plain function"):
        fake_app.job(AsyncHook, name="AsyncHook")


def test_an_allow_listed_async_generator_does_not_resolve() -> None:
    registry = JobRegistry(allow_modules=["tests.worker_jobs"])
    assert registry.resolve("tests.worker_jobs.async_add") is not None  # an async def runs
    with pytest.raises(UnknownJobClass, match="async generator"):
        registry.resolve("tests.worker_jobs.async_stream")


def test_a_callable_returning_an_async_generator_fails_unrun(fake_app: Resque) -> None:
    async def stream() -> Any:
        yield 1

    class Maker:
        def __call__(self) -> Any:
            return stream()

    fake_app.job(Maker(), name="Maker")
    fake_app.enqueue("q", "Maker")
    log = drain(fake_app, raise_errors=False)
    assert [p.ok for p in log.jobs] == [False]
    assert "async generator" in fake_app.failures.all(0, 1)[0].error
