"""Retries on a real redis-server through the real worker: errors, dirty exits, delays."""

from __future__ import annotations

import json
import os
import random
import signal
from typing import Any

import pytest
import redis

from pyresque import Resque
from pyresque.core.worker import Worker
from pyresque.hooks.builtin.retry import RetryPlugin
from pyresque.hooks.builtin.retry_policy import retry_identifier

#: redis-py >= 5.3 deprecates ``get_connection(command_name)``, which the worker's hot path
#: (``backends/redis/workers.py``) still calls; unrelated to what these tests check.
REDIS_PY_DEPRECATION = pytest.mark.filterwarnings("ignore:Call to 'get_connection':DeprecationWarning")

pytestmark = [pytest.mark.redis, REDIS_PY_DEPRECATION]


class Unlucky:
    """Always raises; three retries at once."""

    retry_limit = 3

    def perform(self, n: int) -> None:
        raise ConnectionError(f"unlucky {n}")


class Crasher:
    """Kills its own process (a child in fork mode): a dirty exit the parent reports."""

    retry_limit = 1

    def perform(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class Patient:
    """Retried through the delayed queue with a jittered exponential backoff."""

    retry_limit = 2
    retry_delay = 100
    retry_exponential_backoff = True
    retry_delay_multiplicand_min = 0.5
    retry_delay_multiplicand_max = 1.5

    def perform(self) -> None:
        raise TimeoutError("slow upstream")


@pytest.fixture
def app(redis_url: str) -> Any:
    """A redis-server app with a seeded retry plugin on a fixed clock."""
    resque = Resque(redis_url, plugins=[RetryPlugin(rng=random.Random(5), clock=lambda: 2_000_000_000.0)])
    for cls in (Unlucky, Crasher, Patient):
        resque.job(cls, name=cls.__name__)
    yield resque
    resque.close()


def _client(app: Resque) -> redis.Redis:
    client: redis.Redis = app.backend.client  # type: ignore[attr-defined]
    return client


def _failed(app: Resque) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in _client(app).lrange("resque:failed", 0, -1)]


def test_in_process_retries_until_the_limit_then_one_record(app: Resque) -> None:
    """Four runs (1 + 3 retries), each counted failed; one record with attempts 4; key gone."""
    app.enqueue("q", "Unlucky", 7)
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    (record,) = _failed(app)
    assert record["exception"] == "ConnectionError" and record["error"] == "unlucky 7"
    assert record["attempts"] == 4 and record["payload"]["args"] == [7]
    assert app.backend.stats.get("failed") == 4 and app.backend.stats.get("processed") == 4
    sha = retry_identifier([7])
    assert sha is not None
    assert not _client(app).exists(f"resque:resque-retry:Unlucky:{sha}")


def test_dirty_exit_in_fork_mode_is_retried_by_the_parent(app: Resque) -> None:
    """A child SIGKILLed mid-job: retried once (counter written by the child), then recorded."""
    app.enqueue("q", "Crasher")
    Worker(app, "q", mode="fork", burst=True, heartbeat_interval=0).work()
    (record,) = _failed(app)
    assert record["exception"] == "pyresque.DirtyExit" and "SIGKILL" in record["error"]
    assert record["attempts"] == 2
    assert app.size("q") == 0 and not _client(app).exists("resque:resque-retry:Crasher")


