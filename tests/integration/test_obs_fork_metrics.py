"""Worker-side metrics with jobs run in forked children: nothing a child counted is lost."""

from __future__ import annotations

import os
import signal
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pyresque import Resque
from pyresque.observability.metrics import multiprocess_registry
from tests.worker_proc import start_worker, stop, wait_for

pytestmark = pytest.mark.redis

APP = textwrap.dedent(
    """
    import os
    from pyresque import Resque
    from pyresque.observability.metrics import PrometheusMetrics
    import tests.worker_jobs as jobs

    app = Resque(os.environ["OBS_REDIS"], plugins=[PrometheusMetrics(multiprocess_dir=os.environ["OBS_DIR"])])
    jobs.register(app)
    """
)


def _scrape(directory: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(multiprocess_registry(str(directory))).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _sum(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **want: str) -> float:
    wanted = set(want.items())
    return sum(v for (n, labels), v in samples.items() if n == name and wanted <= set(labels))


@pytest.mark.parametrize("mode", ["fork", "fork-every", "count"])
def test_a_fork_mode_worker_loses_no_sample(app: Resque, redis_url: str, tmp_path: Path, mode: str) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    app_file = tmp_path / "obs_app.py"
    app_file.write_text(APP)
    for n in range(6):
        app.enqueue("obs", "noop", n)
    app.enqueue("obs", "boom")
    app.enqueue("obs", "kill_self")  # the child dies: the worker counts its failure
    for n in range(4):
        app.enqueue("obs", "noop", n)
    args = ["--app-include", str(app_file)]
    if mode == "count":  # a supervisor restarts a burst worker: stop it once all ran
        args += ["--count", "2", "--interval", "0.1"]
    else:
        args += ["--burst", "--mode", mode] + (["--jobs-per-child", "3"] if mode == "fork-every" else [])
    proc = start_worker(redis_url, "obs", *args, env={"OBS_REDIS": redis_url, "OBS_DIR": str(directory)})
    if mode == "count":
        wait_for(
            lambda: _sum(_scrape(directory), "resque_jobs_processed_total") == 12, 60, "12 jobs counted"
        )
        proc.send_signal(signal.SIGQUIT)
    assert stop(proc, timeout=60) == 0
    samples = _scrape(directory)
    assert _sum(samples, "resque_jobs_processed_total", outcome="success") == 10
    assert _sum(samples, "resque_jobs_processed_total", outcome="failure") == 2
    assert _sum(samples, "resque_jobs_processed_total", outcome="failure", **{"class": "kill_self"}) == 1
    assert _sum(samples, "resque_job_duration_seconds_count", **{"class": "noop"}) == 10
    assert _sum(samples, "resque_job_wait_seconds_count") == 12  # the killed child observed its wait too
    assert _sum(samples, "resque_jobs_in_progress") == 0
    names = {n for n, _ in samples}
    assert not any("pid" in dict(labels) or "worker" in dict(labels) for _, labels in samples)
    assert "resque_jobs_processed_total" in names
    files = os.listdir(directory)
    assert len(files) <= 3 * 8, files  # per worker process, not per child


class _Flaky:
    retry_limit = 1
    retry_delay = 0
    runs = 0

    def perform(self) -> None:
        type(self).runs += 1
        if type(self).runs == 1:
            raise RuntimeError("first run fails")


class _Doomed:
    retry_limit = 1
    retry_delay = 0

    def perform(self) -> None:
        raise RuntimeError("always")


def test_retries_and_recoveries_are_counted(redis_url: str) -> None:
    from prometheus_client import CollectorRegistry

    from pyresque.core.worker import Worker
    from pyresque.observability.metrics import PrometheusMetrics

    registry = CollectorRegistry()
    app = Resque(redis_url, plugins=[PrometheusMetrics(registry)])
    app.job(_Flaky, name="Flaky")
    app.job(_Doomed, name="Doomed")
    app.enqueue("obs", "Flaky")
    app.enqueue("obs", "Doomed")
    worker = Worker(app, "obs", mode="inprocess", burst=True)
    worker.work()

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    assert value("resque_jobs_retried_total") == 2  # Flaky once, Doomed once (then it gave up)
    assert value("resque_jobs_processed_total", queue="obs", outcome="failure", **{"class": "Doomed"}) == 2
    assert value("resque_jobs_processed_total", queue="obs", outcome="success", **{"class": "Flaky"}) == 1
    app.close()


def test_a_dead_workers_job_failed_by_pruning_is_recovered(redis_url: str) -> None:
    import json
    import socket
    import subprocess
    import sys

    from prometheus_client import CollectorRegistry

    from pyresque.core import timefmt
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker
    from pyresque.observability.metrics import PrometheusMetrics

    registry = CollectorRegistry()
    app = Resque(redis_url, plugins=[PrometheusMetrics(registry)])
    script = "import os; print(os.getpid())"
    gone = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    dead_id = f"{socket.gethostname()}:{int(gone.stdout)}:obs"  # a pid nobody runs any more
    job = Job.new("obs", "Lost", [])
    app.backend.workers.register(dead_id, timefmt.ruby_time_to_s())  # type: ignore[attr-defined]
    held = {"queue": "obs", "run_at": timefmt.utc_iso_z(), "payload": job.to_payload()}
    app.backend.client.set(f"resque:worker:{dead_id}", json.dumps(held))  # type: ignore[attr-defined]
    Worker(app, "obs", mode="inprocess", burst=True, heartbeat_interval=0).work()  # prunes it
    assert registry.get_sample_value("resque_jobs_recovered_total", {"queue": "obs"}) == 1
    app.close()
