"""Chaos, all at once: for a bounded time, a random fault every fraction of a second.

Workers under ``COUNT=2``, in-process and fork-every, run through one fault proxy while
jobs that take a few milliseconds drain. Each step of
the schedule (seeded: the printed seed repeats it) picks one of: lose 5 % of replies
for a moment, cut every connection, stall the proxy for up to a second, freeze one
worker process (``SIGSTOP``) for up to two seconds (below the prune interval: it must
come back as itself), or nothing. Then the audit: lost 0, one record per failure,
duplicate runs no more than the faults that could interrupt a job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.chaos.harness import ChaosRun, Plan, assert_kept
from tests.faults import FaultProxy
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FAULT_SECONDS = 20.0
DRAIN_SECONDS = 40.0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the supervisor's workers, a worker's children)."""
    out = [pid]
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for kid in kids:
        out.extend(_tree(int(kid)))
    return out


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@pytest.mark.parametrize("mode", ["inprocess", "fork-every"])
def test_random_mixed_faults_lose_no_job(chaos_server: RedisServer, tmp_path: Path, mode: str) -> None:
    """Dropped replies, cuts, stalls and frozen workers, mixed at random."""
    plan = Plan(f"mixed-{mode}", mode, 1350, 150, delay=0.01, count=2)
    with ChaosRun(chaos_server, tmp_path, plan) as run, FaultProxy(chaos_server.port, seed=run.seed) as proxy:
        run.enqueue()
        run.start_workers(proxy.url)
        run.wait(lambda: run.done_fraction() > 0.01, 30)
        rng = run.rng
        counts = {"drop": 0, "cut": 0, "stall": 0, "freeze": 0, "none": 0}
        deadline = time.monotonic() + FAULT_SECONDS
        while time.monotonic() < deadline and run.remaining() > 0 and run.workers_alive():
            fault = rng.choice(list(counts))
            counts[fault] += 1
            if fault == "drop":
                proxy.drop_reply_rate = 0.05
                time.sleep(rng.uniform(0.1, 0.5))
                proxy.drop_reply_rate = 0.0
            elif fault == "cut":
                proxy.cut()
            elif fault == "stall":
                proxy.stall(rng.uniform(0.1, 1.0))
            elif fault == "freeze":
                victims = _tree(rng.choice(run.procs).pid)
                _signal(victims, signal.SIGSTOP)
                time.sleep(rng.uniform(0.2, 2.0))
                _signal(victims, signal.SIGCONT)
            time.sleep(rng.uniform(0.05, 0.3))
        proxy.drop_reply_rate = 0.0
        proxy.resume()
        dropped = proxy.counters().replies_dropped
        faults = {"schedule": counts, "replies_dropped": dropped, "proxy_seed": proxy.seed}
        report = run.finish(DRAIN_SECONDS, faults)
    # each dropped reply or cut can interrupt at most one job per worker process
    bound = dropped + counts["cut"] * plan.worker_processes
    assert_kept(report, max_duplicate_runs=bound, log=run.log)
