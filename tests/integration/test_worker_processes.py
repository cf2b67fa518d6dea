"""Real worker processes on a real redis-server: modes, dirty exits, timeouts, bookkeeping."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest
import redis

from pyresque import Resque
from tests.worker_proc import failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis


def title_of(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().replace(b"\x00", b" ").decode().strip()


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except FileNotFoundError:
        return []


MODES = ["fork", "fork-every", "inprocess"]


@pytest.mark.parametrize("mode", ["fork", "fork-every"])
def test_child_exit_code_and_sigkill_are_recorded_as_dirty_exits(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """os._exit(3) and a SIGKILLed child each fail their job (DirtyExit); later jobs still run."""
    trace = tmp_path / "t"
    app.enqueue("q", "hard_exit", 3)
    app.enqueue("q", "kill_self")
    app.enqueue("q", "record", "after")
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, trace=trace)
    assert stop(proc, 30) == 0
    recs = failures(app)
    assert [r["exception"] for r in recs] == ["pyresque.DirtyExit", "pyresque.DirtyExit"]
    assert "exited with status 3" in recs[0]["error"]
    assert "SIGKILL" in recs[1]["error"]
    assert recs[0]["payload"]["class"] == "hard_exit"
    assert trace_lines(trace) == ["after"]
    assert app.backend.stats.get("failed") == 2


@pytest.mark.parametrize("mode", MODES)
def test_timeouts_fail_the_job_in_every_mode(app: Resque, redis_url: str, mode: str, tmp_path: Path) -> None:
    """A job past its timeout is stopped and recorded as a timeout; the next job runs."""
    trace = tmp_path / "t"
    app.enqueue("q", "Quick")
    app.enqueue("q", "sleeper", 30)
    app.enqueue("q", "record", "after")
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, "--timeout", "0.5", trace=trace)
    assert stop(proc, 30) == 0
    assert [r["exception"] for r in failures(app)] == ["pyresque.JobTimeoutError"] * 2
    assert trace_lines(trace) == ["after"]


@pytest.mark.parametrize(("mode", "children"), [("fork", 7), ("fork-every", 3)])
def test_fork_modes_run_jobs_in_children_replaced_every_n(
    app: Resque, redis_url: str, mode: str, children: int, tmp_path: Path
) -> None:
    """fork: a child per job; fork-every with 3 per child: 7 jobs need 3 children."""
    trace = tmp_path / "t"
    for i in range(7):
        app.enqueue("q", "record_pid", i)
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, "--jobs-per-child", "3", trace=trace)
    assert stop(proc, 30) == 0
    rows = [line.split() for line in trace_lines(trace)]
    assert [r[0] for r in rows] == [str(i) for i in range(7)]
    pids = {r[1] for r in rows}
    assert len(pids) == children and str(proc.pid) not in pids
    assert app.backend.stats.get("processed") == 7


def test_worker_records_its_job_and_titles_while_working(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """workers set, started, heartbeat, worker:<id> JSON in Ruby's order, Ruby process titles."""
    app.enqueue("q", "slow_forever")
    proc = start_worker(redis_url, "q,other", "--mode", "fork", trace=tmp_path / "t")
    try:
        wid = f"{socket.gethostname()}:{proc.pid}:q,other"
        client: redis.Redis = app.backend.client  # type: ignore[attr-defined]
        raw = wait_for(lambda: client.get(f"resque:worker:{wid}"), what="the worker record")
        record = json.loads(raw)  # type: ignore[arg-type]
        assert list(record) == ["queue", "run_at", "payload", "worker", "reservation"]
        assert record["queue"] == "q" and record["worker"] == ":".join(wid.split(":")[:2])  # node's host:pid
        assert re.fullmatch("[0-9a-f]{16}", record["reservation"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["run_at"])
        assert record["payload"]["class"] == "slow_forever"
        assert app.backend.workers.all() == [wid]
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000", client.get(f"resque:worker:{wid}:started").decode()
        )  # type: ignore[union-attr]
        assert wid in app.backend.workers.heartbeats()
        # the record is written by the reserve, just before the fork retitles the parent
        wait_for(lambda: "Forked" in title_of(proc.pid), what="the parent title")
        assert re.fullmatch(r"resque-[\d.]+: Forked \d+ at \d+", title_of(proc.pid))
        child = wait_for(lambda: children_of(proc.pid), what="the child")[0]  # type: ignore[index]
        wait_for(lambda: "Processing" in title_of(child), what="the child title")
        assert re.fullmatch(r"resque-[\d.]+: Processing q since \d+ \[slow_forever\]", title_of(child))
        proc.send_signal(signal.SIGTERM)
        assert stop(proc) == 0
        assert [k for k in client.keys("*") if wid.encode() in k] == []
        assert app.backend.workers.all() == []
        assert len(failures(app)) == 1
    finally:
        if proc.poll() is None:
            proc.kill()


