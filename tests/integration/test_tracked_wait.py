"""``app.tracked(id).wait(timeout)`` against a real redis-server (issue 11).

Waiters block on Redis (BLMOVE of the job's ``:done`` notification onto itself), so
the tests first see them blocked (``INFO clients``), then finish the job.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from pyresque import JobStatus, Resque, StatusInfo, WaitTimeout
from pyresque.backends.redis import RedisBackend
from pyresque.testing import drain
from tests.faults import no_retry_client
from tests.redis_server import RedisServer
from tests.worker_proc import client_of, start_worker, stop, wait_for


def _blocked(app: Resque) -> int:
    return int(client_of(app).info("clients")["blocked_clients"])


def _waiters(
    app: Resque, job_id: str, n: int, timeout: float = 30
) -> tuple[list[threading.Thread], list[Any]]:
    out: list[Any] = []

    def wait() -> None:
        try:
            out.append(app.tracked(job_id).wait(timeout))
        except Exception as exc:  # handed to the test
            out.append(exc)

    threads = [threading.Thread(target=wait, daemon=True) for _ in range(n)]
    for thread in threads:
        thread.start()
    return threads, out


def test_every_waiter_wakes_with_the_final_status_and_result(app: Resque) -> None:
    """Three waiters blocked on one job all get COMPLETE with the job's return value."""

    @app.job(name="Add")
    def add(a: int, b: int) -> int:
        return a + b

    job_id = app.enqueue("q", add, 2, 3, track_status=True)
    threads, out = _waiters(app, job_id, 3)
    wait_for(lambda: _blocked(app) == 3, what="three blocked waiters")
    drain(app)
    for thread in threads:
        thread.join(15)
    assert len(out) == 3
    assert all(isinstance(i, StatusInfo) and i.status is JobStatus.COMPLETE and i.result == 5 for i in out)


def test_a_failed_job_wakes_its_waiter_with_failed(app: Resque) -> None:
    """FAILED is final too (the FAIL script pushes the notification)."""

    @app.job(name="Boom")
    def boom() -> None:
        raise RuntimeError("no")

    job_id = app.enqueue("q", boom, track_status=True)
    threads, out = _waiters(app, job_id, 1)
    wait_for(lambda: _blocked(app) == 1, what="a blocked waiter")
    drain(app, raise_errors=False)
    threads[0].join(15)
    assert [i.status for i in out] == [JobStatus.FAILED]


def test_a_finished_job_returns_at_once_and_an_untracked_one_none(app: Resque) -> None:
    """Already final: the status, without blocking; no status at all: None."""

    @app.job(name="One")
    def one() -> int:
        return 1

    job_id = app.enqueue("q", one, track_status=True)
    drain(app)
    info = app.tracked(job_id).wait(0)
    assert info is not None and info.status is JobStatus.COMPLETE and info.result == 1
    untracked = app.enqueue("q", one)
    assert app.tracked(untracked).wait(5) is None


def test_a_timeout_raises_wait_timeout_with_the_last_status(app: Resque) -> None:
    """Not finished in time: WaitTimeout (a TimeoutError) holding the WAITING status."""
    job_id = app.enqueue("q", "Later", track_status=True)
    with pytest.raises(WaitTimeout) as caught:
        app.tracked(job_id).wait(0.2)
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.job_id == job_id
    assert caught.value.last is not None and caught.value.last.status is JobStatus.WAITING


def test_a_wait_longer_than_the_socket_timeout_is_cut_below_it(redis_url: str) -> None:
    """A client with a 0.3 s socket timeout waits 1.2 s without a redis TimeoutError."""
    client = redis.Redis.from_url(redis_url, socket_timeout=0.3)
    app = Resque(RedisBackend(client))
    job_id = app.enqueue("q", "Later", track_status=True)
    with pytest.raises(WaitTimeout):
        app.tracked(job_id).wait(1.2)


