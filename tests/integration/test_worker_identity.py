"""Faults around who holds a job: a job that will not stop in-process, a worker paused
past the prune interval, a worker that lost its registration with Redis's data, and
two live workers computing the same id (pid namespaces, ids colliding)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyresque import Resque
from pyresque.core.worker.watchdog import EXIT_STUCK
from tests.worker_proc import ROOT, client_of, failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis


def worker_keys(app: Resque) -> list[bytes]:
    return sorted(
        k for k in client_of(app).keys("resque:worker:*") if not k.startswith(b"resque:worker:ping")
    )


def prune_cli(redis_url: str) -> list[str]:
    """``pyresque prune --json``: the ids it pruned."""
    out = subprocess.run(
        [sys.executable, "-m", "pyresque", "prune", "--redis", redis_url, "--json"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(out.stdout)["pruned"])


# -- item 6: in-process hard deadline ------------------------------------------------------


def test_inprocess_job_that_ignores_its_timeout_is_failed_and_the_process_ends(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """A job that swallows its SIGALRM interrupt: at timeout + grace the watchdog records
    it failed (JobTimeoutError), unregisters and ends the process (exit 70); the job is
    neither lost nor left held (81558c3 stayed on it forever)."""
    trace = tmp_path / "t"
    app.enqueue("q", "stubborn", 60)
    proc = start_worker(redis_url, "q", "--mode", "inprocess", "--timeout", "1", trace=trace)
    began = time.monotonic()
    assert stop(proc, timeout=30) == EXIT_STUCK
    assert time.monotonic() - began < 25
    assert "ignored an interrupt" in trace_lines(trace)
    recs = failures(app)
    assert len(recs) == 1 and recs[0]["exception"] == "pyresque.JobTimeoutError"
    assert recs[0]["payload"]["class"] == "stubborn" and "did not stop" in recs[0]["error"]
    assert app.backend.workers.all() == [] and worker_keys(app) == []


def test_supervisor_replaces_a_process_the_watchdog_ended(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """Under COUNT the ended worker is restarted, and jobs keep running."""
    trace = tmp_path / "t"
    log = tmp_path / "w.log"
    app.enqueue("q", "stubborn", 60)
    args = ("--mode", "inprocess", "--timeout", "1", "--count", "2")
    proc = start_worker(redis_url, "q", *args, trace=trace, log=log)
    try:
        wait_for(lambda: len(failures(app)) == 1, timeout=30, what="the stuck job's failure")
        wait_for(lambda: "status 17920); restarting" in log.read_text(), timeout=30, what="the restart")
        for n in range(4):
            app.enqueue("q", "record", f"after {n}")
        wait_for(lambda: len(trace_lines(trace)) >= 4 + 2, timeout=30, what="jobs run after it")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc, timeout=30) == 0
    assert failures(app)[0]["exception"] == "pyresque.JobTimeoutError"
    assert app.backend.workers.all() == []


# -- item 9: a paused worker pruned --------------------------------------------------------


@pytest.mark.parametrize("mode", ["fork", "fork-every", "inprocess"])
def test_worker_paused_past_the_prune_interval_does_not_write_the_outcome(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """SIGSTOP a worker mid-job past the prune interval; another worker prunes it and
    fails its job. On SIGCONT the job finishes, but its success is not written as this
    worker's: one failure record, processed counted once (by the pruner), and the
    worker says so in its log (81558c3 also counted the success)."""
    trace = tmp_path / "t"
    log = tmp_path / "w.log"
    app.enqueue("q", "write_lease_sleeper", 2.0)
    args = ("--mode", mode, "--heartbeat-interval", "0.4", "--prune-interval", "1.5", "--jobs-per-child", "5")
    paused = start_worker(redis_url, "q", *args, trace=trace, log=log)
    try:
        wait_for(lambda: "started" in trace_lines(trace), timeout=20, what="the job start")
        os.kill(paused.pid, signal.SIGSTOP)
        for child in _children(paused.pid):
            os.kill(child, signal.SIGSTOP)
        time.sleep(2.5)  # heartbeat now stale, lease long lapsed
        pruner = start_worker(redis_url, "other", "--mode", "inprocess", "--burst", "--prune-interval", "1.5")
        assert stop(pruner, timeout=30) == 0
        recs = failures(app)
        assert len(recs) == 1 and recs[0]["exception"] == "pyresque.WorkerLost"
        for child in _children(paused.pid):
            os.kill(child, signal.SIGCONT)
        os.kill(paused.pid, signal.SIGCONT)
        wait_for(lambda: "finished" in trace_lines(trace), timeout=20, what="the job end")
        wait_for(lambda: "not recorded" in log.read_text(), timeout=20, what="the worker's warning")
    finally:
        with_cont(paused)
        paused.send_signal(signal.SIGQUIT)
        assert stop(paused, timeout=30) == 0
    assert len(failures(app)) == 1
    assert app.info().processed == 1  # the pruner's failure counts it; the late success does not
    assert app.backend.workers.all() == []


def with_cont(proc: subprocess.Popen[bytes]) -> None:
    for pid in [proc.pid, *_children(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


# -- item 8: registration lost with Redis's data -------------------------------------------


@pytest.mark.parametrize("mode", ["fork", "inprocess"])
def test_job_of_a_worker_killed_after_redis_lost_its_data_is_recovered(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """FLUSHALL under a running worker (Redis lost its data), then it takes a job and is
    killed before its heartbeat: the reserve registered it again in the same step, so
    pruning finds it and recovers the job (81558c3 left it held forever)."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, "q", "--mode", mode, trace=trace)
    wait_for(lambda: app.backend.workers.all(), what="registration")
    client_of(app).flushall()
    app.enqueue("q", "write_lease_sleeper", 30)
    wait_for(lambda: "started" in trace_lines(trace), timeout=20, what="the job start")
    wid = f"{socket.gethostname()}:{proc.pid}:q"
    assert app.backend.workers.all() == [wid]
    for pid in [*_children(proc.pid), proc.pid]:
        os.kill(pid, signal.SIGKILL)
    proc.wait(10)
    time.sleep(0.3)
    # the dead worker's lease lapses (3 x 5 s at most); a pruner on this host then sees its pid gone
    assert prune_cli(redis_url) == [wid]
    recs = failures(app)
    assert len(recs) == 1 and recs[0]["payload"]["class"] == "write_lease_sleeper"
    assert worker_keys(app) == []


