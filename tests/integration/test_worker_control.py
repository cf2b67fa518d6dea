"""Control through Redis of real pyresque worker processes: quiet, stop, per-queue pause.

The commands are written here as raw Redis values (``worker:<id>:control`` =
``<command> <nonce>``, the nonce read from the worker's lease) as well as through
``app.workers_control``, so that the behaviour, not just an import, is what fails on a
worker that does not read them.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from pyresque import Resque
from pyresque.core.worker import Worker
from tests.worker_proc import client_of, failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

MODES = ["fork", "fork-every", "inprocess"]
FAST = ("--heartbeat-interval", "1")  # a lease refresh (and a command read) every 0.25 s


def worker_id(pid: int, queues: str = "q") -> str:
    return f"{socket.gethostname()}:{pid}:{queues}"


def send_raw(app: Resque, wid: str, command: str) -> None:
    """Write a command the way the control client does: for the lease's nonce, with a TTL."""
    r = client_of(app)
    lease = r.get(f"resque:worker:{wid}:lease")
    assert lease is not None, "the worker holds no lease"
    nonce = lease.decode().split(":", 1)[0]
    r.set(f"resque:worker:{wid}:control", f"{command} {nonce}", ex=300)


def leased(app: Resque, wid: str) -> bool:
    return client_of(app).get(f"resque:worker:{wid}:lease") is not None