def test_idle_worker_title_says_waiting_for_its_queues(redis_url: str) -> None:
    """An idle worker's title is Ruby's 'Waiting for q1,q2'."""
    proc = start_worker(redis_url, "high,low", "--mode", "fork")
    try:
        wait_for(lambda: "Waiting for" in title_of(proc.pid), what="the title")
        assert title_of(proc.pid).endswith("Waiting for high,low")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


def test_dead_worker_on_this_host_is_pruned_and_its_job_failed(app: Resque, redis_url: str) -> None:
    """A registered worker whose pid is gone: its held job becomes a WorkerLost failure."""
    dead = _register_dead_worker(app)
    proc = start_worker(redis_url, "q", "--burst", "--mode", "inprocess")
    assert stop(proc) == 0
    recs = failures(app)
    assert [r["exception"] for r in recs] == ["pyresque.WorkerLost"]
    assert recs[0]["worker"] == dead and recs[0]["payload"]["class"] == "record"
    assert dead not in app.backend.workers.all()


def test_dead_worker_job_is_requeued_when_configured(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """--recover requeue puts a dead worker's job back; it then runs."""
    trace = tmp_path / "t"
    _register_dead_worker(app)
    proc = start_worker(redis_url, "q", "--burst", "--mode", "inprocess", "--recover", "requeue", trace=trace)
    assert stop(proc) == 0
    assert failures(app) == []
    assert trace_lines(trace) == ["lost"]


def test_stale_heartbeat_prunes_a_worker_on_another_host(app: Resque, redis_url: str) -> None:
    """A worker on another host whose heartbeat is older than the prune interval is pruned."""
    wid = "elsewhere:123:q"
    client: redis.Redis = app.backend.client  # type: ignore[attr-defined]
    client.sadd("resque:workers", wid)
    client.hset("resque:workers:heartbeat", wid, "2020-01-01T00:00:00+00:00")
    client.sadd("resque:workers", "elsewhere:456:q")
    client.hset("resque:workers:heartbeat", "elsewhere:456:q", _now_iso(client))
    proc = start_worker(redis_url, "q", "--burst", "--mode", "inprocess")
    assert stop(proc) == 0
    assert app.backend.workers.all() == ["elsewhere:456:q"]


def _now_iso(client: redis.Redis) -> str:
    from pyresque.core import timefmt

    seconds, _ = client.time()
    return timefmt.heartbeat_time(float(seconds))


def _register_dead_worker(app: Resque) -> str:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    wid = f"{socket.gethostname()}:{pid}:q"
    client: redis.Redis = app.backend.client  # type: ignore[attr-defined]
    client.sadd("resque:workers", wid)
    payload = {"class": "record", "args": ["lost"]}
    record = {"queue": "q", "run_at": "2026-01-01T00:00:00Z", "payload": payload, "worker": wid}
    client.set(f"resque:worker:{wid}", json.dumps(record))
    client.sadd("resque:queues", "q")
    return wid


@pytest.mark.parametrize(("queues", "target"), [("q", "q"), ("high,low", "low")])
@pytest.mark.parametrize("mode", MODES)
def test_idle_worker_starts_a_new_job_at_once(
    app: Resque, redis_url: str, mode: str, queues: str, target: str, tmp_path: Path
) -> None:
    """An idle worker (one queue or several) starts a newly pushed job well before its poll interval."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, queues, "--mode", mode, "--interval", "5", trace=trace)
    try:
        wait_for(lambda: app.backend.workers.all(), what="registration")
        for i in range(5):
            time.sleep(0.3)  # idle again
            app.enqueue(target, "stamp", time.time())
            wait_for(lambda i=i: len(trace_lines(trace)) == i + 1, what="the job")
        delays = [float(x) for x in trace_lines(trace)]
        assert max(delays[1:]) < 0.25, delays  # the first may pay for a first fork
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


def test_killed_spare_child_is_replaced_and_the_job_still_runs(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """fork mode keeps a spare child; if it dies before getting a job, the job runs in a fresh one."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, "q", "--mode", "fork", trace=trace)
    try:
        spare = wait_for(lambda: children_of(proc.pid), what="the spare child")[0]  # type: ignore[index]
        os.kill(spare, signal.SIGKILL)
        time.sleep(0.2)
        app.enqueue("q", "record_pid", "after")
        wait_for(lambda: trace_lines(trace), what="the job")
        tag, pid = trace_lines(trace)[0].split()
        assert tag == "after" and int(pid) not in (spare, proc.pid)
        assert failures(app) == []
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0


@pytest.mark.parametrize("mode", ["fork", "fork-every"])
def test_system_exit_and_keyboard_interrupt_in_a_child_are_job_failures(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """SystemExit / KeyboardInterrupt raised by a job in a child: readable failures, work goes on."""
    trace = tmp_path / "t"
    app.enqueue("q", "exits", 4)
    app.enqueue("q", "interrupts")
    app.enqueue("q", "record", "after")
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, trace=trace)
    assert stop(proc, 30) == 0
    assert [(r["exception"], r["error"]) for r in failures(app)] == [
        ("SystemExit", "4"),
        ("KeyboardInterrupt", "job said stop"),
    ]
    assert trace_lines(trace) == ["after"]


def test_msgpack_job_of_a_killed_worker_is_requeued_byte_for_byte(redis_url: str, tmp_path: Path) -> None:
    """A msgpack payload is held as raw_hex in worker:<id> and comes back unchanged on recovery."""
    app = Resque(redis_url, serializer="msgpack")
    app.enqueue("q", "slow_forever")
    original = app.backend.broker.peek("q")[0]
    trace = tmp_path / "t"
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = start_worker(
        redis_url, "q", "--mode", "inprocess", "--serializer", "msgpack", trace=trace, env=env
    )
    client: redis.Redis = app.backend.client  # type: ignore[attr-defined]
    wid = f"{socket.gethostname()}:{proc.pid}:q"
    raw = wait_for(lambda: client.get(f"resque:worker:{wid}"), what="the worker record")
    record = json.loads(raw)  # type: ignore[arg-type]
    assert record["payload"] == {"class": None, "raw_hex": original.hex()}
    proc.kill()
    proc.wait(5)
    second = start_worker(redis_url, "other", "--burst", "--mode", "inprocess", "--recover", "requeue")
    assert stop(second) == 0
    assert app.backend.broker.peek("q") == [original]
    assert failures(app) == []
    app.close()


@pytest.mark.parametrize("mode", ["fork", "fork-every"])
def test_parent_kills_a_child_whose_job_ignores_its_alarm(
    app: Resque, redis_url: str, mode: str, tmp_path: Path
) -> None:
    """A job that blocks SIGALRM still ends at its deadline: the parent SIGKILLs the child."""
    trace = tmp_path / "t"
    app.enqueue("q", "deaf_sleeper", 30)
    app.enqueue("q", "record", "after")
    began = time.monotonic()
    proc = start_worker(redis_url, "q", "--burst", "--mode", mode, "--timeout", "0.5", trace=trace)
    assert stop(proc, 30) == 0
    assert time.monotonic() - began < 15
    assert [r["exception"] for r in failures(app)] == ["pyresque.JobTimeoutError"]
    assert trace_lines(trace) == ["started", "after"]


def test_fork_mode_hooks_run_in_the_right_processes(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """before_fork in the parent, after_fork/perform hooks in the child; a dirty exit's
    on_failure runs in the parent; before_first_fork and worker_exit once."""
    trace = tmp_path / "t"
    app.enqueue("q", "noop")
    app.enqueue("q", "hard_exit", 3)
    proc = start_worker(
        redis_url, "q", "--burst", "--mode", "fork", trace=trace, env={"PYRESQUE_TEST_HOOKS": "1"}
    )
    assert stop(proc, 30) == 0
    rows = [line.split() for line in trace_lines(trace)]
    parent = str(proc.pid)
    names = [(r[0], r[1] == parent, r[2] if len(r) > 2 else "") for r in rows]
    assert names == [
        ("before_first_fork", True, ""),
        ("before_fork", True, "noop"),
        ("after_fork", False, "noop"),
        ("before_perform", False, "noop"),
        ("after_perform", False, "noop"),
        ("before_fork", True, "hard_exit"),
        ("after_fork", False, "hard_exit"),
        ("before_perform", False, "hard_exit"),
        ("on_failure:DirtyExit", True, "hard_exit"),
        ("worker_exit", True, ""),
    ]


def test_star_worker_wakes_for_a_new_queue_and_overlapping_names(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """A '*' worker watching queues 'a' and 'ab' wakes at once for a push to either, and
    for a queue created while it waits."""
    trace = tmp_path / "t"
    app.enqueue("a", "noop")
    app.enqueue("ab", "noop")
    proc = start_worker(redis_url, "*", "--mode", "inprocess", "--interval", "5", trace=trace)
    try:
        wait_for(lambda: app.backend.stats.get("processed") == 2, what="the first jobs")
        for i, queue in enumerate(["ab", "a", "brand-new"]):
            time.sleep(1.2)  # idle, with the queue list refreshed
            app.enqueue(queue, "stamp", time.time())
            wait_for(lambda i=i: len(trace_lines(trace)) == i + 1, what=f"the job on {queue}")
        delays = [float(x) for x in trace_lines(trace)]
        assert max(delays) < 0.25, delays
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0
