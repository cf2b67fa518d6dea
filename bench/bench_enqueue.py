"""Enqueue throughput: pyresque vs a raw redis-py RPUSH loop vs RQ, in one run.

    .venv/bin/python -m bench.bench_enqueue [--jobs 20000] [--runs 3]

Starts its own redis-server on a free port, enqueues N no-op jobs per contender
(single calls, then bulk), and prints jobs/s (median of the runs) and ratios.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import redis

from bench._server import RedisServer, ratio
from pyresque import Resque
from pyresque.backends.redis import RedisBackend
from tests.jobs import noop


def _rate(n: int, fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    n = opts.jobs

    server = RedisServer()
    server.start()
    try:
        client = redis.Redis(port=server.port)
        app = Resque(RedisBackend(redis.Redis(port=server.port)))
        app.job(noop, name="noop")

        def fresh() -> None:
            client.flushall()

        def raw_loop() -> float:
            fresh()
            payload = b'{"class":"noop","args":[1,"x"]}'

            def run() -> None:
                for _ in range(n):
                    client.rpush("resque:queue:bench", payload)

            return _rate(n, run)

        def pyresque_single() -> float:
            fresh()

            def run() -> None:
                for _ in range(n):
                    app.enqueue("bench", noop, 1, "x")

            return _rate(n, run)

        def pyresque_bulk() -> float:
            fresh()
            return _rate(n, lambda: app.enqueue_many([("bench", noop, (1, "x"))] * n))

        contenders: dict[str, Any] = {
            "redis-py RPUSH loop": raw_loop,
            "pyresque enqueue": pyresque_single,
            "pyresque enqueue_many": pyresque_bulk,
        }
        try:
            import rq
        except ImportError:
            rq = None
        if rq is not None:
            queue = rq.Queue("bench", connection=redis.Redis(port=server.port))

            def rq_single() -> float:
                fresh()

                def run() -> None:
                    for _ in range(n):
                        queue.enqueue(noop, 1, "x")

                return _rate(n, run)

            def rq_bulk() -> float:
                fresh()
                data = [rq.Queue.prepare_data(noop, (1, "x")) for _ in range(n)]
                return _rate(n, lambda: queue.enqueue_many(data))

            contenders["rq enqueue"] = rq_single
            contenders["rq enqueue_many"] = rq_bulk
        # Interleave: each round runs every contender once, so drift hits all alike.
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(opts.runs):
            for name, once in contenders.items():
                samples[name].append(once())
        results = {name: statistics.median(rates) for name, rates in samples.items()}
    finally:
        server.close()

    raw = results["redis-py RPUSH loop"]
    print(f"enqueue of {n:,} no-op jobs, median of {opts.runs} runs, redis-server on loopback")
    print(f"{'contender':<24}{'jobs/s':>12}{'vs raw':>10}{'vs rq':>10}")
    for name, rate in results.items():
        rq_ref = results.get("rq enqueue_many" if "many" in name else "rq enqueue", 0.0)
        print(f"{name:<24}{rate:>12,.0f}{ratio(rate, raw):>10}{ratio(rate, rq_ref):>10}")


if __name__ == "__main__":
    main()
