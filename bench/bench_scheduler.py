"""Scheduler throughput: promote N due delayed items to their queue.

    .venv/bin/python -m bench.bench_scheduler [--items 100000] [--runs 3] [--batch 1000]

Starts its own redis-server on a free port. For each run it writes N items in
resque-scheduler's format (list + reverse index + schedule ZSET) under two layouts
(all at one timestamp; spread over 1,000 timestamps), then times one
``Promoter.promote_due`` call that moves them all (atomic per item), checks every
item reached the queue exactly once, and prints items/s (median of the runs).
"""

from __future__ import annotations

import argparse
import statistics
import time

import redis

from bench._server import RedisServer
from pyresque import Resque
from pyresque.backends.redis import RedisBackend
from pyresque.core.scheduling.promotion import Promoter

#: What the issue asks for.
TARGET = 50_000


def _write(client: redis.Redis, n: int, spread: int, due: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        ts = due - (i % spread)
        item = b'{"class":"Foo::Bar","args":[%d,"a/b"],"queue":"bench"}' % i
        pipe.rpush(f"resque:delayed:{ts}", item)
        pipe.sadd(b"resque:timestamps:" + item, f"delayed:{ts}")
        if i < spread:
            pipe.zadd("resque:delayed_queue_schedule", {str(ts): ts})
        if len(pipe) >= 30_000:
            pipe.execute()
    pipe.execute()


def _once(client: redis.Redis, n: int, spread: int, batch: int) -> float:
    client.flushall()
    due = int(time.time()) - 10
    _write(client, n, spread, due)
    app = Resque(RedisBackend(client))
    promoter = Promoter(app, batch_size=batch)
    start = time.perf_counter()
    result = promoter.promote_due(due)
    elapsed = time.perf_counter() - start
    queued = client.llen("resque:queue:bench")
    if result.promoted != n or queued != n or client.zcard("resque:delayed_queue_schedule"):
        raise SystemExit(f"promotion incomplete: promoted={result.promoted} queued={queued} of {n}")
    if len(set(client.lrange("resque:queue:bench", 0, -1))) != n:
        raise SystemExit("duplicate items in the queue")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000)
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        print(f"promote {opts.items:,} due delayed items, batch {opts.batch}, median of {opts.runs} runs")
        for label, spread in (("one timestamp", 1), ("1,000 timestamps", 1000)):
            rates = [_once(client, opts.items, spread, opts.batch) for _ in range(opts.runs)]
            median = statistics.median(rates)
            verdict = "ok" if median >= TARGET else f"below the {TARGET:,}/s aim"
            runs = ", ".join(f"{r:,.0f}" for r in rates)
            print(f"  {label:<18} {median:>10,.0f} items/s  ({verdict}; runs: {runs})")
        client.close()
    finally:
        server.close()


if __name__ == "__main__":
    main()
