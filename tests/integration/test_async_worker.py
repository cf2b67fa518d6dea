"""The async worker (``--mode async --concurrency N``) on a real redis-server: jobs run at
once, each slot is a worker of its own in every view, timeouts end in failure records,
a blocked loop does not stop the heartbeats, poison payloads do not stop the worker."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import client_of, failures, start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

J = "tests.worker_jobs."


def held_records(app: Resque) -> dict[str, dict[str, object]]:
    """worker id -> its decoded ``worker:<id>`` record, for every id holding a job."""
    return app.backend.workers.working()


def times(trace: Path, kind: str) -> list[float]:
    return [float(line.split()[2]) for line in trace_lines(trace) if line.startswith(kind + " ")]


def test_n_jobs_run_at_once_async_and_sync(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """12 jobs (8 async, 4 sync in threads) on --concurrency 12: all of them were running
    at one instant (every start before any end); each completes once, nothing fails."""
    trace = tmp_path / "t"
    for i in range(8):
        app.enqueue("q", J + "aw_sleep", 1.5, i)
    for i in range(4):
        app.enqueue("q", J + "aw_sync_sleep", 1.5, f"s{i}")
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "12", "--burst", trace=trace)
    assert stop(proc, 30) == 0
    starts, ends = times(trace, "start"), times(trace, "end")
    assert len(starts) == len(ends) == 12
    assert max(starts) < min(ends)  # overlap: all twelve ran at the same time
    assert failures(app) == []
    assert app.backend.stats.get("processed") == 12
    assert app.backend.workers.all() == []
    assert [k for k in client_of(app).keys("resque:worker:*")] == []


def test_each_slot_is_a_worker_in_every_view_and_term_records_them(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """While 3 jobs run on --concurrency 3: 3 registered ids host:pid:q:<n>, each with its
    own record (node's "worker" name host:pid), heartbeat and lease, and Ruby's split of
    the id reads host, pid and queues. TERM then stops all 3, each recorded failed under
    its slot, and every record is gone."""
    trace = tmp_path / "t"
    for i in range(3):
        app.enqueue("q", J + ("aw_forever" if i < 2 else "aw_sync_forever"), i)
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "3", trace=trace)
    host = socket.gethostname()
    ids = [f"{host}:{proc.pid}:q:{n}" for n in range(3)]
    wait_for(lambda: len(held_records(app)) == 3, what="three held records")
    assert sorted(app.backend.workers.all()) == ids
    records = held_records(app)
    assert sorted(records) == ids
    assert {r["worker"] for r in records.values()} == {f"{host}:{proc.pid}"}
    assert sorted(r["payload"]["args"][0] for r in records.values()) == [0, 1, 2]  # type: ignore[index]
    assert set(ids) <= set(app.backend.workers.heartbeats())
    assert all(lease is not None for lease in app.backend.workers.leases(ids))
    for worker_id in ids:  # Ruby's prune: host, pid, queues = id.split(':')
        assert worker_id.split(":")[:3] == [host, str(proc.pid), "q"]
    wait_for(lambda: len([t for t in trace_lines(trace) if t.startswith("running")]) == 3)
    proc.terminate()
    assert stop(proc) == 0
    records_failed = failures(app)
    assert sorted(f["worker"] for f in records_failed) == ids
    assert {f["exception"] for f in records_failed} == {"pyresque.ShutdownRequested"}
    assert not any(line.startswith("finished") for line in trace_lines(trace))
    assert app.backend.stats.get("failed") == 3
    assert app.backend.workers.all() == []
    assert held_records(app) == {}


def test_timeouts_end_in_failure_records_never_a_rerun(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """--timeout 0.5: an async job is cancelled, a sync job in a thread (blocked in C,
    deaf to the interrupt) is recorded failed past its grace and left behind, a class
    with its own timeout too; each has one JobTimeoutError record, ran once, and the
    worker goes on to the next job."""
    trace = tmp_path / "t"
    app.enqueue("q", J + "aw_forever", "a")
    app.enqueue("q", J + "aw_sync_forever", "s")
    app.enqueue("q", "Quick")
    proc = start_worker(
        redis_url,
        "q",
        "--mode",
        "async",
        "--concurrency",
        "3",
        "--timeout",
        "0.5",
        trace=trace,
        log=tmp_path / "log",
    )
    wait_for(lambda: len(failures(app)) == 3, timeout=30, what="three timeout records")
    app.enqueue("q", J + "aw_sleep", 0, "after")
    wait_for(lambda: any(line.startswith("end after") for line in trace_lines(trace)), what="the next job")
    proc.terminate()
    assert stop(proc) == 0
    records = failures(app)
    assert [r["exception"] for r in records] == ["pyresque.JobTimeoutError"] * 3
    assert sorted(r["payload"]["class"] for r in records) == sorted(
        ["Quick", J + "aw_forever", J + "aw_sync_forever"]
    )
    runs = [line for line in trace_lines(trace) if line.startswith("running")]
    assert sorted(runs) == ["running a", "running s"]  # once each: no re-run
    assert app.size("q") == 0
    assert app.backend.stats.get("failed") == 3


def test_a_blocked_loop_keeps_heartbeats_and_is_logged(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """An async job that blocks the loop for 4 s (sync sleep): the slots' heartbeats are
    written meanwhile (the heartbeat thread does not need the loop), and the worker logs
    that the loop is blocked."""
    trace, log = tmp_path / "t", tmp_path / "log"
    app.enqueue("q", J + "aw_block_loop", 4.0)
    proc = start_worker(
        redis_url,
        "q",
        "--mode",
        "async",
        "--concurrency",
        "2",
        "--heartbeat-interval",
        "0.4",
        trace=trace,
        log=log,
    )
    slot = f"{socket.gethostname()}:{proc.pid}:q:0"
    wait_for(lambda: "blocking" in trace_lines(trace), what="the job to block the loop")
    first = app.backend.workers.heartbeats().get(slot)
    wait_for(lambda: app.backend.workers.heartbeats().get(slot) != first, timeout=10, what="a new heartbeat")
    assert "unblocked" not in trace_lines(trace)  # written while the loop was still blocked
    wait_for(lambda: "the event loop is blocked" in log.read_text(), what="the lag warning")
    wait_for(lambda: "unblocked" in trace_lines(trace), what="the job to end")
    proc.send_signal(signal.SIGQUIT)
    assert stop(proc) == 0
    assert "aw_block_loop" in log.read_text().split("the event loop is blocked", 1)[1]
    assert failures(app) == []


POISON = [
    b"not json at all",
    b"[1, 2, 3]",
    b'{"class": "NoSuchJob", "args": []}',
    b'{"class": "noop", "args": "not a list"}',
    b"\xff\xfe invalid utf-8",
    b"[" * 5000 + b"]" * 5000,
    b'{"class": "noop", "args": [NaN]}',
]


def test_poison_payloads_do_not_stop_the_worker(app: Resque, redis_url: str, tmp_path: Path) -> None:
    """Every poison payload ends as a readable failure record keeping its bytes; the
    good jobs around them run; the worker drains and exits cleanly."""
    trace = tmp_path / "t"
    r = client_of(app)
    r.sadd("resque:queues", "q")
    app.enqueue("q", J + "aw_sleep", 0, "before")
    for raw in POISON:
        r.rpush("resque:queue:q", raw)
    app.enqueue("q", J + "aw_sleep", 0, "after")
    proc = start_worker(redis_url, "q", "--mode", "async", "--concurrency", "4", "--burst", trace=trace)
    assert stop(proc, 30) == 0
    assert sorted(line.split()[1] for line in trace_lines(trace) if line.startswith("end")) == [
        "after",
        "before",
    ]
    records = failures(app)
    assert len(records) == len(POISON)
    assert all(isinstance(rec["payload"], dict) and rec["exception"] for rec in records)
    assert json.dumps(records)  # readable
    assert app.size("q") == 0
    assert app.backend.workers.all() == []


def test_a_slot_unregistered_by_a_foreign_tool_registers_again(
    app: Resque, redis_url: str, tmp_path: Path
) -> None:
    """SREM of one slot id from ``workers`` (resque-web's unregister, a lost Redis): the
    heartbeat thread puts it back."""
    proc = start_worker(
        redis_url, "q", "--mode", "async", "--concurrency", "2", "--heartbeat-interval", "0.4"
    )
    try:
        slot = f"{socket.gethostname()}:{proc.pid}:q:1"
        wait_for(lambda: slot in app.backend.workers.all(), what="registration")
        client_of(app).srem("resque:workers", slot)
        assert slot not in app.backend.workers.all()
        wait_for(lambda: slot in app.backend.workers.all(), what="the slot registered again")
    finally:
        proc.send_signal(signal.SIGQUIT)
        assert stop(proc) == 0
    assert app.backend.workers.all() == []


def test_a_round_repeated_after_a_lost_reply_takes_and_counts_nothing_twice(app: Resque) -> None:
    """The batch step sent twice with the same tokens (the worker's repeat after a lost
    reply): the second hands back the same reservations and writes nothing more; a
    failure repeated is not recorded twice."""
    import asyncio

    from pyresque.backends.aio.workers import SlotStep, open_worker_registry

    for i in range(3):
        app.enqueue("q", "noop", i)

    async def scenario() -> None:
        registry = open_worker_registry(app.backend)
        try:
            await registry.prepare()
            ids = ["h:1:q:0", "h:1:q:1"]
            await registry.register(ids, "2026-01-01 00:00:00 +0000")
            take = [SlotStep(i, "2026-01-01T00:00:00Z", f"tok{n}") for n, i in enumerate(ids)]
            first = await registry.step(take, ["q"])
            again = await registry.step(take, ["q"])
            assert first == again and all(r[2] is not None for r in first)
            assert app.size("q") == 1  # two taken, once
            done = SlotStep(ids[0], "2026-01-01T00:00:01Z", "", take=False, done=("tok0", None, None))
            fail = SlotStep(ids[1], "2026-01-01T00:00:01Z", "", take=False, fail=("tok1", None, None))
            assert [r[:2] for r in await registry.step([done, fail], ["q"])] == [(1, None), (0, True)]
            assert [r[:2] for r in await registry.step([done, fail], ["q"])] == [(-1, None), (0, False)]
        finally:
            await registry.close()

    asyncio.run(scenario())
    assert app.backend.stats.get("processed") == 2
    assert app.backend.stats.get("failed") == 1
    assert app.backend.workers.working() == {}


def test_a_plain_worker_refuses_the_async_mode(app: Resque) -> None:
    """``Worker(mode="async")`` would have no executor for it: refused in one line, never
    run as another mode."""
    from pyresque import ConfigurationError
    from pyresque.core.worker import Worker, make_executor
    from pyresque.core.worker.aio import AsyncWorker

    with pytest.raises(ConfigurationError, match="AsyncWorker"):
        make_executor(Worker(app, "q", mode="async"))
    assert AsyncWorker(app, "q", concurrency=3).concurrency == 3
