"""What one job costs Redis, and how far one Redis goes with more workers.

    .venv/bin/python -m bench.bench_redis_cost [--jobs 20000] [--workers 1,2,4] [--shards 2,4]

Starts its own redis-server. For each worker count K (in the same run, on the same
server), it fills one queue with ``--jobs`` untracked no-op jobs (pyresque's full
payload: class, args, id, queue_time), resets ``INFO commandstats``, then runs K
``pyresque worker --mode inprocess --burst`` processes at once until the queue is
empty, and reports:

- aggregate throughput (jobs / wall time of the whole drain, start-up included);
- Redis CPU per job (``used_cpu_user + used_cpu_sys`` over the drain / jobs);
- worker CPU per job (``getrusage`` of the worker processes / jobs);
- where Redis spent its time: ``INFO commandstats`` (calls and microseconds per job
  of each command). The worker sends one ``evalsha`` per job (its RESERVE script,
  which finishes the previous job and takes the next); the other commands listed are
  the ones that script calls inside Redis, and their time is part of ``evalsha``'s.

The time ``commandstats`` counts is the commands' own execution; the rest of Redis
CPU per job (reading, parsing, writing replies, the event loop: syscalls) is the
difference between the two.

``--shards 2,4``: then, for each count S, S redis-servers (shards, as
``pyresque.backends.redis.shards`` places queues: each its own Resque namespace), the
same ``--jobs`` split evenly over them, and one worker process per shard, all at once:
aggregate throughput and Redis CPU per job summed over the shards. On a machine with
fewer cores than shards + workers this measures the machine, not the design.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid

import redis

from bench._server import ROOT, RedisServer

QUEUE = "cost"


def fill(client: redis.Redis, jobs: int) -> None:
    client.flushall()
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for _ in range(jobs):
        payload = {"class": "noop", "args": [], "id": uuid.uuid4().hex, "queue_time": now}
        pipe.rpush(f"resque:queue:{QUEUE}", json.dumps(payload, separators=(",", ":")))
    pipe.sadd("resque:queues", QUEUE)
    pipe.execute()


def redis_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def drain(client: redis.Redis, url: str, jobs: int, workers: int) -> dict[str, object]:
    fill(client, jobs)
    client.config_resetstat()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "pyresque", "worker", "--queue", QUEUE, "--redis", url,
           "--app-include", "bench.worker_bench_jobs", "--mode", "inprocess", "--burst"]  # fmt: skip
    cpu0 = redis_cpu(client)
    use0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    quiet = subprocess.DEVNULL
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=quiet, stderr=quiet) for _ in range(workers)]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a worker exited {proc.returncode}")
    wall = time.perf_counter() - began
    use1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu1 = redis_cpu(client)
    stats = client.info("commandstats")
    done = int(client.get("resque:stat:processed") or 0)
    if done != jobs:
        raise SystemExit(f"processed {done} of {jobs}")
    worker_cpu = (use1.ru_utime + use1.ru_stime) - (use0.ru_utime + use0.ru_stime)
    commands = {
        name.removeprefix("cmdstat_"): (int(v["calls"]) / jobs, float(v["usec"]) / jobs)
        for name, v in stats.items()
        if name not in ("cmdstat_config", "cmdstat_info")
    }
    return {
        "rate": jobs / wall,
        "redis_us": (cpu1 - cpu0) / jobs * 1e6,
        "worker_us": worker_cpu / jobs * 1e6,
        "commands": commands,
    }


def shard_drain(servers: list[RedisServer], jobs: int) -> tuple[float, float]:
    """All shards at once, one worker each: (aggregate jobs/s, summed Redis CPU us/job)."""
    clients = [redis.Redis(port=s.port) for s in servers]
    for client in clients:
        fill(client, jobs // len(servers))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cpu0 = sum(redis_cpu(c) for c in clients)
    began = time.perf_counter()
    quiet = subprocess.DEVNULL
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyresque",
                "worker",
                "--queue",
                QUEUE,
                "--redis",
                f"redis://127.0.0.1:{s.port}/0",
                "--app-include",
                "bench.worker_bench_jobs",
                "--mode",
                "inprocess",
                "--burst",
            ],
            cwd=ROOT,
            env=env,
            stdout=quiet,
            stderr=quiet,
        )
        for s in servers
    ]
    for proc in procs:
        if proc.wait() != 0:
            raise SystemExit(f"a worker exited {proc.returncode}")
    wall = time.perf_counter() - began
    done = sum(int(c.get("resque:stat:processed") or 0) for c in clients)
    total = jobs // len(servers) * len(servers)
    if done != total:
        raise SystemExit(f"processed {done} of {total}")
    return total / wall, (sum(redis_cpu(c) for c in clients) - cpu0) / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=20000)
    parser.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    parser.add_argument("--shards", default="", help="shard counts, comma-separated (one worker each)")
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        client = redis.Redis(port=server.port)
        url = f"redis://127.0.0.1:{server.port}/0"
        print(f"{opts.jobs} untracked no-op jobs, in-process workers (--burst), one redis-server")
        print(f"{'workers':>7} {'jobs/s':>8} {'redis us/job':>13} {'worker us/job':>14} {'sent/job':>9} "
          f"{'in-script':>9} {'script us/job':>13}")  # fmt: skip
        results = {}
        for count in (int(c) for c in opts.workers.split(",")):
            r = results[count] = drain(client, url, opts.jobs, count)
            commands: dict[str, tuple[float, float]] = r["commands"]  # type: ignore[assignment]
            scripted = {"evalsha", "eval"}
            sent = sum(calls for name, (calls, _) in commands.items() if name in scripted or name == "ping")
            inner = sum(
                calls for name, (calls, _) in commands.items() if name not in scripted and name != "ping"
            )
            script_us = sum(us for name, (_, us) in commands.items() if name in scripted)
            print(f"{count:>7} {r['rate']:8.0f} {r['redis_us']:13.1f} {r['worker_us']:14.1f} {sent:9.2f} "
                  f"{inner:9.2f} {script_us:13.1f}")  # fmt: skip
        print("\nINFO commandstats per job (calls, us of execution):")
        for count, r in results.items():
            rows = sorted(r["commands"].items(), key=lambda kv: -kv[1][1])  # type: ignore[attr-defined]
            text = ", ".join(
                f"{name} {calls:.2f} x {usec:.1f}us" for name, (calls, usec) in rows if calls >= 0.001
            )
            print(f"  {count} worker(s): {text}")
    finally:
        server.stop()
    counts = [int(c) for c in opts.shards.split(",") if c]
    if counts:
        print(f"\nshards: {opts.jobs} jobs split over S redis-servers, one in-process worker per shard")
        print(f"{'shards':>7} {'jobs/s':>8} {'redis us/job':>13}")
    for count in counts:
        servers = [RedisServer() for _ in range(count)]
        try:
            for s in servers:
                s.start()
            rate, rcpu = shard_drain(servers, opts.jobs)
            print(f"{count:>7} {rate:8.0f} {rcpu:13.1f}")
        finally:
            for s in servers:
                s.stop()


if __name__ == "__main__":
    main()
