"""``await tracked(id).wait(timeout)`` on a real redis-server: the sync client's protocol
(the worker's final status write pushes ``<status key>:done``; waiters BLMOVE it onto
itself), awaited without blocking the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import redis

from pyresque import AsyncResque, JobStatus, Resque, WaitTimeout
from pyresque.backends.redis.aio import AsyncRedisBackend
from pyresque.backends.redis.aio.connection import connect
from tests.worker_proc import start_worker, stop, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]


@pytest_asyncio.fixture
async def apps(redis_url: str) -> AsyncIterator[tuple[Resque, AsyncResque]]:
    sync = Resque(redis_url)
    async with AsyncResque.from_app(sync) as aapp:
        yield sync, aapp
    sync.close()


def blocked_waiters(redis_url: str) -> int:
    """How many clients are blocked in BLMOVE right now."""
    admin = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for c in admin.client_list() if c.get("cmd") == "blmove")
    finally:
        admin.close()


async def test_waiters_block_until_the_final_write_and_all_wake(
    apps: tuple[Resque, AsyncResque], redis_url: str
) -> None:
    sync, aapp = apps
    job_id = await aapp.enqueue("q", "Add", 1, 2, track_status=True)
    waiters = [asyncio.create_task(aapp.tracked(job_id).wait(30)) for _ in range(3)]
    # the loop is free while they wait: other calls go on
    assert await aapp.size("q") == 1
    await asyncio.to_thread(wait_for, lambda: blocked_waiters(redis_url) == 3, 15, "3 blocked waiters")
    sync.backend.statuses.update(job_id, JobStatus.RUNNING)
    assert not any(w.done() for w in waiters)
    sync.backend.statuses.update(job_id, JobStatus.COMPLETE, {"sum": 3})
    infos = await asyncio.gather(*waiters)
    assert [(i.status, i.result) for i in infos if i is not None] == [(JobStatus.COMPLETE, {"sum": 3})] * 3


async def test_a_real_worker_wakes_the_waiter(apps: tuple[Resque, AsyncResque], redis_url: str) -> None:
    _, aapp = apps
    job_id = await aapp.enqueue("waited", "Add", 20, 22, track_status=True)
    worker = start_worker(redis_url, "waited", "--burst")
    try:
        info = await aapp.tracked(job_id).wait(60)
    finally:
        stop(worker)
    assert info is not None and (info.status, info.result) == (JobStatus.COMPLETE, 42)


async def test_timeout_untracked_and_bad_timeouts(apps: tuple[Resque, AsyncResque]) -> None:
    _, aapp = apps
    job_id = await aapp.enqueue("q", "Add", 1, 2, track_status=True)
    with pytest.raises(WaitTimeout) as caught:
        await aapp.tracked(job_id).wait(0.2)
    assert caught.value.job_id == job_id and caught.value.last.status is JobStatus.WAITING
    assert await aapp.tracked("never-tracked").wait(5) is None
    for bad in (-1, float("nan"), "1"):
        with pytest.raises(Exception, match="timeout"):
            await aapp.tracked(job_id).wait(bad)  # type: ignore[arg-type]


async def test_a_cancelled_wait_writes_nothing(apps: tuple[Resque, AsyncResque], redis_url: str) -> None:
    _, aapp = apps
    job_id = await aapp.enqueue("q", "Add", 1, 2, track_status=True)
    admin = redis.Redis.from_url(redis_url)
    before = {k: admin.dump(k) for k in admin.scan_iter()}
    waiter = asyncio.create_task(aapp.tracked(job_id).wait(30))
    await asyncio.to_thread(wait_for, lambda: blocked_waiters(redis_url) == 1, 15, "a blocked waiter")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert {k: admin.dump(k) for k in admin.scan_iter()} == before
    admin.close()
    assert await aapp.size("q") == 1  # the client still works


async def test_blocks_are_cut_below_the_socket_timeout(redis_url: str) -> None:
    sync = Resque(redis_url)
    backend = AsyncRedisBackend(connect(redis_url, socket_timeout=0.5).client)
    async with AsyncResque(backend) as aapp:
        job_id = await aapp.enqueue("q", "Add", 1, 2, track_status=True)
        with pytest.raises(WaitTimeout):  # not a redis TimeoutError from a 1.5 s block
            await aapp.tracked(job_id).wait(1.5)
        sync.backend.statuses.update(job_id, JobStatus.FAILED)
        info = await aapp.tracked(job_id).wait(1.5)
        assert info is not None and info.status is JobStatus.FAILED
    sync.close()


async def test_a_connection_cut_while_blocked_is_read_again(
    apps: tuple[Resque, AsyncResque], redis_url: str
) -> None:
    sync, aapp = apps
    job_id = await aapp.enqueue("q", "Add", 1, 2, track_status=True)
    waiter = asyncio.create_task(aapp.tracked(job_id).wait(30))
    await asyncio.to_thread(wait_for, lambda: blocked_waiters(redis_url) == 1, 15, "a blocked waiter")
    admin = redis.Redis.from_url(redis_url)
    admin.client_kill_filter(_type="normal", skipme=True)  # the waiter's connection too
    admin.close()
    await asyncio.to_thread(wait_for, lambda: blocked_waiters(redis_url) == 1, 15, "the waiter blocked again")
    assert not waiter.done()
    sync.backend.statuses.update(job_id, JobStatus.COMPLETE, 3)
    info = await waiter
    assert info is not None and (info.status, info.result) == (JobStatus.COMPLETE, 3)
