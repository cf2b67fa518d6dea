"""Chaos against the async worker (``--mode async --concurrency 8``): the audit of
:mod:`tests.chaos.audit` must find every job completed, failed with one record, or
queued, as in the other modes.

(a) 3 % of Redis's replies dropped after the command ran (the fault proxy), with
succeeding and failing jobs: a round of up to 8 slots' scripts whose reply is lost is
sent again with the same tokens, so nothing is taken, counted or recorded twice.
(c) a ``CLIENT KILL TYPE normal`` storm, jobs of dead connections requeued: no job is
lost; one kill can interrupt at most the 8 jobs of the process.

The chaos jobs are sync (``time.sleep``), so they run in the worker's job threads.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.harness import ChaosRun, Plan, assert_kept
from tests.chaos.test_lost_replies import run_with_dropped_replies
from tests.faults import ClientKillStorm
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CONCURRENCY = 8
STORM_SECONDS = 12.0
DRAIN_SECONDS = 30.0


@pytest.fixture(autouse=True)
def _concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness starts ``--mode async`` workers; their concurrency comes from the
    environment they inherit (``PYRESQUE_WORKER_CONCURRENCY``)."""
    monkeypatch.setenv("PYRESQUE_WORKER_CONCURRENCY", str(CONCURRENCY))


def test_a_async_lost_replies_lose_no_job(chaos_server: RedisServer, tmp_path: Path) -> None:
    """(a) 3 % of replies lost while 900 succeeding and 100 failing jobs drain."""
    plan = Plan("a-drop3-async", "async", 900, 100, delay=0.002)
    report = run_with_dropped_replies(chaos_server, tmp_path, plan, 0.03)
    assert report.faults["drained"], "the async worker stopped draining under the faults"


def test_c_async_client_kill_storm_loses_no_job(chaos_server: RedisServer, tmp_path: Path) -> None:
    """(c) every connection killed every 10-40 ms; dead workers' jobs requeued."""
    plan = Plan("c-client-kill-async", "async", 900, 100, delay=0.002, recover="requeue")
    with ChaosRun(chaos_server, tmp_path, plan) as run:
        run.enqueue()
        run.start_workers(chaos_server.url)
        run.wait(lambda: run.done_fraction() > 0.01, 30)
        with ClientKillStorm(chaos_server.port, duration=STORM_SECONDS, seed=run.seed) as storm:
            run.wait(lambda: run.remaining() == 0 or not storm.running, STORM_SECONDS + 1)
        faults = {"kill_commands": storm.commands, "connections_killed": storm.killed, "errors": storm.errors}
        report = run.finish(DRAIN_SECONDS, faults)
    bound = min(storm.killed * CONCURRENCY, storm.commands * CONCURRENCY)
    assert_kept(report, max_duplicate_runs=bound, log=run.log)
    assert report.faults["drained"], "the async worker stopped draining under the faults"
