"""Running one chaos scenario: enqueue, start real workers, let the test inject faults,
then stop everything cleanly, recover, and audit.

The sequence every scenario follows (:class:`ChaosRun`):

1. ``enqueue``: ``n_ok`` succeeding and ``n_fail`` failing jobs, shuffled, written
   straight to the real Redis (never through a fault);
2. ``start_workers``: ``pyresque worker`` processes (``--mode``, ``--count``), on the
   URL the test gives (the fault proxy's, or the real server's), with short heartbeat
   and idle intervals so recovery is quick;
3. the test injects its faults, bounded by count and by time, while
   :meth:`ChaosRun.wait` watches the drain;
4. ``finish``: QUIT every worker and wait (a worker that does not exit within the
   bound is killed, and that is reported), then a final ``pyresque prune`` and a clean
   burst worker on the real Redis release and run whatever the faults left behind;
5. ``audit`` (:mod:`tests.chaos.audit`).

Seeds: ``PYRESQUE_CHAOS_SEED`` fixes the suite's seed (otherwise it is drawn and
printed); each scenario derives its own from it and its label. The faults drawn repeat
with the seed; where they land in the workers' steps depends on timing.

Running the suite (``-s`` prints one audit line per scenario; ~2-3 minutes on 2 cores)::

    .venv/bin/python -m pytest tests/chaos -p no:cacheprovider -s

Against another tree (an older commit in a worktree, say), run it from that tree, with
the chaos files copied in: the workers put ``PYTHONPATH`` ahead of this tree::

    cd /tmp/wt && PYTHONPATH=/tmp/wt /work/main/.venv/bin/python -m pytest tests/chaos -s
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import ConstantBackoff
from redis.retry import Retry

from pyresque import EnqueueRequest, Resque
from tests.chaos.audit import AuditReport, audit, held_jobs
from tests.chaos.chaos_jobs import URL_ENV
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "chaos"
SEED_ENV = "PYRESQUE_CHAOS_SEED"
SUITE_SEED = int(os.environ.get(SEED_ENV) or random.SystemRandom().randrange(10**6))

#: Flags every chaos worker gets: beat each second, poll often, prune after 10 s of silence.
WORKER_FLAGS = ("--heartbeat-interval", "1", "--prune-interval", "10", "--interval", "0.2")


def tolerant_client(port: int) -> redis.Redis:
    """The test's own client of the real Redis: it reconnects and repeats (reads only)
    through ``CLIENT KILL`` storms and restarts, and waits out a frozen server."""
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        retry=Retry(ConstantBackoff(0.05), 200),
        socket_timeout=15,
        socket_connect_timeout=2,
    )


T = TypeVar("T")


def patiently(read: Callable[[], T], patience: float = 60.0) -> T:
    """``read()``, again while the connection keeps dying (a storm can kill the fresh
    connection redis-py's pool checks before its own retry starts). Reads only."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return read()
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@dataclasses.dataclass
class Plan:
    """What one scenario runs.

    Attributes:
        label: names the scenario and mode in reports.
        mode: the worker mode.
        n_ok / n_fail: succeeding and failing jobs.
        delay: seconds each job sleeps (keeps jobs in flight while faults hit).
        count: ``--count`` of each worker command (several processes, one supervisor).
        processes: worker commands started side by side.
        recover: ``--recover`` of the workers and of the final prune.
        jobs_per_child: for ``fork-every``.
    """

    label: str
    mode: str
    n_ok: int
    n_fail: int = 0
    delay: float = 0.0
    count: int = 1
    processes: int = 1
    recover: str = "fail"
    jobs_per_child: int = 50

    @property
    def worker_processes(self) -> int:
        """Workers taking jobs at once (each can have one job interrupted per fault)."""
        return self.count * self.processes


class ChaosRun:
    """One scenario against ``server`` (the real Redis); logs go to ``tmp``."""

    def __init__(self, server: RedisServer, tmp: Path, plan: Plan) -> None:
        self.server = server
        self.plan = plan
        self.log = tmp / f"workers-{plan.label}.log"
        self.seed = random.Random(f"{SUITE_SEED}:{plan.label}").randrange(2**32)
        self.rng = random.Random(self.seed)
        self.client = tolerant_client(server.port)
        self.expected: dict[str, str] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.notes: dict[str, object] = {"seed": self.seed}
        print(f"\nchaos {plan.label}: suite seed {SUITE_SEED} ({SEED_ENV}={SUITE_SEED} repeats it)")

    # -- 1. jobs --------------------------------------------------------------------------
    def enqueue(self) -> dict[str, str]:
        """Push the plan's jobs (shuffled) to the real Redis; returns id -> ok/fail."""
        kinds = ["ok"] * self.plan.n_ok + ["fail"] * self.plan.n_fail
        self.rng.shuffle(kinds)
        app = Resque(self.server.url)
        try:
            requests = [
                EnqueueRequest(QUEUE, "ChaosOk" if kind == "ok" else "ChaosFail", (i, self.plan.delay))
                for i, kind in enumerate(kinds)
            ]
            ids = app.enqueue_many(requests)
        finally:
            app.close()
        self.expected = dict(zip(ids, kinds, strict=True))
        return self.expected

    # -- 2. workers -----------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        # a PYTHONPATH given to the test (an older tree, say) stays first
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
        env[URL_ENV] = self.server.url
        return env

    def _command(self, url: str, *args: str) -> list[str]:
        include = ("--app-include", "tests.chaos.chaos_jobs")
        return [sys.executable, "-m", "pyresque", *args, "--redis", url, *include]

    def start_workers(self, url: str) -> None:
        """Start the plan's worker commands against ``url``."""
        p = self.plan
        args = ["worker", "--queue", QUEUE, "--mode", p.mode, "--recover", p.recover, *WORKER_FLAGS]
        if p.mode == "fork-every":
            args += ["--jobs-per-child", str(p.jobs_per_child)]
        if p.count > 1:
            args += ["--count", str(p.count)]
        with open(self.log, "ab") as out:
            for _ in range(p.processes):
                proc = subprocess.Popen(
                    self._command(url, *args),
                    cwd=ROOT,
                    env=self._env(),
                    stdout=out,
                    stderr=out,
                    start_new_session=True,  # its own group: a stuck worker is killed with its children
                )
                self.procs.append(proc)

    # -- 3. watching ----------------------------------------------------------------------
    def remaining(self) -> int:
        """Jobs not finished yet: queued, or held by a worker."""
        return patiently(lambda: self._queued() + len(held_jobs(self.client)))

    def _queued(self) -> int:
        r: Any = self.client
        return int(r.llen(f"resque:queue:{QUEUE}"))

    def wait(self, until: Callable[[], bool], timeout: float) -> bool:
        """Poll ``until`` every 20 ms for at most ``timeout`` seconds; whether it came true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until():
                return True
            time.sleep(0.02)
        return False

    def done_fraction(self) -> float:
        """Share of the jobs no longer in the queue."""
        return 1 - patiently(self._queued) / max(1, len(self.expected))

    def any_alive(self) -> bool:
        """Whether some worker command still runs."""
        return any(p.poll() is None for p in self.procs)

    def workers_alive(self) -> bool:
        """Whether every worker command still runs."""
        return all(p.poll() is None for p in self.procs)

    # -- 4. stop and recover --------------------------------------------------------------
    def drain(self, timeout: float) -> bool:
        """Wait (bounded) until the queue is empty and no job is held."""
        self.wait(lambda: self.remaining() == 0 or not self.any_alive(), timeout)
        drained = self.remaining() == 0
        self.notes["drained"] = drained
        return drained

    def stop_workers(self, timeout: float = 30.0) -> None:
        """QUIT every worker, wait; kill (and report) those still running after ``timeout``."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGQUIT)
        deadline = time.monotonic() + timeout
        killed = 0
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(max(0.1, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                codes.append(proc.wait(10))
                killed += 1
        self.notes["worker_exit_codes"] = codes
        if killed:
            self.notes["workers_killed_after_quit"] = killed
            time.sleep(1.2)  # the pruning lock of a killed worker lives one heartbeat

    def recover(self, timeout: float = 60.0) -> None:
        """A final ``pyresque prune`` and a clean burst worker, on the real Redis."""
        url, recover = self.server.url, self.plan.recover
        with open(self.log, "ab") as out:
            commands = [
                self._command(url, "prune", "--prune-interval", "1", "--recover", recover),
                self._command(
                    url,
                    "worker",
                    "--queue",
                    QUEUE,
                    "--burst",
                    "--mode",
                    "inprocess",
                    "--recover",
                    recover,
                    *WORKER_FLAGS,
                ),
            ]
            for command in commands:
                out.write(f"--- pyresque {command[3]}\n".encode())
                out.flush()
                try:
                    code = subprocess.run(
                        command, cwd=ROOT, env=self._env(), stdout=out, stderr=out, timeout=timeout
                    ).returncode
                except subprocess.TimeoutExpired:
                    code = -1
                self.notes[f"{command[3]}_exit"] = code

    def finish(self, drain_timeout: float, faults: Mapping[str, object]) -> AuditReport:
        """Drain (bounded), stop the workers, recover, and audit."""
        self.drain(drain_timeout)
        self.stop_workers()
        self.recover()
        report = audit(
            self.client, self.expected, label=self.plan.label, queues=[QUEUE], faults={**faults, **self.notes}
        )
        print(report.summary())
        return report

    def close(self) -> None:
        """Kill whatever of ours is still running; close the client."""
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.client.close()

    def __enter__(self) -> ChaosRun:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def assert_kept(report: AuditReport, *, max_duplicate_runs: int | None, log: Path) -> None:
    """Fail with the report when a guarantee broke."""
    problems = report.problems(max_duplicate_runs=max_duplicate_runs)
    assert not problems, f"{report.label}: {'; '.join(problems)}\n{report.summary()}\nworker log: {log}"
