"""Chaos: the Redis server itself misbehaves mid-drain.

(d) ``SIGSTOP`` of redis-server for 2-5 s while jobs drain, then ``SIGCONT``: every
connection hangs, then carries on. (e) ``kill -9`` of a redis-server with AOF
(``appendfsync always``) and a restart on the same port, three times per drain: acknowledged
writes survive, connections die mid-command. No job may be lost either way; each freeze
or crash can interrupt at most one job per worker process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import ChaosRun, Plan, assert_kept
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

MODES = ["fork", "fork-every", "inprocess"]
DRAIN_SECONDS = 40.0
#: Each job sleeps this long, so that jobs are in flight when Redis freezes or dies.
JOB_DELAY = 0.002


def _reach(run: ChaosRun, fraction: float) -> None:
    run.wait(lambda: run.done_fraction() >= fraction or not run.workers_alive(), 30)


#: (succeeding, failing) jobs per mode for (d).
SIZES_D = {"inprocess": (540, 60), "fork": (270, 30), "fork-every": (450, 50)}


@pytest.mark.parametrize("mode", MODES)
def test_d_sigstop_of_redis_loses_no_job(chaos_server: RedisServer, tmp_path: Path, mode: str) -> None:
    n_ok, n_fail = SIZES_D[mode]
    plan = Plan(f"d-sigstop-{mode}", mode, n_ok, n_fail, delay=JOB_DELAY, recover="requeue")
    with ChaosRun(chaos_server, tmp_path, plan) as run:
        run.enqueue()
        run.start_workers(chaos_server.url)
        _reach(run, 0.3)
        frozen = round(run.rng.uniform(2.0, 5.0), 2)
        chaos_server.sigstop()
        try:
            run.wait(lambda: False, frozen)
        finally:
            chaos_server.sigcont()
        report = run.finish(DRAIN_SECONDS, {"sigstop_seconds": frozen})
    assert_kept(report, max_duplicate_runs=plan.worker_processes, log=run.log)


#: (succeeding, failing) jobs per mode for (e): every write is fsynced.
SIZES_E = {"inprocess": (450, 50), "fork": (270, 30), "fork-every": (360, 40)}


@pytest.mark.parametrize("mode", MODES)
def test_e_kill9_and_aof_restart_of_redis_loses_no_job(
    aof_server: RedisServer, tmp_path: Path, mode: str
) -> None:
    n_ok, n_fail = SIZES_E[mode]
    plan = Plan(f"e-kill9-aof-{mode}", mode, n_ok, n_fail, delay=JOB_DELAY, recover="requeue")
    crashes = 0
    with ChaosRun(aof_server, tmp_path, plan) as run:
        run.enqueue()
        run.start_workers(aof_server.url)
        for fraction in (0.2, 0.45, 0.7):
            _reach(run, fraction)
            aof_server.crash_restart()
            crashes += 1
        report = run.finish(DRAIN_SECONDS, {"crashes": crashes})
    assert_kept(report, max_duplicate_runs=crashes * plan.worker_processes, log=run.log)
