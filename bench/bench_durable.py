"""What a durable enqueue costs: ``enqueue`` with and without ``WAIT`` for replicas.

    .venv/bin/python -m bench.bench_durable [--jobs 3000] [--rounds 3] [--replicas 1]

Starts its own master and ``--replicas`` replicas (redis-server ``--replicaof``, on one
host: the replica's acknowledgement is a local round trip, so this is the least a
durable enqueue costs; across hosts add the round trip to the farthest replica
needed). Per round, one after the other in turns: ``--jobs`` sequential
``app.enqueue`` calls on a plain app, on ``Resque(..., durable=1)`` and, with
``--replicas`` > 1, ``durable=<every replica>``; then ``enqueue_many`` of the same
number in one call, plain and durable. Reported: microseconds per enqueue (medians
over the rounds) and the ratio to plain.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench._server import RedisServer, ratio
from pyresque import Resque
from tests.sentinel_cluster import Node

QUEUE = "durable"


def per_enqueue(app: Resque, jobs: int) -> float:
    app.backend.client.flushall()  # type: ignore[attr-defined]
    began = time.perf_counter()
    for i in range(jobs):
        app.enqueue(QUEUE, "Job", i)
    return (time.perf_counter() - began) / jobs * 1e6


def per_batch_item(app: Resque, jobs: int) -> float:
    app.backend.client.flushall()  # type: ignore[attr-defined]
    began = time.perf_counter()
    app.enqueue_many([(QUEUE, "Job", (i,)) for i in range(jobs)])
    return (time.perf_counter() - began) / jobs * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--replicas", type=int, default=1)
    opts = parser.parse_args()
    master = RedisServer()
    master.start()
    replicas = [Node(["--replicaof", "127.0.0.1", str(master.port)]) for _ in range(opts.replicas)]
    try:
        for replica in replicas:
            replica.start()
        while master.client().info("replication")["connected_slaves"] < opts.replicas:
            time.sleep(0.05)
        levels = sorted({0, 1, opts.replicas})
        apps = {n: Resque(master.url, durable=n, durable_timeout=5.0) for n in levels}
        single: dict[int, list[float]] = {n: [] for n in levels}
        batch: dict[int, list[float]] = {n: [] for n in (0, 1)}
        for r in range(opts.rounds):
            order = levels[r % len(levels) :] + levels[: r % len(levels)]
            for n in order:
                single[n].append(per_enqueue(apps[n], opts.jobs))
            for n in (0, 1):
                batch[n].append(per_batch_item(apps[n], opts.jobs))
        print(
            f"{opts.jobs} enqueues, master + {opts.replicas} replica(s) on one host, median of {opts.rounds}"
        )
        base = statistics.median(single[0])
        for n in levels:
            us = statistics.median(single[n])
            label = "plain" if n == 0 else f"durable={n}"
            print(f"  enqueue       {label:>10}: {us:7.1f} us/job  {ratio(us, base):>6}")
        base = statistics.median(batch[0])
        for n in (0, 1):
            us = statistics.median(batch[n])
            label = "plain" if n == 0 else "durable=1"
            print(f"  enqueue_many  {label:>10}: {us:7.2f} us/job  {ratio(us, base):>6}")
        for app in apps.values():
            app.close()
    finally:
        for replica in replicas:
            replica.close()
        master.close()


if __name__ == "__main__":
    main()