@pytest.mark.parametrize("mode", MODES)
def test_quiet_lets_the_running_job_finish_then_exits_and_unregisters(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    app.enqueue("q", "record", "started")
    app.enqueue("q", "sleeper", 1.5, "finished")
    app.enqueue("q", "record", "never")
    proc = start_worker(redis_url, "q", "--mode", mode, "--jobs-per-child", "1", *FAST, trace=trace)
    wid = worker_id(proc.pid)
    wait_for(lambda: "started" in trace_lines(trace) and leased(app, wid) and app.size("q") == 1)
    send_raw(app, wid, "quiet")
    assert stop(proc) == 0
    assert trace_lines(trace) == ["started", "finished"]
    assert failures(app) == []
    assert app.size("q") == 1
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("mode", MODES)
def test_stop_stops_the_running_job_and_records_it_failed(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    app.enqueue("q", "slow_forever")
    app.enqueue("q", "record", "never")
    proc = start_worker(redis_url, "q", "--mode", mode, *FAST, trace=trace)
    wid = worker_id(proc.pid)
    wait_for(lambda: "started" in trace_lines(trace) and leased(app, wid))
    send_raw(app, wid, "stop")
    assert stop(proc) == 0
    failed = failures(app)
    assert [f["payload"]["class"] for f in failed] == ["slow_forever"]
    assert "never" not in trace_lines(trace)
    assert app.backend.workers.all() == []


@pytest.mark.parametrize("mode", ["inprocess", "fork-every"])  # fork-every: the child reserves too
@pytest.mark.parametrize("queues", ["a,b", "*"])
def test_a_paused_queue_is_skipped_while_others_run_and_resume_brings_it_back(
    app: Resque, redis_url: str, queues: str, mode: str, tmp_path: Path
) -> None:
    trace = tmp_path / "t"
    r = client_of(app)
    r.sadd("resque:paused-queues", "a")  # what `pyresque queues pause a` writes
    app.enqueue("a", "record", "a1")
    app.enqueue("b", "record", "b1")
    proc = start_worker(redis_url, queues, "--mode", mode, "--interval", "0.2", *FAST, trace=trace)
    try:
        wait_for(lambda: "b1" in trace_lines(trace), what="the unpaused queue to run")
        app.enqueue("b", "record", "b2")  # b goes on, a is still skipped after it
        wait_for(lambda: "b2" in trace_lines(trace), what="the unpaused queue to run again")
        assert "a1" not in trace_lines(trace)
        assert app.size("a") == 1
        r.srem("resque:paused-queues", "a")  # `pyresque queues resume a`
        wait_for(lambda: "a1" in trace_lines(trace), what="the resumed queue to run")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


def test_a_command_for_another_worker_is_ignored(app: Resque, redis_url: str, tmp_path: Path) -> None:
    trace = tmp_path / "t"
    one = start_worker(redis_url, "q", "--mode", "inprocess", *FAST, trace=trace)
    two = start_worker(redis_url, "q", "--mode", "inprocess", *FAST, trace=trace)
    try:
        wait_for(lambda: leased(app, worker_id(one.pid)) and leased(app, worker_id(two.pid)))
        send_raw(app, worker_id(one.pid), "quiet")
        assert stop(one) == 0
        assert app.backend.workers.all() == [worker_id(two.pid)]
        app.enqueue("q", "record", "after")
        wait_for(lambda: "after" in trace_lines(trace), what="the other worker to go on")
        assert two.poll() is None
    finally:
        two.send_signal(signal.SIGQUIT)
        assert stop(two) == 0


def test_a_command_left_for_an_earlier_process_with_the_same_id_is_ignored(app: Resque) -> None:
    """A worker here (in a thread) gets the id ``host:<this pid>:q``: a command left for
    an earlier process of that id (another nonce) does not touch it; one for it does."""
    wid = worker_id(os.getpid())
    r = client_of(app)
    r.set(f"resque:worker:{wid}:control", "quiet 0123456789ab", ex=300)
    worker = Worker(app, ["q"], mode="inprocess", heartbeat_interval=0.4, interval=0.2)
    thread = threading.Thread(target=worker.work, daemon=True)
    thread.start()
    try:
        wait_for(lambda: leased(app, wid))

        def seq() -> int:
            lease = r.get(f"resque:worker:{wid}:lease")
            return int(lease.decode().split(":")[1]) if lease else 0

        first = seq()
        wait_for(lambda: seq() >= first + 3, what="three lease refreshes (three command reads)")
        app.enqueue("q", "noop")
        wait_for(lambda: app.size("q") == 0 and worker.processed == 1, what="the job to run")
        assert worker.shutdown is False and thread.is_alive()
        send_raw(app, wid, "quiet")  # a command for this instance is obeyed
        thread.join(15)
        assert not thread.is_alive()
        assert worker.stop_reason == "quiet (through Redis)"
    finally:
        worker.shutdown = True
        thread.join(15)
    assert app.backend.workers.all() == []


def test_the_client_sends_to_live_pyresque_workers_only_with_a_ttl(app: Resque) -> None:
    from pyresque.core.errors import ConfigurationError

    control = app.workers_control
    client_of(app).sadd("resque:workers", "ruby-host:42:q")  # a Ruby worker: no lease
    with pytest.raises(ConfigurationError, match="not a live pyresque worker"):
        control.quiet("ruby-host:42:q")
    assert control.send_all("quiet") == []
    client_of(app).set("resque:worker:h:1:q:lease", "abcdef:1:", ex=30)
    assert control.quiet("h:1:q") == "quiet abcdef"
    assert control.stop("h:1:q") == "stop abcdef"
    assert control.quiet("h:1:q") == "stop abcdef"  # a quiet does not soften a stop
    ttl = client_of(app).ttl("resque:worker:h:1:q:control")
    assert 0 < ttl <= 300
    assert control.pending("h:1:q") == "stop"
    assert control.pause_queue("a") is True
    assert control.pause_queue("a") is False  # a repeat changes nothing
    assert control.paused_queues() == ["a"]
    assert control.resume_queue("a") is True and control.resume_queue("a") is False


def test_app_workers_control_reaches_a_real_worker(app: Resque, redis_url: str) -> None:
    proc = start_worker(redis_url, "q", "--mode", "inprocess", *FAST)
    wid = worker_id(proc.pid)
    wait_for(lambda: leased(app, wid))
    assert app.workers_control.send_all("quiet") == [wid]
    assert stop(proc) == 0
    assert app.backend.workers.all() == []


def test_quiet_all_stops_a_supervisors_workers_without_restarts(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    proc = start_worker(redis_url, "q", "--mode", "inprocess", "--count", "2", *FAST)
    wait_for(lambda: len([w for w in app.backend.workers.all() if leased(app, w)]) == 2)
    for wid in app.backend.workers.all():
        send_raw(app, wid, "quiet")
    assert stop(proc) == 0
    assert app.backend.workers.all() == []
