"""Async jobs under test: drain() from sync tests, await adrain() from async ones."""

from __future__ import annotations

import notify
import pytest

from pyresque import Resque
from pyresque.testing import adrain, assert_enqueued, drain, inline


def test_enqueue_only(app: Resque) -> None:
    """The code under test enqueues; nothing runs until the test says so."""
    notify.announce([1, 2], "hello")
    assert_enqueued(app, notify.push, args=[1, "hello"], queue="push")
    assert app.size("push") == 2


def test_drain_runs_async_jobs_from_a_sync_test(app: Resque) -> None:
    """drain() runs each async job on an event loop of its own."""
    notify.announce([1], "hi")
    log = drain(app)
    assert notify.client.sent[-1] == {"user": 1, "text": "hi"}
    (performed,) = log.jobs
    assert performed.job is not None and performed.result == performed.job.id  # current_job()


def test_inline_mode_runs_them_at_enqueue(app: Resque) -> None:
    """Inline mode: the push is sent by the time announce() returns."""
    with inline(app) as log:
        notify.announce([3], "now")
    assert log.class_names() == ["Notify::Push"]


def test_a_class_job_with_async_set_up_and_tear_down(app: Resque) -> None:
    """set_up opens the job's own client, tear_down closes it."""
    app.enqueue("push", notify.Digest, [1, 2, 3])
    assert drain(app).jobs[0].result == 3


@pytest.mark.asyncio
async def test_adrain_runs_them_on_the_tests_loop(app: Resque, push_client: notify.PushClient) -> None:
    """await adrain(): the jobs run on this test's loop, so they may use its client."""
    notify.announce([4, 5], "async")
    log = await adrain(app)
    assert [p.ok for p in log.jobs] == [True, True]
    assert push_client.sent == [{"user": 4, "text": "async"}, {"user": 5, "text": "async"}]


@pytest.mark.asyncio
async def test_a_failing_async_job_raises_from_adrain(app: Resque) -> None:
    """A job's exception reaches the test, after its failure is recorded."""
    app.enqueue("push", notify.Digest, 42)  # not a list of users
    with pytest.raises(TypeError):
        await adrain(app)
    (failure,) = app.failures.all(0, -1)
    assert failure.exception == "TypeError"
