"""Chaos: (c) a ``CLIENT KILL TYPE normal`` storm (every 10-40 ms) during a drain.

Every normal connection to Redis dies again and again: the workers' hot path, their idle
waits, heartbeats, the jobs' own records. A kill can land after a script ran and before
its reply was read, so this is the lost-reply fault again, at every step of the worker.
No job may be lost; a job that runs twice must have been interrupted, and each kill
command can interrupt at most one job per worker process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import ChaosRun, Plan, assert_kept
from tests.faults import ClientKillStorm
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

MODES = ["fork", "fork-every", "inprocess"]
#: Longest storm (seconds); it stops earlier once the queue has drained.
STORM_SECONDS = 20.0
DRAIN_SECONDS = 30.0
#: (succeeding, failing) jobs per mode.
SIZES = {"inprocess": (1350, 150), "fork": (270, 30), "fork-every": (720, 80)}


@pytest.mark.parametrize("mode", MODES)
def test_c_client_kill_storm_loses_no_job(chaos_server: RedisServer, tmp_path: Path, mode: str) -> None:
    n_ok, n_fail = SIZES[mode]
    plan = Plan(f"c-client-kill-{mode}", mode, n_ok, n_fail, recover="requeue")
    with ChaosRun(chaos_server, tmp_path, plan) as run:
        run.enqueue()
        run.start_workers(chaos_server.url)
        run.wait(lambda: run.done_fraction() > 0.01, 30)
        with ClientKillStorm(chaos_server.port, duration=STORM_SECONDS, seed=run.seed) as storm:
            run.wait(lambda: run.remaining() == 0 or not storm.running, STORM_SECONDS + 1)
        faults = {"kill_commands": storm.commands, "connections_killed": storm.killed, "errors": storm.errors}
        report = run.finish(DRAIN_SECONDS, faults)
    bound = min(storm.killed, storm.commands * plan.worker_processes)
    assert_kept(report, max_duplicate_runs=bound, log=run.log)
