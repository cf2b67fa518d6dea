"""Chaos: replies lost after the command ran (a fault proxy between workers and Redis).

(a) 3 % of Redis's replies are swallowed (and their connection closed) while a mix of
succeeding and failing jobs drains, in every worker mode and with ``COUNT=2``: no job
may be lost. (b) 5 % of replies lost while 300 failing jobs drain: each failure is
recorded exactly once and ``stat:failed`` counts each once.

Duplicate runs are allowed only for jobs interrupted mid-run: each dropped reply can
interrupt at most one job, so there can be no more of them than dropped replies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.audit import AuditReport
from tests.chaos.harness import ChaosRun, Plan, assert_kept
from tests.faults import FaultProxy
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

MODES = ["fork", "fork-every", "inprocess"]
#: Longest time faults go on in one scenario (seconds); then the drain goes on without.
FAULT_SECONDS = 25.0
DRAIN_SECONDS = 30.0


def run_with_dropped_replies(server: RedisServer, tmp: Path, plan: Plan, rate: float) -> AuditReport:
    """Drain ``plan``'s jobs through a proxy dropping ``rate`` of the replies; audit."""
    with ChaosRun(server, tmp, plan) as run, FaultProxy(server.port, seed=run.seed) as proxy:
        run.enqueue()
        run.start_workers(proxy.url)
        run.wait(lambda: run.done_fraction() > 0.01, 30)  # workers up and taking jobs
        proxy.drop_reply_rate = rate
        run.wait(lambda: run.remaining() == 0 or not run.workers_alive(), FAULT_SECONDS)
        proxy.drop_reply_rate = 0.0
        counters = proxy.counters()
        faults = {"drop_rate": rate, "replies_dropped": counters.replies_dropped, "proxy_seed": proxy.seed}
        report = run.finish(DRAIN_SECONDS, faults)
    assert_kept(report, max_duplicate_runs=counters.replies_dropped, log=run.log)
    return report


#: (succeeding, failing) jobs per mode: fork pays a fork per job.
SIZES = {"inprocess": (900, 100), "fork": (360, 40), "fork-every": (540, 60)}


@pytest.mark.parametrize("mode", MODES)
def test_a_lost_replies_lose_no_job(chaos_server: RedisServer, tmp_path: Path, mode: str) -> None:
    """(a) 3 % of replies lost: every job completed, failed with a record, or queued."""
    n_ok, n_fail = SIZES[mode]
    run_with_dropped_replies(chaos_server, tmp_path, Plan(f"a-drop3-{mode}", mode, n_ok, n_fail), 0.03)


def test_a_lost_replies_lose_no_job_count2(chaos_server: RedisServer, tmp_path: Path) -> None:
    """(a) with ``COUNT=2``: two in-process workers under one supervisor."""
    plan = Plan("a-drop3-inprocess-count2", "inprocess", 900, 100, count=2)
    run_with_dropped_replies(chaos_server, tmp_path, plan, 0.03)


#: (succeeding, failing) jobs per mode for (b): the 300 failing jobs are the point.
SIZES_B = {"inprocess": (100, 300), "fork": (50, 300), "fork-every": (100, 300)}


@pytest.mark.parametrize("mode", MODES)
def test_b_lost_replies_record_each_failure_once(
    chaos_server: RedisServer, tmp_path: Path, mode: str
) -> None:
    """(b) 5 % of replies lost, 300 failing jobs: one record per failing job, stat:failed exact."""
    n_ok, n_fail = SIZES_B[mode]
    plan = Plan(f"b-drop5-{mode}", mode, n_ok, n_fail)
    report = run_with_dropped_replies(chaos_server, tmp_path, plan, 0.05)
    assert report.failed >= n_fail  # every failing job has its record (lost = 0 said the rest)
