"""This tree against an earlier commit: the same drain, alternating, in one run.

    .venv/bin/python -m bench.bench_compare [--base REV] [--jobs 20000] [--rounds 6]
                                            [--mode inprocess|fork-every|fork]

Checks ``REV`` out into
a temporary git worktree, starts its own redis-server on a free port, and for each
round drains ``--jobs`` no-op jobs (pushed in one pipeline) with ``pyresque worker
--burst`` from each tree, the two taking turns at going first (on the 2-core machine
this project is measured on, the second drain of a pair runs 10-15 % slower, whichever
tree it is: a self-comparison without the turns read 0.87x). Reported per tree, as medians:
jobs/s (start-up included, the same for both), worker CPU per job (the worker process
and its children, from ``getrusage``), Redis CPU per job (``used_cpu_sys`` +
``used_cpu_user``) and Redis commands per job (``total_commands_processed``, the
bench's own few subtracted by being outside the timed window). A change to the hot
path is judged by the ratio, never by the absolute figures of one machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from bench._server import ROOT, RedisServer

QUEUE = "bench"


@contextlib.contextmanager
def worktree(rev: str) -> Iterator[Path]:
    """A throwaway checkout of ``rev``."""
    path = Path(tempfile.mkdtemp(prefix="pyresque-base-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-f", str(path), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True)


def drain(
    client: redis.Redis, url: str, tree: Path, jobs: int, mode: str
) -> tuple[float, float, float, float]:
    """One drain from ``tree``: (jobs/s, worker CPU us/job, Redis CPU us/job, commands/job)."""
    client.flushall()
    pipe = client.pipeline(transaction=False)
    for i in range(jobs):
        pipe.rpush(f"resque:queue:{QUEUE}", b'{"class":"noop","args":[],"id":"%032x"}' % i)
    pipe.sadd("resque:queues", QUEUE)
    pipe.execute()

    def redis_cpu() -> float:
        info = client.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    env = dict(os.environ, PYTHONPATH=str(tree))
    cmd = [
        sys.executable,
        "-m",
        "pyresque",
        "worker",
        "--queue",
        QUEUE,
        "--redis",
        url,
        "--app-include",
        "bench.worker_bench_jobs",
        "--mode",
        mode,
        "--burst",
        "--jobs-per-child",
        "100",
    ]
    cpu0, cmds0 = redis_cpu(), int(client.info("stats")["total_commands_processed"])
    use0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(cmd, cwd=tree, env=env, check=True)
    wall = time.perf_counter() - began
    use1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmds = int(client.info("stats")["total_commands_processed"]) - cmds0
    done = int(client.get("resque:stat:processed") or 0)
    if done != jobs or client.llen(f"resque:queue:{QUEUE}"):
        raise SystemExit(f"{tree}: processed {done} of {jobs}")
    worker_cpu = (use1.ru_utime + use1.ru_stime) - (use0.ru_utime + use0.ru_stime)
    return jobs / wall, worker_cpu / jobs * 1e6, (redis_cpu() - cpu0) / jobs * 1e6, cmds / jobs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", required=True, help="the commit to compare with")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=6, help="an even number keeps the turns fair")
    parser.add_argument("--mode", default="inprocess", choices=["inprocess", "fork-every", "fork"])
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        _compare(opts, server)
    finally:
        server.close()


def _compare(opts: argparse.Namespace, server: RedisServer) -> None:
    with worktree(opts.base) as base:
        client = redis.Redis.from_url(server.url)
        trees = {"this tree": ROOT, opts.base: base}
        results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in trees}
        order = list(trees.items())
        for n in range(opts.rounds):
            # ABBA: whichever drains second in a round runs measurably slower here, so
            # each tree goes first in half of the rounds
            for name, tree in order if n % 2 == 0 else order[::-1]:
                results[name].append(drain(client, server.url, tree, opts.jobs, opts.mode))
        print(f"{opts.mode} drain of {opts.jobs:,} no-op jobs, median of {opts.rounds} alternating rounds")
        print(f"{'tree':<14} {'jobs/s':>8} {'worker us/job':>14} {'redis us/job':>13} {'cmds/job':>9}")
        for name, rows in results.items():
            cols = [statistics.median(r[i] for r in rows) for i in range(4)]
            print(f"{name:<14} {cols[0]:>8,.0f} {cols[1]:>14.1f} {cols[2]:>13.1f} {cols[3]:>9.2f}")
        b, a = (statistics.median(r[0] for r in results[n]) for n in trees)
        print(f"ratio this tree / {opts.base}: {b / a:.2f}x jobs/s")


if __name__ == "__main__":
    main()
