"""Real signals to real worker processes: QUIT, TERM, INT, USR1, USR2/CONT, graceful TERM, COUNT."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import client_of, failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

MODES = ["fork", "fork-every", "inprocess"]


def worker_id(pid: int, queues: str = "q") -> str:
    return f"{socket.gethostname()}:{pid}:{queues}"


def wait_started(trace: Path, tag: str = "started") -> None:
    wait_for(lambda: tag in trace_lines(trace), what=f"the job to trace {tag!r}")


@pytest.mark.parametrize("mode", MODES)
def test_quit_finishes_the_running_job_then_exits(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """QUIT: the job in progress completes, nothing more is taken, the worker unregisters."""
    trace = tmp_path / "t"
    app.enqueue("q", "record", "started")
    app.enqueue("q", "sleeper", 1.0, "finished")
    app.enqueue("q", "record", "never")
    proc = start_worker(redis_url, "q", "--mode", mode, "--jobs-per-child", "1", trace=trace)
    wait_for(lambda: client_of(app).get(f"resque:worker:{worker_id(proc.pid)}") and app.size("q") == 1)
    proc.send_signal(signal.SIGQUIT)
    assert stop(proc) == 0
    assert trace_lines(trace) == ["started", "finished"]
    assert failures(app) == []
    assert app.size("q") == 1
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_term_and_int_stop_the_job_now_and_record_it(
    app: Resque, redis_url: str, mode: str, sig: signal.Signals, tmp_path: Path
) -> None:
    """TERM/INT: the running job is stopped at once, recorded failed, and the worker exits."""
    trace = tmp_path / "t"
    app.enqueue("q", "slow_forever")
    proc = start_worker(redis_url, "q", "--mode", mode, trace=trace)
    wait_started(trace)
    began = time.monotonic()
    proc.send_signal(sig)
    assert stop(proc) == 0
    assert time.monotonic() - began < 8
    recs = failures(app)
    assert len(recs) == 1 and recs[0]["payload"]["class"] == "slow_forever"
    assert recs[0]["exception"] in ("pyresque.ShutdownRequested", "pyresque.DirtyExit")
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("mode", MODES)
def test_usr1_stops_the_job_and_keeps_working(app: Resque, redis_url: str, mode: str, tmp_path: Path) -> None:
    """USR1: the running job is stopped and failed; the worker takes the next job."""
    trace = tmp_path / "t"
    app.enqueue("q", "slow_forever")
    app.enqueue("q", "record", "next")
    proc = start_worker(redis_url, "q", "--mode", mode, trace=trace)
    try:
        wait_started(trace)
        proc.send_signal(signal.SIGUSR1)
        wait_started(trace, "next")
        assert proc.poll() is None
        assert len(failures(app)) == 1
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


@pytest.mark.parametrize("mode", MODES)
def test_usr2_pauses_and_cont_resumes(app: Resque, redis_url: str, mode: str, tmp_path: Path) -> None:
    """USR2: no job is taken while paused; CONT: work resumes."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, "q", "--mode", mode, trace=trace)
    try:
        wait_for(lambda: worker_id(proc.pid) in app.backend.workers.all(), what="registration")
        proc.send_signal(signal.SIGUSR2)
        time.sleep(0.5)
        app.enqueue("q", "record", "after-pause")
        time.sleep(1.0)
        assert trace_lines(trace) == [] and app.size("q") == 1
        proc.send_signal(signal.SIGCONT)
        wait_started(trace, "after-pause")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


@pytest.mark.parametrize("mode", MODES)
def test_graceful_term_requeues_a_job_past_the_deadline(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """--graceful-term: TERM lets the job run until the deadline, then requeues it (no failure)."""
    trace = tmp_path / "t"
    app.enqueue("q", "slow_forever")
    proc = start_worker(redis_url, "q", "--mode", mode, "--graceful-term", "0.5", trace=trace)
    wait_started(trace)
    proc.send_signal(signal.SIGTERM)
    assert stop(proc) == 0
    assert failures(app) == []
    assert [j.class_name for j in app.peek("q", 0, 10)] == ["slow_forever"]
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("mode", MODES)
def test_graceful_term_lets_a_short_job_finish(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """--graceful-term: a job that ends before the deadline completes normally."""
    trace = tmp_path / "t"
    app.enqueue("q", "record", "started")
    app.enqueue("q", "sleeper", 0.5, "finished")
    proc = start_worker(redis_url, "q", "--mode", mode, "--graceful-term", "5", trace=trace)
    wait_started(trace)
    time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert stop(proc) == 0
    assert trace_lines(trace) == ["started", "finished"]
    assert failures(app) == [] and app.size("q") == 0


def test_supervisor_restarts_a_dead_worker_and_forwards_term(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """COUNT=2: two workers register; one killed is replaced; TERM stops them all."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, "q", "--mode", "fork", env={"COUNT": "2"}, trace=trace)
    try:
        ids = wait_for(
            lambda: (lambda w: w if len(w) == 2 else None)(app.backend.workers.all()), what="2 workers"
        )
        victim = int(ids[0].split(":")[1])  # type: ignore[index]
        os.kill(victim, signal.SIGKILL)

        def replaced() -> bool:
            now = app.backend.workers.all()
            alive = [w for w in now if w != ids[0]]  # type: ignore[index]
            return len(alive) == 2

        wait_for(replaced, timeout=20, what="a replacement worker")
        app.enqueue("q", "record", "ran")
        wait_for(lambda: "ran" in trace_lines(trace), what="the job to run")
        proc.send_signal(signal.SIGTERM)
        assert stop(proc) == 0
        remaining = [w for w in app.backend.workers.all() if w != ids[0]]  # type: ignore[index]
        assert remaining == []
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("mode", MODES)
def test_pause_all_workers_key_pauses_and_resumes(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """Ruby's pause-all-workers key set to 'true' stops reserving; deleting it resumes."""
    trace = tmp_path / "t"
    client_of(app).set("resque:pause-all-workers", "true")
    app.enqueue("q", "record", "ran")
    proc = start_worker(redis_url, "q", "--mode", mode, trace=trace)
    try:
        wait_for(lambda: worker_id(proc.pid) in app.backend.workers.all(), what="registration")
        time.sleep(1.5)
        assert trace_lines(trace) == [] and app.size("q") == 1
        client_of(app).delete("resque:pause-all-workers")
        wait_started(trace, "ran")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0
