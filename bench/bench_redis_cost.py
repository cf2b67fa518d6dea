"""What one job costs Redis, and how far one Redis (or S of them) goes with more workers.

    .venv/bin/python -m bench.bench_redis_cost [--jobs 10000] [--workers 1,2,4,8]
        [--shards 1,2,4] [--rounds 3] [--async-concurrency N] [--breakdown-ops 5000]
        [--base REV]

Starts its own redis-servers. Every configuration drains ``--jobs`` untracked no-op jobs
(pyresque's full payload: class, args, id, queue_time) with ``pyresque worker --mode
inprocess --burst`` processes started at once, and the configurations take turns,
``--rounds`` times (medians reported), so a noisy moment of the machine hits them all:

- one redis-server and K worker processes, for each K of ``--workers``;
- S redis-servers (shards: each its own Resque namespace, as
  ``pyresque.backends.redis.shards`` places queues) holding ``--jobs / S`` jobs each and
  one worker process per shard on that shard's URL, for each S of ``--shards``.

Reported per configuration: aggregate jobs/s (jobs / wall time of the drain, start-up
included); Redis CPU per job (``used_cpu_user`` + ``used_cpu_sys`` of ``INFO cpu``,
summed over the shards, each part shown: ``sys`` is the kernel's work for Redis, its
socket reads, writes and ``epoll_wait``); EVALSHA's execution time per job (``INFO
commandstats``: the worker's RESERVE script) and, of it, the commands it runs inside;
those commands per job; worker CPU per job (``getrusage`` of the workers); round trips
per job (``total_reads_processed``: one socket read per request the server got, start-up
included); and the Redis-bound ceiling, *derived*: S x 1e6 / (Redis us per job), what S
Redis cores would do if Redis were the only limit.

``--async-concurrency N`` adds one ``--mode async`` worker with N slots on one Redis:
its slots' RESERVE scripts share one pipeline per round, so several jobs share a round
trip (what that does to the syscall part of Redis CPU).

The machine's core count is printed first: with more processes than cores, the
throughput columns measure the machine (the Redis CPU per job is still Redis's).

``--breakdown-ops N`` (0 to skip) then takes the hot step apart on a fresh server (see
``bench/_redis_breakdown.py``): a round trip, a script call, its arguments, cjson, the
commands alone, in MULTI/EXEC, from a script, and the worker's RESERVE; ``--base REV``
adds the RESERVE script of commit ``REV`` to it, sent by this tree's client.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence

import redis

from bench._redis_breakdown import base_reserve, breakdown, lua_costs, print_breakdown, print_lua_costs
from bench._server import ROOT, RedisServer

QUEUE = "cost"
FIGURES = (
    "rate",
    "redis_us",
    "user_us",
    "sys_us",
    "script_us",
    "inner_us",
    "inner_calls",
    "worker_us",
    "rtt",
)


def fill(client: redis.Redis, jobs: int) -> None:
    """Empty the server and queue ``jobs`` untracked no-op jobs in one pipeline."""
    client.flushall()
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for _ in range(jobs):
        payload = {"class": "noop", "args": [], "id": uuid.uuid4().hex, "queue_time": now}
        pipe.rpush(f"resque:queue:{QUEUE}", json.dumps(payload, separators=(",", ":")))
    pipe.sadd("resque:queues", QUEUE)
    pipe.execute()


def _snapshot(client: redis.Redis) -> tuple[float, float, int]:
    info = client.info()
    return float(info["used_cpu_user"]), float(info["used_cpu_sys"]), int(info["total_reads_processed"])


def _worker_cmd(url: str, mode: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pyresque", "worker", "--queue", QUEUE, "--redis", url,
            "--app-include", "bench.worker_bench_jobs", *mode, "--burst"]  # fmt: skip


def drain(
    servers: Sequence[RedisServer],
    jobs: int,
    workers_each: int,
    mode: Sequence[str] = ("--mode", "inprocess"),
) -> dict[str, float]:
    """Fill every server with ``jobs / len(servers)`` jobs, run ``workers_each`` workers
    on each at once, and return the figures (see the module docstring)."""
    clients = [redis.Redis(port=s.port) for s in servers]
    share = jobs // len(servers)
    total = share * len(servers)
    for client in clients:
        fill(client, share)
        client.config_resetstat()
    before = [_snapshot(c) for c in clients]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    use0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    quiet = subprocess.DEVNULL
    procs = [
        subprocess.Popen(
            _worker_cmd(f"redis://127.0.0.1:{s.port}/0", mode), cwd=ROOT, env=env, stdout=quiet, stderr=quiet
        )
        for s in servers
        for _ in range(workers_each)
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a worker exited {proc.returncode}")
    wall = time.perf_counter() - began
    use1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = [_snapshot(c) for c in clients]
    out = dict.fromkeys(FIGURES, 0.0)
    for client, (u0, s0, r0), (u1, s1, r1) in zip(clients, before, after, strict=True):
        out["user_us"] += (u1 - u0) / total * 1e6
        out["sys_us"] += (s1 - s0) / total * 1e6
        out["rtt"] += (r1 - r0) / total
        for name, v in client.info("commandstats").items():
            name = name.removeprefix("cmdstat_")
            if name.split("|")[0] in ("config", "info", "flushall"):
                continue
            if name in ("evalsha", "eval"):
                out["script_us"] += float(v["usec"]) / total
            else:
                out["inner_us"] += float(v["usec"]) / total
                out["inner_calls"] += int(v["calls"]) / total
        done = int(client.get("resque:stat:processed") or 0)
        client.close()
        if done != share:
            raise SystemExit(f"processed {done} of {share}")
    out["redis_us"] = out["user_us"] + out["sys_us"]
    out["rate"] = total / wall
    out["worker_us"] = ((use1.ru_utime + use1.ru_stime) - (use0.ru_utime + use0.ru_stime)) / total * 1e6
    return out


def _header(first: str) -> None:
    print(f"{first:>7} {'jobs/s':>7} {'redis us/job':>12} {'user':>6} {'sys':>6} {'evalsha us':>10} "
          f"{'inner us':>8} {'inner cmds':>10} {'worker us/job':>13} {'rtt/job':>7} "
          f"{'ceiling*':>9}")  # fmt: skip


def _row(label: int, r: dict[str, float], cores: int) -> None:
    ceiling = cores * 1e6 / r["redis_us"] if r["redis_us"] else 0.0
    print(f"{label:>7} {r['rate']:7.0f} {r['redis_us']:12.1f} {r['user_us']:6.1f} {r['sys_us']:6.1f} "
          f"{r['script_us']:10.1f} {r['inner_us']:8.1f} {r['inner_calls']:10.2f} {r['worker_us']:13.1f} "
          f"{r['rtt']:7.3f} {ceiling:9.0f}")  # fmt: skip


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {f: statistics.median(r[f] for r in runs) for f in FIGURES}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--workers", default="1,2,4,8", help="worker process counts on one Redis")
    parser.add_argument("--shards", default="1,2,4", help="shard counts (one worker per shard)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--async-concurrency", type=int, default=0, help="also one --mode async worker with N slots (0: none)"
    )
    parser.add_argument(
        "--breakdown-ops", type=int, default=5000, help="calls per breakdown variant; 0: none"
    )
    parser.add_argument("--base", default="", help="also break down the RESERVE script of this commit")
    opts = parser.parse_args()
    worker_counts = [int(c) for c in opts.workers.split(",") if c]
    shard_counts = [int(c) for c in opts.shards.split(",") if c]
    print(f"this machine: {os.cpu_count()} cores, shared by every redis-server, worker and this bench")
    one = RedisServer()
    shards = [RedisServer() for _ in range(max(shard_counts, default=0))]
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for s in [one, *shards]:
            s.start()
        for _ in range(opts.rounds):
            for k in worker_counts:
                runs.setdefault(("workers", k), []).append(drain([one], opts.jobs, k))
            for count in shard_counts:
                runs.setdefault(("shards", count), []).append(drain(shards[:count], opts.jobs, 1))
            if opts.async_concurrency:
                mode = ("--mode", "async", "--concurrency", str(opts.async_concurrency))
                runs.setdefault(("async", 1), []).append(drain([one], opts.jobs, 1, mode))
    finally:
        for s in [one, *shards]:
            s.stop()
    print(
        f"\n{opts.jobs} untracked no-op jobs, in-process workers (--burst), medians of {opts.rounds} rounds"
    )
    print("one redis-server, K worker processes:")
    _header("workers")
    for k in worker_counts:
        _row(k, _median(runs[("workers", k)]), 1)
    if shard_counts:
        print(f"\nS redis-servers (shards), {opts.jobs} / S jobs and one worker process each:")
        _header("shards")
        for count in shard_counts:
            _row(count, _median(runs[("shards", count)]), count)
    if opts.async_concurrency:
        print(f"\none redis-server, one --mode async worker, --concurrency {opts.async_concurrency}")
        print("(its slots' RESERVE scripts go in one pipeline per round: one read for several jobs):")
        _header("workers")
        _row(1, _median(runs[("async", 1)]), 1)
    print("\nredis us/job = used_cpu_user + used_cpu_sys (summed over shards) / jobs; evalsha us = its")
    print("execution (INFO commandstats), inner us and inner cmds = the commands it ran inside;")
    print("rtt/job = total_reads_processed / jobs (start-up included).")
    print("* derived, not measured: S x 1e6 / (redis us/job), the jobs/s S Redis cores would")
    print(f"  allow if Redis were the only limit ({os.cpu_count()} cores here run Redis and workers alike).")
    if opts.breakdown_ops > 0:
        server = RedisServer()
        server.start()
        try:
            extra = base_reserve(opts.base) if opts.base else None
            rows = breakdown(server.port, opts.breakdown_ops, opts.rounds, extra)
            print_breakdown(rows, opts.breakdown_ops)
            print_lua_costs(lua_costs(server.port))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
