"""The test kit runs async jobs: drain / inline from sync and from async tests, adrain
on the test's own loop."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pyresque import Resque, current_job
from pyresque.testing import adrain, drain, inline


def _register(app: Resque, seen: list[Any]) -> None:
    @app.job(name="Fetch")
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        info = current_job()
        seen.append((url, info.class_name if info else None, asyncio.get_running_loop()))
        return f"got {url}"

    @app.job(name="Plain")
    def plain(x: int) -> int:
        return x


def test_drain_from_plain_code_runs_async_jobs(fake_app: Resque) -> None:
    seen: list[Any] = []
    _register(fake_app, seen)
    fake_app.enqueue("q", "Fetch", "a")
    fake_app.enqueue("q", "Plain", 3)
    log = drain(fake_app)
    assert [p.result for p in log.jobs] == ["got a", 3]
    assert seen[0][:2] == ("a", "Fetch")
    assert seen[0][2].is_closed()  # drain's loop is closed with it


def test_drain_called_inside_a_running_loop_still_runs_them(fake_app: Resque) -> None:
    seen: list[Any] = []
    _register(fake_app, seen)

    async def an_async_test() -> Any:
        fake_app.enqueue("q", "Fetch", "b")
        return drain(fake_app), asyncio.get_running_loop()

    log, outer = asyncio.run(an_async_test())
    assert [p.result for p in log.jobs] == ["got b"]
    assert seen[0][1] == "Fetch" and seen[0][2] is not outer  # its own loop, in a helper thread


def test_inline_mode_runs_an_async_job_at_enqueue(fake_app: Resque) -> None:
    seen: list[Any] = []
    _register(fake_app, seen)
    with inline(fake_app) as log:
        fake_app.enqueue("q", "Fetch", "c")
        assert [p.result for p in log.jobs] == ["got c"]


@pytest.mark.asyncio
async def test_adrain_awaits_async_jobs_on_the_tests_own_loop(fake_app: Resque) -> None:
    seen: list[Any] = []
    _register(fake_app, seen)
    fake_app.enqueue("q", "Fetch", "d")
    fake_app.enqueue("q", "Plain", 4)
    log = await adrain(fake_app)
    assert [p.result for p in log.jobs] == ["got d", 4]
    assert seen == [("d", "Fetch", asyncio.get_running_loop())]


@pytest.mark.asyncio
async def test_adrain_raises_a_failing_async_job_after_recording_it(fake_app: Resque) -> None:
    @fake_app.job(name="Broken")
    async def broken() -> None:
        raise RuntimeError("nope")

    fake_app.enqueue("q", "Broken")
    with pytest.raises(RuntimeError, match="nope"):
        await adrain(fake_app)
    assert fake_app.failures.count() == 1


@pytest.mark.asyncio
async def test_the_inline_fixture_runs_async_jobs_in_an_async_test(pyresque_inline_app: Resque) -> None:
    seen: list[Any] = []
    _register(pyresque_inline_app, seen)
    pyresque_inline_app.enqueue("q", "Fetch", "e")  # performed at once, on the kit's loop
    assert [s[:2] for s in seen] == [("e", "Fetch")]
    assert seen[0][2] is not asyncio.get_running_loop()
