"""The exporter's scrape cost on a big Resque Redis: round trips, commands and time.

    .venv/bin/python -m bench.bench_metrics [--queues 1000] [--workers 10000] [--scrapes 5]

Starts its own redis-server, writes ``--queues`` queues (one job each, with a
``queue_time``), ``--workers`` registered workers (half of them working, each with a
heartbeat) and a few hundred delayed timestamps, then scrapes with
:class:`pyresque.observability.exporter.RedisCollector` and prints the round trips
and Redis commands of one scrape (both independent of the sizes) and the median time.
"""

from __future__ import annotations

import argparse
import statistics
import time

import redis
from prometheus_client import CollectorRegistry, generate_latest

from bench._server import RedisServer
from pyresque.core import timefmt
from pyresque.observability.exporter import RedisCollector
from tests.roundtrips import counting_client


def _fill(client: redis.Redis, queues: int, workers: int) -> None:
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for q in range(queues):
        pipe.sadd("resque:queues", f"q{q}")
        pipe.rpush(f"resque:queue:q{q}", f'{{"class":"A","args":[],"queue_time":{now}}}')
    for w in range(workers):
        pipe.sadd("resque:workers", f"host:{w}:q")
        pipe.hset("resque:workers:heartbeat", f"host:{w}:q", timefmt.heartbeat_time(now))
        if w % 2:
            pipe.set(f"resque:worker:host:{w}:q", "{}")
    for ts in range(int(now) - 200, int(now) + 200):
        pipe.zadd("resque:delayed_queue_schedule", {str(ts): ts})
        pipe.rpush(f"resque:delayed:{ts}", "{}")
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queues", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=10_000)
    parser.add_argument("--scrapes", type=int, default=5)
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        plain = redis.Redis(port=server.port)
        _fill(plain, opts.queues, opts.workers)
        url = f"redis://127.0.0.1:{server.port}/0"
        client, counter = counting_client(url)
        registry = CollectorRegistry()
        registry.register(RedisCollector(client))
        client.ping()
        before = int(plain.info("stats")["total_commands_processed"])
        counter.sent = 0
        generate_latest(registry)
        trips = counter.sent
        commands = int(plain.info("stats")["total_commands_processed"]) - before - 1  # INFO itself
        times = []
        for _ in range(opts.scrapes):
            start = time.perf_counter()
            text = generate_latest(registry)
            times.append(time.perf_counter() - start)
        median_ms = statistics.median(times) * 1000
        print(f"{opts.queues} queues, {opts.workers} workers: {trips} round trips per scrape")
        print(f"  {commands} commands counted by the server (13 sent; the rest run inside 4 scripts)")
        print(f"  median {median_ms:.1f} ms, {len(text) / 1024:.0f} KiB of text")
        client.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
