"""No lost jobs: random kill -9 of workers and their children; Redis going away and back."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from pyresque import EnqueueRequest, Resque
from tests.redis_server import RedisServer
from tests.worker_proc import start_worker, stop, trace_lines, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_chaos_kill9_of_parents_and_children_loses_no_job(redis_url: str, tmp_path: Path) -> None:
    """3,000 jobs, workers in every mode SIGKILLed at random (parents and children) and
    restarted: afterwards every job has run, been recorded failed, or is requeued."""
    n_jobs = 3000
    trace = tmp_path / "trace"
    app = Resque(redis_url)
    client: redis.Redis = app.backend.client  # type: ignore[attr-defined]
    app.enqueue_many(EnqueueRequest("q", "sleeper", (0.002, i)) for i in range(n_jobs))
    modes = [
        ["--mode", "fork-every", "--jobs-per-child", "20"],
        ["--mode", "fork"],
        ["--mode", "inprocess"],
    ]
    common = ["--heartbeat-interval", "1", "--recover", "requeue", "--interval", "0.2"]
    log = tmp_path / "log"
    procs = [start_worker(redis_url, "q", *m, *common, trace=trace, log=log) for m in modes]
    rng = random.Random(1234)
    kills = {"parent": 0, "child": 0}
    deadline = time.monotonic() + 15
    try:
        while time.monotonic() < deadline and app.size("q") > 0:
            time.sleep(rng.uniform(0.05, 0.25))
            slot = rng.randrange(len(procs))
            proc = procs[slot]
            kids = children_of(proc.pid)
            if kids and rng.random() < 0.6:
                try:
                    os.kill(rng.choice(kids), signal.SIGKILL)
                except ProcessLookupError:
                    continue  # the child finished its job between listing and killing
                kills["child"] += 1
            else:
                proc.kill()
                proc.wait(5)
                kills["parent"] += 1
                procs[slot] = start_worker(redis_url, "q", *modes[slot], *common, trace=trace, log=log)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
        for proc in procs:
            stop(proc, 30)
    assert kills["parent"] >= 3 and kills["child"] >= 3, kills
    # the pruning lock lives one heartbeat interval; then a last worker recovers and drains
    time.sleep(1.2)
    final = start_worker(redis_url, "q", "--burst", "--mode", "inprocess", *common, trace=trace, log=log)
    assert stop(final, 60) == 0

    done = {int(line) for line in trace_lines(trace)}
    failed: dict[int, list[str]] = {}
    for raw in client.lrange("resque:failed", 0, -1):
        rec = json.loads(raw)
        failed.setdefault(int(rec["payload"]["args"][1]), []).append(rec["exception"])
    queued = {j.args[1] for j in app.peek("q", 0, -1)}
    vanished = [i for i in range(n_jobs) if i not in done and i not in failed and i not in queued]
    assert vanished == [], f"{len(vanished)} jobs vanished: {vanished[:20]}"
    assert app.size("q") == 0
    assert client.keys("resque:worker:*") == []
    assert app.backend.workers.all() == []
    assert set(failed) <= set(range(n_jobs))
    example = next(iter(failed.values()), [])
    print(f"\nchaos: {kills}, {len(done)} completed, {len(failed)} failed (e.g. {example})")
    app.close()


def test_redis_restart_mid_run_workers_reconnect_without_spinning(
    redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> None:
    """Redis stops and comes back: workers log it, back off (no busy loop), then carry on."""
    trace = tmp_path / "trace"
    log = tmp_path / "log"
    app = Resque(redis_url)
    for i in range(30):
        app.enqueue("q", "sleeper", 0.01, f"before-{i}")
    procs: list[subprocess.Popen[bytes]] = [
        start_worker(
            redis_url,
            "q",
            "--mode",
            mode,
            "--interval",
            "0.5",
            "--heartbeat-interval",
            "1",
            trace=trace,
            log=log,
        )
        for mode in ("inprocess", "fork-every")
    ]
    try:
        wait_for(lambda: len(trace_lines(trace)) >= 5, what="some jobs done")
        redis_server.stop()
        cpu_before = [cpu_seconds(p.pid) for p in procs]
        time.sleep(3)
        cpu_used = [cpu_seconds(p.pid) - c for p, c in zip(procs, cpu_before, strict=True)]
        assert all(p.poll() is None for p in procs), "a worker died while Redis was away"
        assert max(cpu_used) < 0.6, f"workers spun while Redis was away: {cpu_used}"
        redis_server.start()
        for i in range(20):
            app.enqueue("q", "record", f"after-{i}")
        wait_for(
            lambda: sum(1 for t in trace_lines(trace) if t.startswith("after-")) == 20,
            timeout=30,
            what="jobs after the restart",
        )
        assert all(p.poll() is None for p in procs)
        # the restarted server lost its data: the heartbeat registers the workers again
        wait_for(lambda: len(app.backend.workers.all()) == 2, timeout=10, what="re-registration")
    finally:
        if redis_server.proc is None:
            redis_server.start()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGQUIT)
        codes = [stop(p, 30) for p in procs]
        app.close()
    assert codes == [0, 0]
    text = log.read_text()
    assert "unreachable" in text and "reachable again" in text
    assert text.count("unreachable") < 20, "one log line per outage, not per retry"
