"""The async worker's drains: pyresque ``--mode async`` next to arq, and next to ``--mode inprocess``.

    .venv/bin/python -m bench.bench_async_worker [--jobs 10000] [--concurrency 100] [--runs 1]

Starts its own redis-server on a free port. Two drains:

1. ``--jobs`` jobs that each ``await asyncio.sleep(0.01)``: pyresque ``--mode async
   --concurrency N`` against arq with ``max_jobs=N`` (``bench/arq_bench_settings.py``:
   burst mode, no results kept), the same job for both;
2. ``--jobs`` no-op jobs: ``--mode async --concurrency N`` against ``--mode inprocess``.

Each drain pre-fills the queue, then runs the worker process in burst mode until it
exits; the same worker on an empty queue is run once first, and its time and CPU
(start-up, registration, exit) are subtracted. Reported per contender (median of
``--runs``): jobs/s, worker CPU per job (the process, from ``getrusage``), Redis CPU per
job (``used_cpu_sys`` + ``used_cpu_user``) and Redis commands per job. Every drain
checks that every job was processed. Figures of one machine; compare ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

from bench._server import ROOT, RedisServer

QUEUE = "bench"


@dataclasses.dataclass
class Sample:
    """One drain: wall seconds, worker CPU seconds, Redis CPU seconds, Redis commands."""

    wall: float
    cpu: float
    redis_cpu: float
    commands: int


def _redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _commands(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


def timed(client: redis.Redis, cmd: list[str], env: dict[str, str]) -> Sample:
    """Run ``cmd`` to its end; its wall time, CPU, and the Redis CPU and commands meanwhile."""
    cpu0, cmds0 = _redis_cpu(client), _commands(client)
    use0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - began
    use1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (use1.ru_utime + use1.ru_stime) - (use0.ru_utime + use0.ru_stime)
    return Sample(wall, cpu, _redis_cpu(client) - cpu0, _commands(client) - cmds0)


class Contender:
    """One worker command with its way of filling the queue and checking the drain."""

    def __init__(
        self,
        name: str,
        cmd: list[str],
        fill: Callable[[redis.Redis, int], None],
        check: Callable[[redis.Redis, int], None],
    ) -> None:
        self.name = name
        self.cmd = cmd
        self.fill = fill
        self.check = check
        self.samples: list[tuple[float, float, float, float]] = []

    def run(self, client: redis.Redis, env: dict[str, str], jobs: int) -> None:
        client.flushall()
        idle = timed(client, self.cmd, env)  # start-up and exit, on an empty queue
        client.flushall()
        self.fill(client, jobs)
        full = timed(client, self.cmd, env)
        self.check(client, jobs)
        wall = max(1e-6, full.wall - idle.wall)
        self.samples.append(
            (
                jobs / wall,
                max(0.0, full.cpu - idle.cpu) / jobs * 1e6,
                max(0.0, full.redis_cpu - idle.redis_cpu) / jobs * 1e6,
                max(0, full.commands - idle.commands) / jobs,
            )
        )

    def row(self) -> str:
        cols = [statistics.median(s[i] for s in self.samples) for i in range(4)]
        return f"{self.name:<34} {cols[0]:>9,.0f} {cols[1]:>14.1f} {cols[2]:>13.1f} {cols[3]:>9.2f}"

    @property
    def rate(self) -> float:
        return statistics.median(s[0] for s in self.samples)


def pyresque_cmd(url: str, *mode: str) -> list[str]:
    return [
        sys.executable, "-m", "pyresque", "worker", "--queue", QUEUE, "--redis", url,
        "--app-include", "bench.async_bench_jobs", "--burst", "--interval", "0.1", *mode,
    ]  # fmt: skip


def fill_pyresque(job: str) -> Callable[[redis.Redis, int], None]:
    def fill(client: redis.Redis, jobs: int) -> None:
        pipe = client.pipeline(transaction=False)
        for i in range(jobs):
            pipe.rpush(f"resque:queue:{QUEUE}", b'{"class":"%s","args":[],"id":"%032x"}' % (job.encode(), i))
        pipe.sadd("resque:queues", QUEUE)
        pipe.execute()

    return fill


def check_pyresque(client: redis.Redis, jobs: int) -> None:
    done = int(client.get("resque:stat:processed") or 0)
    if done != jobs or client.llen(f"resque:queue:{QUEUE}") or client.llen("resque:failed"):
        raise SystemExit(f"pyresque processed {done} of {jobs} (failed {client.llen('resque:failed')})")


def fill_arq(url: str, job: str) -> Callable[[redis.Redis, int], None]:
    def fill(client: redis.Redis, jobs: int) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings

        async def push() -> None:
            pool = await create_pool(RedisSettings.from_dsn(url))
            try:
                for start in range(0, jobs, 50):
                    await asyncio.gather(*(pool.enqueue_job(job) for _ in range(min(50, jobs - start))))
            finally:
                await pool.aclose()

        asyncio.run(push())

    return fill


def check_arq(client: redis.Redis, jobs: int) -> None:
    left = int(client.zcard("arq:queue"))
    if left:
        raise SystemExit(f"arq left {left} of {jobs} jobs queued")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--no-arq", action="store_true", help="leave arq out")
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        _bench(opts, server)
    finally:
        server.close()


def _bench(opts: argparse.Namespace, server: RedisServer) -> None:
    url, n = server.url, str(opts.concurrency)
    client = redis.Redis.from_url(url)
    env = dict(os.environ, BENCH_REDIS_URL=url, BENCH_CONCURRENCY=n)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    arq = str(Path(sys.executable).parent / "arq")
    sleeping = [
        Contender(
            f"pyresque --mode async --concurrency {n}",
            pyresque_cmd(url, "--mode", "async", "--concurrency", n),
            fill_pyresque("sleep10ms"),
            check_pyresque,
        )
    ]
    if not opts.no_arq:
        sleeping.append(
            Contender(
                f"arq max_jobs={n}",
                [arq, "bench.arq_bench_settings.WorkerSettings"],
                fill_arq(url, "sleep10ms"),
                check_arq,
            )
        )
    noops = [
        Contender(
            f"pyresque --mode async --concurrency {n}",
            pyresque_cmd(url, "--mode", "async", "--concurrency", n),
            fill_pyresque("noop"),
            check_pyresque,
        ),
        Contender(
            "pyresque --mode inprocess",
            pyresque_cmd(url, "--mode", "inprocess"),
            fill_pyresque("noop"),
            check_pyresque,
        ),
    ]
    header = f"{'worker':<34} {'jobs/s':>9} {'worker us/job':>14} {'redis us/job':>13} {'cmds/job':>9}"
    for title, group in (
        (f"drain of {opts.jobs:,} jobs that each await asyncio.sleep(0.01)", sleeping),
        (f"drain of {opts.jobs:,} no-op jobs", noops),
    ):
        for _ in range(opts.runs):
            for contender in group:
                contender.run(client, env, opts.jobs)
        print(f"\n{title} (median of {opts.runs}; start-up and exit subtracted)")
        print(header)
        for contender in group:
            print(contender.row())
        if len(group) > 1:
            print(f"ratio {group[0].name} / {group[1].name}: {group[0].rate / group[1].rate:.2f}x jobs/s")


if __name__ == "__main__":
    main()
