"""resque_jobs_recovered_total counts every job pruning releases from a dead worker,
requeued or failed, exactly once, also when the release's reply is lost and the prune
step is repeated (a real redis-server; the fault is injected around the release)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("prometheus_client")

import redis
from prometheus_client import CollectorRegistry

from pyresque import Resque, hookimpl
from pyresque.core import timefmt
from pyresque.core.job import Job
from pyresque.core.worker import Worker
from pyresque.core.worker.pruning import prune_dead_workers
from pyresque.observability.metrics import PrometheusMetrics

pytestmark = pytest.mark.redis


class Told:
    """Records every after_recover call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str, bool, str]] = []

    @hookimpl
    def pyresque_after_recover(
        self, job: Job | None, queue: str, requeued: bool, exception: BaseException
    ) -> None:
        self.calls.append((job.id if job else None, queue, requeued, type(exception).__name__))


def _dead_worker(app: Resque) -> tuple[str, Job]:
    """A registered worker on this host whose pid is gone, holding a job of queue ``obs``."""
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_id = f"{socket.gethostname()}:{int(gone.stdout)}:obs"
    job = Job.new("obs", "Lost", [])
    app.backend.workers.register(dead_id, timefmt.ruby_time_to_s())  # type: ignore[attr-defined]
    held = {"queue": "obs", "run_at": timefmt.utc_iso_z(), "payload": job.to_payload()}
    app.backend.client.set(f"resque:worker:{dead_id}", json.dumps(held))  # type: ignore[attr-defined]
    return dead_id, job


def _setup(redis_url: str) -> tuple[Resque, CollectorRegistry, Told]:
    registry = CollectorRegistry()
    told = Told()
    app = Resque(redis_url, plugins=[PrometheusMetrics(registry), told])
    return app, registry, told


def _recovered(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("resque_jobs_recovered_total", {"queue": "obs"}) or 0.0


@pytest.mark.parametrize("recover", ["requeue", "fail"])
def test_a_pruned_job_is_counted_once_requeued_or_failed(redis_url: str, recover: str) -> None:
    app, registry, told = _setup(redis_url)
    _, job = _dead_worker(app)
    pruner = Worker(app, "other", mode="inprocess", heartbeat_interval=0, recover=recover)
    assert len(prune_dead_workers(pruner)) == 1
    assert _recovered(registry) == 1
    assert told.calls == [(job.id, "obs", recover == "requeue", "WorkerLost")]
    client = redis.Redis.from_url(redis_url)
    assert client.llen("resque:queue:obs") == (1 if recover == "requeue" else 0)
    assert client.llen("resque:failed") == (0 if recover == "requeue" else 1)
    client.close()
    app.close()


def _faulty(app: Resque, monkeypatch: pytest.MonkeyPatch, *, ran: bool) -> list[int]:
    """The first release raises a connection error: after running (``ran``: its reply
    was lost) or before (the command never reached Redis)."""
    workers = app.backend.workers
    real: Callable[..., bool] = workers.recover
    calls: list[int] = []

    def recover(*args: Any, **kwargs: Any) -> bool:
        calls.append(1)
        if len(calls) == 1:
            if ran:
                real(*args, **kwargs)
            raise redis.ConnectionError("connection reset by peer (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(workers, "recover", recover)
    return calls


@pytest.mark.parametrize("recover", ["requeue", "fail"])
@pytest.mark.parametrize("ran", [True, False], ids=["reply-lost", "never-sent"])
def test_a_release_whose_reply_is_lost_is_counted_once(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, recover: str, ran: bool
) -> None:
    app, registry, told = _setup(redis_url)
    dead_id, job = _dead_worker(app)
    calls = _faulty(app, monkeypatch, ran=ran)
    pruner = Worker(app, "other", mode="inprocess", heartbeat_interval=0, recover=recover)
    pruned = pruner.with_backend(lambda: prune_dead_workers(pruner))  # repeats the step after the error
    assert pruned == [dead_id]
    assert len(calls) == (1 if ran else 2)  # a release that ran is never sent again
    assert _recovered(registry) == 1
    assert told.calls == [(job.id, "obs", recover == "requeue", "WorkerLost")]
    client = redis.Redis.from_url(redis_url)
    assert client.llen("resque:queue:obs") == (1 if recover == "requeue" else 0)
    assert client.llen("resque:failed") == (0 if recover == "requeue" else 1)
    assert client.get(f"resque:worker:{dead_id}") is None
    client.close()
    app.close()