def test_pruning_recovers_a_job_held_by_an_unregistered_worker(app: Resque, redis_url: str) -> None:
    """A worker:<id> record whose worker is not in the workers set (a release before this
    one, or another implementation) is found by pruning's bounded SCAN and recovered."""
    record = {
        "queue": "q",
        "run_at": "2020-01-01T00:00:00Z",
        "payload": {"class": "noop", "args": [1], "id": "a" * 32},
        "worker": "gone:7",
    }
    client_of(app).set("resque:worker:gone:7:q", json.dumps(record, separators=(",", ":")))
    client_of(app).set("resque:worker:gone:7:q:started", "2020-01-01 00:00:00 +0000")
    fresh = dict(record, run_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    client_of(app).set("resque:worker:young:8:q", json.dumps(fresh, separators=(",", ":")))
    assert prune_cli(redis_url) == ["gone:7:q"]
    recs = failures(app)
    assert (
        len(recs) == 1 and recs[0]["payload"]["args"] == [1] and recs[0]["exception"] == "pyresque.WorkerLost"
    )
    assert client_of(app).get("resque:worker:gone:7:q:started") is None
    assert client_of(app).exists("resque:worker:young:8:q")  # too young: another worker may be mid-write


# -- item 7: colliding ids -----------------------------------------------------------------


def _unshare_ok() -> bool:
    if shutil.which("unshare") is None:
        return False
    try:
        return (
            subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _start_pid1(redis_url: str, trace: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYRESQUE_TEST_TRACE"] = str(trace)
    cmd = ["unshare", "--pid", "--fork", "--kill-child", sys.executable, "-m", "pyresque", "worker",
           "--queue", "q", "--redis", redis_url, "--app-include", "tests.worker_jobs", "--mode", "inprocess",
           "--heartbeat-interval", "2"]  # fmt: skip
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=out)


@pytest.mark.skipif(not _unshare_ok(), reason="unshare --pid needs root or user namespaces")
def test_two_live_workers_with_the_same_id_take_unique_ids(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """Two workers that both run as pid 1 on this hostname (own pid namespaces, like
    containers with host networking): the second sees the id leased by a live process and
    takes host-<tag>:1:q. Then kill one, start it again, and run 400 jobs: every job runs
    exactly once (81558c3: lost and repeated jobs in 4 of 4 runs)."""
    trace = tmp_path / "t"
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    host = socket.gethostname()
    first = _start_pid1(redis_url, trace, logs[0])
    wait_for(lambda: app.backend.workers.all() == [f"{host}:1:q"], timeout=20, what="the first worker")
    second = _start_pid1(redis_url, trace, logs[1])
    try:
        wait_for(lambda: len(app.backend.workers.all()) == 2, timeout=30, what="the second worker")
        ids = app.backend.workers.all()
        assert f"{host}:1:q" in ids
        other = next(i for i in ids if i != f"{host}:1:q")
        assert other.startswith(f"{host}-") and other.endswith(":1:q")
        assert "in use by another live worker" in logs[1].read_text()
        for n in range(400):
            app.enqueue("q", "sleeper", 0.01, n)
        wait_for(lambda: app.size("q") < 300, timeout=30, what="jobs taken")
        first.kill()  # SIGKILL of unshare: --kill-child takes the worker down too
        first.wait(10)
        first = _start_pid1(redis_url, trace, logs[0])
        # once the killed one's lease lapses, the new pid 1 takes the id over (a pid 1
        # ignores signals it has no handler for: wait for it before the end sends TERM)
        wait_for(lambda: f"{host}:1:q" in app.backend.workers.all(), timeout=30, what="the restart")
        def drained() -> bool:
            held = client_of(app).mget([f"resque:worker:{i}" for i in app.backend.workers.all()] or ["-"])
            return app.size("q") == 0 and not any(held)

        wait_for(drained, timeout=60, what="the drain")
    finally:
        for p in (first, second):  # unshare forwards no signal: TERM the worker inside
            for pid in _children(p.pid):
                os.kill(pid, signal.SIGTERM)
        for p in (first, second):
            stop(p, timeout=30)
    runs = trace_lines(trace)
    done = [int(x) for x in runs]
    recovered = [f for f in failures(app) if f["payload"]["class"] == "sleeper"]
    ran_or_failed = set(done) | {f["payload"]["args"][1] for f in recovered}
    assert ran_or_failed == set(range(400)), "a job was lost"
    duplicates = len(done) - len(set(done))
    assert duplicates <= 1, f"{duplicates} jobs ran twice (only the one killed mid-run may)"
