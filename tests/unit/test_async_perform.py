"""perform_async: the async worker's entry point (a job awaited on the running loop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from pyresque import Resque, current_job, hookimpl
from pyresque.core.errors import JobTimeoutError
from pyresque.core.job import Job
from pyresque.core.worker.perform import perform_async


def _worker(app: Resque) -> Any:
    return SimpleNamespace(app=app, id="host:1:async")


@pytest.mark.asyncio
async def test_an_async_job_is_awaited_on_the_callers_loop(fake_app: Resque) -> None:
    loops: list[Any] = []

    @fake_app.job(name="Here")
    async def here(x: int) -> int:
        info = current_job()
        loops.append((asyncio.get_running_loop(), info.id if info else None))
        return x * 3

    job = Job.new("q", "Here", [2])
    outcome = await perform_async(_worker(fake_app), job)
    assert outcome.ok and outcome.result == 6
    assert loops == [(asyncio.get_running_loop(), job.id)]
    assert current_job() is None


@pytest.mark.asyncio
async def test_jobs_running_at_once_each_see_their_own_context(fake_app: Resque) -> None:
    @fake_app.job(name="Mine")
    async def mine(n: int) -> Any:
        await asyncio.sleep(0.01 * (3 - n))
        info = current_job()
        return info.args if info else None

    jobs = [Job.new("q", "Mine", [n]) for n in range(3)]
    outcomes = await asyncio.gather(*(perform_async(_worker(fake_app), j) for j in jobs))
    assert [o.result for o in outcomes] == [[0], [1], [2]]


@pytest.mark.asyncio
async def test_around_hooks_run_in_a_thread_around_the_job_on_this_loop(fake_app: Resque) -> None:
    events: list[str] = []
    main = threading.get_ident()

    @fake_app.job(name="Around")
    class Around:
        @classmethod
        @contextmanager
        def around_perform_a(cls) -> Iterator[None]:
            events.append(f"around in, on the loop thread: {threading.get_ident() == main}")
            yield
            events.append("around out")

        async def perform(self) -> str:
            events.append(f"perform on the loop thread: {threading.get_ident() == main}")
            return "ok"

    outcome = await perform_async(_worker(fake_app), Job.new("q", "Around"))
    assert outcome.ok and outcome.result == "ok"
    assert events == [
        "around in, on the loop thread: False",
        "perform on the loop thread: True",
        "around out",
    ]


@pytest.mark.asyncio
async def test_a_timeout_is_a_failure_record_not_a_cancellation(fake_app: Resque) -> None:
    @fake_app.job(name="Late")
    async def late() -> None:
        await asyncio.sleep(30)

    outcome = await perform_async(_worker(fake_app), Job.new("q", "Late"), timeout=0.05)
    assert not outcome.ok and isinstance(outcome.exception, JobTimeoutError)
    assert outcome.record is not None and outcome.record.exception == "pyresque.JobTimeoutError"


@pytest.mark.asyncio
async def test_a_timeout_through_the_wrapper_thread_too(fake_app: Resque) -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def pyresque_perform(self, worker: Any, job: Job) -> Any:
            return (yield)

    fake_app.hooks.register(Wrapper())

    @fake_app.job(name="Late")
    async def late() -> None:
        await asyncio.sleep(30)

    outcome = await perform_async(_worker(fake_app), Job.new("q", "Late"), timeout=0.05)
    assert isinstance(outcome.exception, JobTimeoutError)


@pytest.mark.asyncio
async def test_a_sync_job_runs_in_the_executor_thread(fake_app: Resque) -> None:
    main = threading.get_ident()

    @fake_app.job(name="SyncOne")
    def sync_one() -> Any:
        info = current_job()
        return threading.get_ident() != main, info.class_name if info else None

    outcome = await perform_async(_worker(fake_app), Job.new("q", "SyncOne"))
    assert outcome.ok and outcome.result == (True, "SyncOne")


@pytest.mark.asyncio
async def test_the_callers_cancellation_propagates(fake_app: Resque) -> None:
    started = asyncio.Event()

    @fake_app.job(name="Long")
    async def long() -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(perform_async(_worker(fake_app), Job.new("q", "Long")))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_an_unknown_class_is_a_failure(fake_app: Resque) -> None:
    outcome = await perform_async(_worker(fake_app), Job.new("q", "No::Such"))
    assert not outcome.ok and outcome.record is not None
