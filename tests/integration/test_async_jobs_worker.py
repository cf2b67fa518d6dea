"""``async def`` jobs in real worker processes on a real redis-server, in every sync mode:
fork per job, fork every N (``--mode fork-every --jobs-per-child``), in-process."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

J = "tests.worker_jobs."
MODES = {
    "fork": ["--mode", "fork"],
    "fork-every": ["--mode", "fork-every", "--jobs-per-child", "3"],
    "inprocess": ["--mode", "inprocess"],
}


def _run(app: Resque, redis_url: str, mode: str, tmp_path: Path) -> list[str]:
    trace = tmp_path / "trace"
    proc = start_worker(redis_url, "q", *MODES[mode], "--burst", trace=trace, log=tmp_path / "log")
    assert stop(proc, timeout=60) == 0, (tmp_path / "log").read_text()
    return trace_lines(trace)


@pytest.mark.parametrize("mode", list(MODES))
def test_async_jobs_run_fail_and_report_context(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    added = app.enqueue("q", J + "async_add", 2, 3, track_status=True)
    steps = app.enqueue("q", J + "AsyncSteps", False, track_status=True)
    app.enqueue("q", J + "AsyncSteps", True)
    app.enqueue("q", J + "async_boom", "async went wrong")
    ctx_async = app.enqueue("q", J + "async_context")
    ctx_sync = app.enqueue("q", J + "sync_context")
    lines = _run(app, redis_url, mode, tmp_path)

    assert app.tracked(added).status.name == "COMPLETE"
    assert app.tracked(added).get().result == 5  # type: ignore[union-attr]
    assert app.tracked(steps).get().result == "steps done"  # type: ignore[union-attr]
    assert [line for line in lines if line.startswith("steps")] == [
        "steps set_up",
        "steps perform False",
        "steps tear_down",
        "steps set_up",
        "steps perform True",
        "steps tear_down",
    ]
    errors = sorted((f["exception"], f["error"]) for f in failures(app))
    assert errors == [("RuntimeError", "async went wrong"), ("ValueError", "steps failed")]

    words = [line.split() for line in lines]
    ctx = {w[0]: w[1:] for w in words if w[0] in ("async", "async-child", "sync")}
    assert ctx["async"][:3] == [J + "async_context", ctx_async, "q"]
    assert ctx["async-child"][:3] == [J + "async_context", ctx_async, "q"]
    assert ctx["sync"][:3] == [J + "sync_context", ctx_sync, "q"]
    if mode == "inprocess":  # the job ran in the worker itself: its id names this pid
        assert ctx["async"][3] == ctx["async"][4]


@pytest.mark.parametrize("mode", list(MODES))
def test_an_async_timeout_is_a_failure_record_in_every_way_it_can_overrun(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    for how in ("sleep", "swallow", "block"):
        app.enqueue("q", J + "AsyncSlow", how)
    app.enqueue("q", J + "async_add", 1, 1)  # the worker goes on after them
    lines = _run(app, redis_url, mode, tmp_path)
    records = failures(app)
    assert [r["payload"]["args"][0] for r in records] == ["sleep", "swallow", "block"]
    assert {r["exception"] for r in records} == {"pyresque.JobTimeoutError"}
    assert not any("NOT STOPPED" in line for line in lines)
    assert "slow sleep cancelled" in lines and "slow swallow cancelled" in lines
    assert any(line.startswith("async_add") for line in lines)
    assert app.size("q") == 0


@pytest.mark.parametrize("mode", list(MODES))
def test_tasks_left_running_are_cancelled_with_their_job(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    app.enqueue("q", J + "async_leaky")
    app.enqueue("q", J + "async_add", 1, 2)
    lines = _run(app, redis_url, mode, tmp_path)
    assert "leftover cancelled" in lines
    assert "leftover SURVIVED its job" not in lines


def test_one_loop_per_process_reused_across_its_jobs(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """fork-every: the jobs of one child share its loop; no child runs its parent's."""
    for n in range(3):
        app.enqueue("q", J + "async_loop_id", str(n))
    lines = [line.split() for line in _run(app, redis_url, "fork-every", tmp_path) if line.startswith("loop")]
    assert len(lines) == 3
    assert len({(pid, loop) for _, _, pid, loop in lines}) == 1  # one child, one loop


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_term_and_int_stop_a_running_async_job_and_record_it(
    app: Resque, redis_url: str, mode: str, sig: signal.Signals, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    app.enqueue("q", J + "async_sleeper", 60, "finished")
    proc = start_worker(redis_url, "q", *MODES[mode], trace=trace, log=tmp_path / "log")
    wait_for(lambda: "started" in trace_lines(trace), what="the job to start")
    proc.send_signal(sig)
    assert stop(proc) == 0
    records = failures(app)
    assert len(records) == 1
    assert records[0]["exception"] in ("pyresque.ShutdownRequested", "pyresque.DirtyExit")
    assert "finished" not in trace_lines(trace)
    if mode == "inprocess":  # the interrupt lands in the loop: the job's task is cancelled
        assert "cleaned up" in trace_lines(trace)
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("mode", list(MODES))
def test_quit_lets_a_running_async_job_finish(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    app.enqueue("q", J + "async_sleeper", 1.0, "finished")
    app.enqueue("q", J + "async_add", 1, 1)
    proc = start_worker(redis_url, "q", *MODES[mode], "--jobs-per-child", "1", trace=trace)
    wait_for(lambda: "started" in trace_lines(trace), what="the job to start")
    proc.send_signal(signal.SIGQUIT)
    assert stop(proc) == 0
    assert trace_lines(trace) == ["started", "finished", "cleaned up"]
    assert failures(app) == [] and app.size("q") == 1