def test_a_notification_left_by_an_earlier_run_does_not_wake_a_new_waiter(app: Resque) -> None:
    """A job that finished, then went back to a non-final status under the same id: the
    non-final write clears the notification, and one left anyway (a stale one) is
    dropped by the waiter, which then blocks until its timeout."""

    @app.job(name="Twice")
    def twice() -> str:
        return "ok"

    job_id = app.enqueue("q", twice, track_status=True, job_id="twice-1")
    drain(app)
    done = f"resque:job:{job_id}:status:done"
    assert client_of(app).exists(done) == 1
    app.backend.statuses.update(job_id, JobStatus.WAITING)  # queued again: not final
    assert client_of(app).exists(done) == 0
    client_of(app).rpush(done, "4:1")  # a stale notification all the same
    with pytest.raises(WaitTimeout):
        app.tracked(job_id).wait(0.3)
    assert client_of(app).exists(done) == 0


def test_a_worker_process_wakes_the_waiter(app: Resque, redis_url: str) -> None:
    """A real forking worker: its final status write wakes a blocked waiter."""
    job_id = app.enqueue("wait_q", "sleeper", 0.05, track_status=True)
    threads, out = _waiters(app, job_id, 1)
    wait_for(lambda: _blocked(app) == 1, what="a blocked waiter")
    proc = start_worker(redis_url, "wait_q", "--burst")
    assert stop(proc, 60) == 0
    threads[0].join(15)
    assert [(i.status, i.result) for i in out] == [(JobStatus.COMPLETE, "slept")]


def test_untracked_jobs_write_no_notification(app: Resque) -> None:
    """Only tracked jobs get a :done key (the untracked hot path is unchanged)."""

    @app.job(name="Plain")
    def plain() -> None:
        return None

    app.enqueue("q", plain)
    drain(app)
    assert client_of(app).keys("*:done") == []


def test_a_waiter_whose_connection_is_cut_blocks_again_and_still_wakes(app: Resque) -> None:
    """The blocked connection is killed (a lost reply): the waiter reconnects, blocks
    again, and gets the final status; the notification was never consumed."""

    @app.job(name="Cut")
    def cut() -> str:
        return "after the cut"

    job_id = app.enqueue("q", cut, track_status=True)
    threads, out = _waiters(app, job_id, 1)
    wait_for(lambda: _blocked(app) == 1, what="a blocked waiter")
    admin = redis.Redis.from_url(app.backend.describe())
    admin.client_kill_filter(_type="normal", skipme=True)
    wait_for(lambda: _blocked(app) == 1 and not out, what="the waiter blocked again")
    drain(app)
    threads[0].join(15)
    assert [(i.status, i.result) for i in out] == [(JobStatus.COMPLETE, "after the cut")]


def test_a_redis_that_stalls_past_the_socket_timeout_does_not_end_the_wait() -> None:
    """A paused server makes the block's read time out (redis.TimeoutError, which is not
    a ConnectionError): the waiter reads again once it answers, and still wakes. (The
    client repeats nothing itself, as a user may configure it.)"""
    server = RedisServer()
    server.start()
    try:
        client = no_retry_client(server.port, socket_timeout=0.5)
        app = Resque(RedisBackend(client))

        @app.job(name="Add")
        def add(a: int, b: int) -> int:
            return a + b

        job_id = app.enqueue("q", add, 1, 1, track_status=True)
        threads, out = _waiters(app, job_id, 1, timeout=30)
        blocked = lambda: int(server.client().info("clients")["blocked_clients"])  # noqa: E731
        wait_for(lambda: blocked() == 1, what="a blocked waiter")
        server.sigstop()
        try:
            threading.Event().wait(1.5)  # the waiter's read times out meanwhile
        finally:
            server.sigcont()
        assert out == []  # still waiting, not ended by the timeout
        drain(app)
        threads[0].join(15)
        assert len(out) == 1 and isinstance(out[0], StatusInfo), out
        assert out[0].status is JobStatus.COMPLETE and out[0].result == 2
        app.close()
    finally:
        server.stop()
