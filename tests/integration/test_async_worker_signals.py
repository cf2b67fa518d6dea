"""The async worker's signals and recovery on a real redis-server: QUIT finishes every
running job, USR2/CONT pause and resume, and ``kill -9`` with N jobs held loses none
of them (``pyresque prune`` or the next worker recovers all N)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import ROOT, failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

J = "tests.worker_jobs."


def count(trace: Path, prefix: str) -> int:
    return sum(1 for line in trace_lines(trace) if line.startswith(prefix))


def test_quit_finishes_every_running_job_then_exits(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """QUIT with 6 jobs running (4 async, 2 sync): all 6 complete, none is recorded
    failed, the 2 still queued stay queued, every slot unregisters."""
    trace = tmp_path / "t"
    for i in range(4):
        app.enqueue("q", J + "aw_sleep", 1.5, i)
    for i in range(2):
        app.enqueue("q", J + "aw_sync_sleep", 1.5, f"s{i}")
    app.enqueue("q", J + "aw_sleep", 0, "queued-1")
    app.enqueue("q", J + "aw_sleep", 0, "queued-2")
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "6", trace=trace)
    wait_for(lambda: count(trace, "start") == 6, what="six jobs running")
    proc.send_signal(signal.SIGQUIT)
    assert stop(proc) == 0
    assert count(trace, "end") == 6
    assert failures(app) == []
    assert app.size("q") == 2
    assert app.backend.stats.get("processed") == 6
    assert app.backend.workers.all() == []


def test_usr2_pauses_and_cont_resumes(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """USR2: the running job finishes and nothing new is taken; CONT: work resumes."""
    trace, log = tmp_path / "t", tmp_path / "log"
    app.enqueue("q", J + "aw_sleep", 1.0, "running")
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "4", trace=trace, log=log)
    try:
        wait_for(lambda: count(trace, "start running") == 1, what="the first job")
        proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: "USR2: pausing" in log.read_text(), what="the pause")
        app.enqueue("q", J + "aw_sleep", 0, "after-pause")
        wait_for(lambda: count(trace, "end running") == 1, what="the running job to finish while paused")
        time.sleep(1.0)  # a window in which a paused worker must take nothing
        assert count(trace, "start after-pause") == 0 and app.size("q") == 1
        proc.send_signal(signal.SIGCONT)
        wait_for(lambda: count(trace, "end after-pause") == 1, what="the job after CONT")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0
    assert failures(app) == []


@pytest.mark.parametrize("recoverer", ["prune", "next-worker"])
def test_kill_9_with_n_jobs_held_loses_none(
    app: Resque, redis_url: str, tmp_path: Path, recoverer: str
) -> None:
    """kill -9 while 4 slots hold jobs (3 async, 1 sync): every one of the 4 is recovered
    (one WorkerLost/DirtyExit record each, under its slot's id) by ``pyresque prune`` or
    by the next worker's start-up prune, and no record or registration is left."""
    trace = tmp_path / "t"
    for i in range(3):
        app.enqueue("q", J + "aw_forever", i)
    app.enqueue("q", J + "aw_sync_forever", 3)
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "4", trace=trace)
    wait_for(lambda: len(app.backend.workers.working()) == 4, what="four held jobs")
    wait_for(lambda: count(trace, "running") == 4, what="four running jobs")
    ids = sorted(app.backend.workers.working())
    proc.kill()
    proc.wait(10)
    env_cmd = [sys.executable, "-m", "pyresque"]
    if recoverer == "prune":
        out = subprocess.run(
            [*env_cmd, "prune", "--redis", redis_url], cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
    else:
        nxt = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "2", "--burst")
        assert stop(nxt, 30) == 0
    records = failures(app)
    assert sorted(r["worker"] for r in records) == ids
    assert {r["exception"] for r in records} <= {"pyresque.WorkerLost", "pyresque.DirtyExit"}
    assert sorted(r["payload"]["args"][0] for r in records) == [0, 1, 2, 3]
    assert app.backend.workers.working() == {}
    assert not [w for w in app.backend.workers.all() if w.startswith(f"{socket.gethostname()}:{proc.pid}:")]
    assert app.size("q") == 0


def test_usr1_stops_the_running_jobs_and_keeps_working(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """USR1: the 2 running jobs are recorded failed (ShutdownRequested); the worker then
    takes the next job."""
    trace = tmp_path / "t"
    app.enqueue("q", J + "aw_forever", "a")
    app.enqueue("q", J + "aw_forever", "b")
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "2", trace=trace)
    try:
        wait_for(lambda: count(trace, "running") == 2, what="two running jobs")
        proc.send_signal(signal.SIGUSR1)
        wait_for(lambda: len(failures(app)) == 2, what="two failure records")
        app.enqueue("q", J + "aw_sleep", 0, "next")
        wait_for(lambda: count(trace, "end next") == 1, what="the next job")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0
    assert {f["exception"] for f in failures(app)} == {"pyresque.ShutdownRequested"}


def test_graceful_term_requeues_what_is_still_running(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """TERM with --graceful-term 1: a short job finishes, a long one is stopped past the
    deadline and requeued at the front of its queue (no failure record)."""
    trace = tmp_path / "t"
    app.enqueue("q", J + "aw_sleep", 0.2, "short")
    app.enqueue("q", J + "aw_forever", "long")
    proc = start_worker(
        redis_url, "q", "--mode", "async", "--concurrency", "2", "--graceful-term", "1", trace=trace
    )
    wait_for(lambda: count(trace, "running long") == 1 and count(trace, "start short") == 1)
    proc.terminate()
    assert stop(proc) == 0
    assert count(trace, "end short") == 1
    assert failures(app) == []
    assert app.size("q") == 1
    assert list(app.peek("q")[0].args) == ["long"]
    assert app.backend.workers.all() == []