def test_delayed_retries_land_in_resque_scheduler_keys_on_an_exact_schedule(app: Resque) -> None:
    """Each failure schedules {"class","args","queue"} at ceil(now + 100*2**n*u), u from RNG(5)."""
    now = 2_000_000_000.0
    app.enqueue("q", "Patient")
    worker = Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0)
    worker.work()
    client = _client(app)
    reference = random.Random(5)
    first = -(-(now + 100 * reference.uniform(0.5, 1.5)) // 1)
    item = b'{"class":"Patient","args":[],"queue":"q"}'
    assert client.zrange("resque:delayed_queue_schedule", 0, -1, withscores=True) == [
        (str(int(first)).encode(), first)
    ]
    assert client.lrange(f"resque:delayed:{int(first)}", 0, -1) == [item]
    assert client.smembers(b"resque:timestamps:" + item) == {f"delayed:{int(first)}".encode()}
    assert client.get("resque:resque-retry:Patient") == b"0"
    # the scheduler would move it back; do it by hand and run the second attempt
    client.delete(
        f"resque:delayed:{int(first)}", "resque:delayed_queue_schedule", b"resque:timestamps:" + item
    )
    client.rpush("resque:queue:q", item)
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    second = -(-(now + 200 * reference.uniform(0.5, 1.5)) // 1)
    assert client.zrange("resque:delayed_queue_schedule", 0, -1) == [str(int(second)).encode()]
    assert client.get("resque:resque-retry:Patient") == b"1" and _failed(app) == []


class Slow:
    """Runs past its own timeout every time."""

    retry_limit = 1
    timeout = 0.2

    def perform(self) -> None:
        import time

        time.sleep(5)


class Once:
    """Succeeds; retried once if its worker dies under it."""

    retry_limit = 2

    def perform(self, path: str) -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{os.getpid()}\n")


@pytest.mark.parametrize("mode", ["inprocess", "fork"])
def test_timeouts_are_retried_then_recorded_with_attempts(app: Resque, mode: str) -> None:
    """A job past its timeout follows the retry policy: one retry, then a JobTimeoutError record."""
    app.job(Slow, name="Slow")
    app.enqueue("q", "Slow")
    Worker(app, "q", mode=mode, burst=True, heartbeat_interval=0).work()
    (record,) = _failed(app)
    assert record["exception"] == "pyresque.JobTimeoutError" and record["attempts"] == 2
    assert app.backend.stats.get("failed") == 2


def test_job_of_a_dead_worker_found_by_pruning_is_retried(app: Resque, tmp_path: Any) -> None:
    """WorkerLost from pruning goes through the policy: the job is re-run, no record is written."""
    import socket
    import subprocess
    import sys

    from pyresque.core import timefmt
    from pyresque.core.job import Job

    app.job(Once, name="Once")
    trace = tmp_path / "ran"
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_id = f"{socket.gethostname()}:{int(gone.stdout)}:q"
    job = Job.new("q", "Once", [str(trace)])
    app.backend.workers.register(dead_id, timefmt.ruby_time_to_s())  # type: ignore[attr-defined]
    held = {"queue": "q", "run_at": timefmt.utc_iso_z(), "payload": job.to_payload()}
    _client(app).set(f"resque:worker:{dead_id}", json.dumps(held))
    stand_in: Any = type("DeadWorker", (), {"app": app, "id": dead_id})()
    app.plugins.before_perform(stand_in, job)  # the dead worker had counted its run
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    assert trace.read_text().splitlines() == [str(os.getpid())]
    assert _failed(app) == [] and dead_id not in app.backend.workers.all()
    assert app.backend.stats.get("failed") == 1 and app.backend.stats.get("processed") == 2
    assert not _client(app).exists("resque:resque-retry:Once:" + str(retry_identifier([str(trace)])))


_ATTEMPTS: dict[str, int] = {}


class FlakyOnce:
    """Fails its first attempt, succeeds on the retry (at once, or delayed)."""

    retry_limit = 2

    def perform(self, key: str) -> str:
        _ATTEMPTS[key] = _ATTEMPTS.get(key, 0) + 1
        if _ATTEMPTS[key] == 1:
            raise ConnectionError("first attempt fails")
        return f"ok on attempt {_ATTEMPTS[key]}"


class FlakyLater(FlakyOnce):
    """FlakyOnce, retried through the delayed queue."""

    retry_delay = 60


def test_a_tracked_job_waited_for_ends_with_its_retry_not_its_first_failure(app: Resque) -> None:
    """After a failure that is retried the status is WAITING with no done notification
    (the retry sets WAITING, which the worker's FAIL leaves), so wait() blocks on and
    returns the retry's COMPLETE."""
    import threading

    app.job(FlakyOnce, name="FlakyOnce")
    job_id = app.enqueue("q", "FlakyOnce", "now", track_status=True)
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0, max_jobs=1).work()
    status = app.tracked(job_id).get()
    assert status is not None and status.status.name == "WAITING"
    assert not _client(app).exists(f"resque:job:{job_id}:status:done")
    assert app.size("q") == 1  # the retry
    seen: list[Any] = []
    waiter = threading.Thread(target=lambda: seen.append(app.tracked(job_id).wait(30)), daemon=True)
    waiter.start()
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    waiter.join(30)
    (info,) = seen
    assert info.status.name == "COMPLETE" and info.result == "ok on attempt 2"
    assert _failed(app) == []


def test_a_tracked_jobs_delayed_retry_keeps_its_id_and_status(app: Resque) -> None:
    """The delayed retry of a tracked job carries the job id (pyresque's id form), the
    status says WAITING meanwhile, and the retried run completes that same status."""
    app.job(FlakyLater, name="FlakyLater")
    job_id = app.enqueue("q", "FlakyLater", "later", track_status=True)
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    client = _client(app)
    (stamp,) = client.zrange("resque:delayed_queue_schedule", 0, -1)
    (item,) = client.lrange(b"resque:delayed:" + stamp, 0, -1)
    assert json.loads(item) == {"class": "FlakyLater", "args": ["later"], "queue": "q", "id": job_id}
    status = app.tracked(job_id).get()
    assert status is not None and status.status.name == "WAITING"
    assert not client.exists(f"resque:job:{job_id}:status:done")
    # the scheduler would move it back; do it by hand and run the retry
    client.delete(b"resque:delayed:" + stamp, "resque:delayed_queue_schedule")
    client.rpush("resque:queue:q", item)
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    info = app.tracked(job_id).wait(5)
    assert info is not None and info.status.name == "COMPLETE" and info.result == "ok on attempt 2"


def test_an_untracked_jobs_delayed_retry_stays_resque_retrys_bytes(app: Resque) -> None:
    """Without tracking the retry item is the id-free {"class","args","queue"} Ruby writes."""
    app.job(FlakyLater, name="FlakyLater")
    app.enqueue("q", "FlakyLater", "plain")
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    client = _client(app)
    (stamp,) = client.zrange("resque:delayed_queue_schedule", 0, -1)
    assert client.lrange(b"resque:delayed:" + stamp, 0, -1) == [
        b'{"class":"FlakyLater","args":["plain"],"queue":"q"}'
    ]
