"""AsyncResque on fakeredis: the client API awaited, sharing jobs, hooks and errors
with the sync app (the byte-for-byte comparison on a real server is in
tests/integration/test_aio_golden.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from pyresque import (
    AsyncResque,
    ConfigurationError,
    DontEnqueue,
    EncodeError,
    InvalidQueueName,
    JobNotRegistered,
    JobStatus,
    Resque,
    UnknownBackendError,
    WaitTimeout,
    hookimpl,
)
from pyresque.backends.failure import make_failure_store
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from tests import jobs

pytestmark = pytest.mark.asyncio


@pytest.fixture
def sync_app() -> Resque:
    app = Resque("fakeredis://")
    jobs.register_all(app)
    return app


@pytest_asyncio.fixture
async def aapp(sync_app: Resque) -> AsyncIterator[AsyncResque]:
    async with AsyncResque.from_app(sync_app) as app:
        yield app


async def test_enqueue_is_seen_by_the_sync_app(aapp: AsyncResque, sync_app: Resque) -> None:
    job_id = await aapp.enqueue("default", jobs.Add, 1, 2)
    assert len(job_id) == 32
    [job] = sync_app.peek("default")
    assert (job.class_name, job.args, job.id) == ("Add", (1, 2), job_id)
    assert await aapp.size("default") == 1
    assert await aapp.queues() == ["default"]
    [seen] = await aapp.peek("default")
    assert seen.id == job_id


async def test_registry_is_shared_both_ways(sync_app: Resque) -> None:
    async with AsyncResque.from_app(sync_app) as aapp:

        @aapp.job(name="Later::Job")
        def later() -> None: ...

        assert sync_app.registry.name_for(later) == "Later::Job"
    async with AsyncResque("fakeredis://", registry=sync_app.registry) as other:
        assert other.registry is sync_app.registry
        await other.enqueue("q", later)
        [job] = await other.peek("q")
        assert job.class_name == "Later::Job"


async def test_enqueue_many_and_ruby_form(aapp: AsyncResque, sync_app: Resque) -> None:
    ids = await aapp.enqueue_many([("a", jobs.Add, (1, 2)), ("b", "Foo::Bar", ("x",))])
    assert [j.id for j in sync_app.peek("a") + sync_app.peek("b")] == ids
    assert await aapp.enqueue("a", jobs.Echo, 3, payload_form="ruby") == ""
    assert sync_app.backend.broker.peek("a", 1, 1) == [b'{"class":"Echo","args":[3]}']


async def test_idempotent_enqueue_returns_the_first_id(aapp: AsyncResque) -> None:
    first = await aapp.enqueue("q", jobs.Add, 1, 2, idempotency_key="k1", retries=2)
    again = await aapp.enqueue("q", jobs.Add, 1, 2, idempotency_key="k1")
    assert first == again
    assert await aapp.size("q") == 1


async def test_tracked_status(aapp: AsyncResque, sync_app: Resque) -> None:
    job_id = await aapp.enqueue("q", jobs.Add, 1, 2, track_status=True)
    info = await aapp.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.WAITING
    assert await aapp.tracked(job_id).status() is JobStatus.WAITING
    sync_app.backend.statuses.update(job_id, JobStatus.COMPLETE, 3)
    done = await aapp.tracked(job_id).wait(5)
    assert done is not None and done.status is JobStatus.COMPLETE and done.result == 3
    assert await aapp.tracked(job_id).stop() is True
    assert await aapp.tracked(job_id).get() is None


async def test_dequeue_by_class_args_and_id(aapp: AsyncResque) -> None:
    await aapp.enqueue("q", jobs.Add, 1, 2)
    await aapp.enqueue("q", jobs.Add, 3, 4)
    keep = await aapp.enqueue("q", jobs.Echo, (1, 2))
    assert await aapp.dequeue("q", jobs.Add, 1, 2) == 1
    assert await aapp.dequeue("q", jobs.Echo, (1, 2)) == 1  # a tuple matches the stored list
    assert await aapp.dequeue("q", jobs.Echo, id=keep) == 0
    assert await aapp.dequeue("q") == 1


async def test_delayed_enqueue_and_removal(aapp: AsyncResque, sync_app: Resque) -> None:
    await aapp.enqueue_in(3600, "q", jobs.Add, 1, 2)
    assert await aapp.delayed_count() == 1 == sync_app.delayed_count()
    assert await aapp.scheduled_at("q", jobs.Add, 1, 2) == sync_app.scheduled_at("q", jobs.Add, 1, 2)
    await aapp.enqueue_at(0, "q", jobs.Add, 5, 6)  # in the past: enqueued at once
    assert await aapp.size("q") == 1
    assert await aapp.remove_delayed("q", jobs.Add, 1, 2) == 1
    assert await aapp.delayed_count() == 0


async def test_failures_count_find_requeue_remove(aapp: AsyncResque, sync_app: Resque) -> None:
    job = Job.new("q", "Add", (1, 2))
    record = FailureRecord.from_exception(RuntimeError("x"), payload=job.to_payload(), worker="w", queue="q")
    sync_app.backend.failures.save(record)
    failures = aapp.failures
    assert await failures.count() == 1
    [(index, found)] = await failures.find(job.id or "")
    assert index == 0 and found.payload["id"] == job.id
    await failures.requeue(0)
    assert await aapp.size("q") == 1
    [again] = await failures.all(0, 1)
    assert again.retried_at is not None
    await failures.remove(0)
    assert await failures.count() == 0


async def test_info(aapp: AsyncResque, sync_app: Resque) -> None:
    await aapp.enqueue("q", jobs.Add, 1, 2)
    info = await aapp.info()
    assert info == sync_app.info()
    assert info.pending == 1


async def test_hooks_run_with_the_async_app_and_veto(sync_app: Resque) -> None:
    seen: list[tuple[str, Any]] = []

    class Plugin:
        @hookimpl
        def pyresque_before_enqueue(self, app: Any, job: Job) -> None:
            if job.args == (0, 0):
                raise DontEnqueue("no zeros")
            seen.append(("before", app))

        @hookimpl
        def pyresque_after_enqueue(self, job: Job) -> None:
            seen.append(("after", job.class_name))

    sync_app.plugins.register(Plugin())
    async with AsyncResque.from_app(sync_app) as aapp:
        await aapp.enqueue("q", jobs.Add, 1, 2)
        with pytest.raises(DontEnqueue):
            await aapp.enqueue("q", jobs.Add, 0, 0)
        assert seen == [("before", aapp), ("after", "Add")]
        assert await aapp.size("q") == 1


async def test_job_class_hooks_run(sync_app: Resque) -> None:
    class Vetoed:
        @classmethod
        def before_enqueue_check(cls, *args: Any) -> bool:
            return False

        def perform(self) -> None: ...

    sync_app.job(Vetoed, name="Vetoed")
    async with AsyncResque.from_app(sync_app) as aapp:
        with pytest.raises(DontEnqueue):
            await aapp.enqueue("q", Vetoed)
        assert await aapp.size("q") == 0


async def test_the_sync_apps_errors(aapp: AsyncResque) -> None:
    with pytest.raises(InvalidQueueName):
        await aapp.enqueue("a,b", jobs.Add)
    with pytest.raises(JobNotRegistered):
        await aapp.enqueue("q", lambda: None)
    with pytest.raises(EncodeError):
        await aapp.enqueue("q", jobs.Add, object())
    with pytest.raises(ConfigurationError):
        await aapp.enqueue("q", jobs.Add, retries=1)
    with pytest.raises(ConfigurationError):
        await aapp.enqueue("q", jobs.Add, track_status=True, payload_form="ruby")
    with pytest.raises(EncodeError):
        await aapp.enqueue_many([("q", jobs.Add, (1,)), ("q", jobs.Add, (object(),))])
    assert await aapp.size("q") == 0


async def test_bad_urls_and_options_are_one_line() -> None:
    with pytest.raises(UnknownBackendError, match="unknown backend scheme"):
        AsyncResque("http://localhost:6379")
    with pytest.raises(UnknownBackendError, match="port"):
        AsyncResque("redis://localhost:99999/0")
    with pytest.raises(ConfigurationError, match="failed list"):
        AsyncResque("fakeredis://", failure_backend="redis_multi_queue")


async def test_failures_of_another_store_are_refused_plainly(sync_app: Resque) -> None:
    sync_app.backend.failures = make_failure_store("redis_multi_queue", sync_app.backend)
    async with AsyncResque.from_app(sync_app) as aapp:
        await aapp.enqueue("q", jobs.Add, 1, 2)  # enqueueing still works
        with pytest.raises(ConfigurationError, match="failed"):
            aapp.failures  # noqa: B018


async def test_delayed_ids_tracking_and_removal_by_id(aapp: AsyncResque, sync_app: Resque) -> None:
    job_id = await aapp.enqueue_in(3600, "q", jobs.Add, 1, 2, track_status=True)
    info = await aapp.tracked(job_id).get()
    assert info is not None and info.status is JobStatus.WAITING and info.scheduled_at is not None
    assert [item.job.id for item in sync_app.find_delayed(lambda job: True) if item.job] == [job_id]
    assert await aapp.enqueue_in(3600, "q", jobs.Add, 3, 4, payload_form="ruby") == ""
    assert await aapp.remove_delayed_by_id(job_id) == 1
    assert await aapp.remove_delayed_by_id(job_id) == 0  # a repeat removes nothing
    assert await aapp.tracked(job_id).get() is None  # its WAITING status went with it
    assert await aapp.delayed_count() == 1
    with pytest.raises(ConfigurationError):
        await aapp.remove_delayed_by_id("not an id")


async def test_progress_and_tracked_outside_a_job(aapp: AsyncResque, sync_app: Resque) -> None:
    job_id = await aapp.enqueue("q", jobs.Add, 1, 2, track_status=True)
    assert await aapp.tracked(job_id).set_progress(1, 4, "a quarter") is False  # not running yet
    sync_app.backend.statuses.update(job_id, JobStatus.RUNNING)
    assert await aapp.tracked(job_id).set_progress(1, 4, "a quarter") is True
    info = await aapp.tracked(job_id).get()
    assert info is not None and (info.num, info.total, info.message) == (1, 4, "a quarter")
    assert sync_app.tracked(job_id).get() == info
    with pytest.raises(ConfigurationError):
        await aapp.tracked(job_id).set_progress(float("inf"))
    with pytest.raises(ConfigurationError, match="inside a running job"):
        aapp.tracked()


async def test_wait_times_out_on_fakeredis_too(aapp: AsyncResque) -> None:
    job_id = await aapp.enqueue("q", jobs.Add, 1, 2, track_status=True)
    with pytest.raises(WaitTimeout) as caught:
        await aapp.tracked(job_id).wait(0.05)
    assert caught.value.last.status is JobStatus.WAITING


async def test_backends_given_as_a_named_fake_or_a_sync_backend() -> None:
    sync = Resque("fakeredis://aio-shared")
    async with AsyncResque("fakeredis://aio-shared") as by_name, AsyncResque(sync.backend) as by_backend:
        await by_name.enqueue("q", "Foo::Bar", 1)
        await by_backend.enqueue("q", "Foo::Bar", 2)
        assert sync.size("q") == 2
        assert await by_name.size("q") == 2
    sync.close()
