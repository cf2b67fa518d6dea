"""Control through Redis of a real async worker (``--mode async --concurrency N``):
quiet, stop, per-queue pause, and commands it must ignore.

Commands are written as raw Redis values (``worker:<slot id>:control`` =
``<command> <nonce>``, the nonce read from that slot's lease), so what fails on a worker
that does not read them is the behaviour, not an import.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import client_of, failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

J = "tests.worker_jobs."
FAST = ("--heartbeat-interval", "1")  # a lease refresh (and a command read) every 0.25 s


def slot_id(pid: int, n: int, queues: str = "q") -> str:
    return f"{socket.gethostname()}:{pid}:{queues}:{n}"


def nonce_of(app: Resque, wid: str) -> str | None:
    lease = client_of(app).get(f"resque:worker:{wid}:lease")
    return None if lease is None else lease.decode().split(":", 1)[0]


def send_raw(app: Resque, wid: str, command: str, nonce: str | None = None) -> None:
    """Write a command the way the control client does: for the lease's nonce, with a TTL."""
    nonce = nonce or nonce_of(app, wid)
    assert nonce is not None, "the slot holds no lease"
    client_of(app).set(f"resque:worker:{wid}:control", f"{command} {nonce}", ex=300)


def started(trace: Path, kind: str = "start") -> int:
    return len([line for line in trace_lines(trace) if line.startswith(kind + " ")])


def test_quiet_lets_every_running_job_finish_then_exits(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """A quiet for one slot: both running jobs (async and sync) finish, the queued one
    stays queued, exit 0, every slot unregistered."""
    trace = tmp_path / "t"
    app.enqueue("q", J + "aw_sleep", 1.5, "one")
    app.enqueue("q", J + "aw_sync_sleep", 1.5, "two")
    app.enqueue("q", J + "record", "never")  # no slot is free for it
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "2", *FAST, trace=trace)
    wait_for(lambda: started(trace) == 2 and nonce_of(app, slot_id(proc.pid, 1)) is not None)
    send_raw(app, slot_id(proc.pid, 1), "quiet")
    assert stop(proc) == 0
    assert started(trace, "end") == 2
    assert "never" not in trace_lines(trace)
    assert failures(app) == []
    assert client_of(app).llen("resque:queue:q") == 1
    assert app.backend.workers.all() == []


def test_stop_records_the_running_jobs_failed(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """A stop for one slot: every running job is stopped now, each recorded failed under
    its slot, exit 0."""
    trace = tmp_path / "t"
    app.enqueue("q", J + "aw_forever", 0)
    app.enqueue("q", J + "aw_sync_forever", 1)
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "2", *FAST, trace=trace)
    ids = [slot_id(proc.pid, n) for n in range(2)]
    wait_for(lambda: started(trace, "running") == 2 and nonce_of(app, ids[0]) is not None)
    send_raw(app, ids[0], "stop")
    assert stop(proc) == 0
    failed = failures(app)
    assert sorted(f["worker"] for f in failed) == ids
    assert {f["exception"] for f in failed} == {"pyresque.ShutdownRequested"}
    assert started(trace, "finished") == 0
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("queues", ["a,b", "*"])
def test_a_paused_queue_is_skipped_while_another_runs_and_resume_brings_it_back(
    app: Resque, redis_url: str, queues: str, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    r = client_of(app)
    r.sadd("resque:paused-queues", "a")  # what `pyresque queues pause a` writes
    app.enqueue("a", J + "record", "a1")
    app.enqueue("b", J + "record", "b1")
    proc = start_worker(
        redis_url, queues, "--mode", "async", "--concurrency", "2", "--interval", "0.2", *FAST, trace=trace
    )
    try:
        wait_for(lambda: "b1" in trace_lines(trace), what="the unpaused queue to run")
        app.enqueue("b", J + "record", "b2")  # b goes on, a is still skipped after it
        wait_for(lambda: "b2" in trace_lines(trace), what="the unpaused queue to run again")
        assert "a1" not in trace_lines(trace)
        assert app.size("a") == 1
        r.srem("resque:paused-queues", "a")  # `pyresque queues resume a`
        wait_for(lambda: "a1" in trace_lines(trace), what="the resumed queue to run")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


def test_a_command_for_another_id_or_an_old_nonce_is_ignored(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """A stop for an id that is not one of its slots (this nonce) and a stop for one of
    its slots but an earlier instance's nonce: the worker goes on taking jobs; a quiet
    for this instance then ends it."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "2", *FAST, trace=trace)
    ids = [slot_id(proc.pid, n) for n in range(2)]
    r = client_of(app)
    try:
        wait_for(lambda: nonce_of(app, ids[0]) is not None)
        nonce = nonce_of(app, ids[0])
        send_raw(app, slot_id(proc.pid, 7), "stop", nonce)  # not a slot of this worker
        send_raw(app, ids[1], "stop", "0123456789ab")  # an earlier process with this id

        def seq() -> int:
            lease = r.get(f"resque:worker:{ids[0]}:lease")
            return int(lease.decode().split(":")[1]) if lease else 0

        first = seq()
        wait_for(lambda: seq() >= first + 3, what="three lease refreshes (three command reads)")
        app.enqueue("q", J + "record", "after")
        wait_for(lambda: "after" in trace_lines(trace), what="the worker to go on")
        assert proc.poll() is None
        assert sorted(app.backend.workers.all()) == ids
        send_raw(app, ids[0], "quiet")  # one for this instance is obeyed
        assert stop(proc) == 0
        assert app.backend.workers.all() == []
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)
            stop(proc)
