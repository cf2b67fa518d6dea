"""Async enqueue: pyresque's AsyncResque vs its sync client vs arq and SAQ, in one run.

    .venv/bin/python -m bench.bench_async_enqueue [--jobs 5000] [--runs 3] [--window 100]

Starts its own redis-server on a free port and enqueues N no-op jobs (args ``1, "x"``)
per contender, each round running every contender once (so drift hits all alike);
prints jobs/s, the median of the rounds, and ratios. Contenders:

- ``single``: one enqueue awaited after the other (a request handler's case);
- ``gather``: ``--window`` enqueues in flight at once (``asyncio.gather``), the best an
  API without a batch call can do; arq and SAQ have no bulk enqueue, so this is their
  bulk figure. Every client gets a pool of ``--window`` connections;
- ``enqueue_many``: pyresque's one pipeline per 5,000 jobs (sync and async).

arq and SAQ come from bench/requirements-peers.txt (``pip install --no-deps -r``); a
missing one is left out of the table. Each contender's jobs are counted in Redis
after its run (a bench that lost jobs would be fast for nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from bench._server import RedisServer, ratio
from pyresque import AsyncResque, Resque
from pyresque.backends.redis.aio import AsyncRedisBackend
from pyresque.backends.redis.aio.connection import connect
from tests.jobs import noop

AsyncRun = Callable[[], Awaitable[None]]


async def _windowed(n: int, window: int, one: Callable[[], Awaitable[Any]]) -> None:
    for start in range(0, n, window):
        await asyncio.gather(*(one() for _ in range(min(window, n - start))))


def _sync_rate(n: int, fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


async def _async_rate(n: int, fn: AsyncRun) -> float:
    start = time.perf_counter()
    await fn()
    return n / (time.perf_counter() - start)


Peer = tuple[Callable[[], Awaitable[Any]], AsyncRun, AsyncRun]


def _peers(url: str, n: int, window: int) -> dict[str, Peer]:
    """name -> (setup, single, gather) for the peers that are installed."""
    peers: dict[str, Peer] = {}
    try:
        from arq import create_pool
        from arq.connections import RedisSettings
    except ImportError:
        pass
    else:
        state: dict[str, Any] = {}

        async def arq_setup() -> None:
            if "pool" not in state:
                settings = RedisSettings.from_dsn(url)
                settings.max_connections = window
                state["pool"] = await create_pool(settings)

        async def arq_single() -> None:
            pool = state["pool"]
            for _ in range(n):
                await pool.enqueue_job("noop", 1, "x")

        async def arq_gather() -> None:
            pool = state["pool"]
            await _windowed(n, window, lambda: pool.enqueue_job("noop", 1, "x"))

        peers["arq"] = (arq_setup, arq_single, arq_gather)
    try:
        from saq.queue.redis import RedisQueue
    except ImportError:
        pass
    else:
        queues: dict[str, Any] = {}

        async def saq_setup() -> None:
            if "q" not in queues:
                import redis.asyncio

                pool = redis.asyncio.Redis.from_url(url, max_connections=window)
                queues["q"] = RedisQueue(pool, name="bench")
                await queues["q"].connect()

        async def saq_single() -> None:
            q = queues["q"]
            for _ in range(n):
                await q.enqueue("noop", a=1, b="x")

        async def saq_gather() -> None:
            q = queues["q"]
            await _windowed(n, window, lambda: q.enqueue("noop", a=1, b="x"))

        peers["saq"] = (saq_setup, saq_single, saq_gather)
    return peers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--window", type=int, default=100, help="enqueues in flight, and pool size")
    opts = parser.parse_args()
    n, window = opts.jobs, opts.window

    server = RedisServer()
    server.start()
    client = redis.Redis(port=server.port)
    samples: dict[str, list[float]] = {}
    try:
        sync_app = Resque(server.url)
        sync_app.job(noop, name="noop")

        def record(name: str, rate: float, expect_keys: bool = True) -> None:
            if expect_keys and client.dbsize() == 0:
                raise RuntimeError(f"{name}: nothing was written")
            samples.setdefault(name, []).append(rate)
            client.flushall()

        def check_pyresque(name: str) -> None:
            got = client.llen("resque:queue:bench")
            if got != n:
                raise RuntimeError(f"{name}: {got} jobs in the queue, expected {n}")

        async def async_round(app: AsyncResque, peers: dict[str, Any]) -> None:
            async def single() -> None:
                for _ in range(n):
                    await app.enqueue("bench", noop, 1, "x")

            async def gather() -> None:
                await _windowed(n, window, lambda: app.enqueue("bench", noop, 1, "x"))

            async def many() -> None:
                await app.enqueue_many([("bench", noop, (1, "x"))] * n)

            for name, run in (("single", single), ("gather", gather), ("enqueue_many", many)):
                rate = await _async_rate(n, run)
                check_pyresque(f"async {name}")
                record(f"pyresque async {name}", rate)
            for peer, (setup, single_run, gather_run) in peers.items():
                await setup()
                for name, run in (("single", single_run), ("gather", gather_run)):
                    record(f"{peer} {name}", await _async_rate(n, run))

        async def async_all() -> None:
            client_ = connect(server.url, max_connections=window).client
            async with AsyncResque(AsyncRedisBackend(client_), registry=sync_app.registry) as app:
                await app.enqueue("warm", noop)  # connect and load the script outside the clock
                client.flushall()
                peers = _peers(server.url, n, window)
                for _ in range(opts.runs):
                    sync_round()
                    await async_round(app, peers)

        def sync_round() -> None:
            def single() -> None:
                for _ in range(n):
                    sync_app.enqueue("bench", noop, 1, "x")

            rate = _sync_rate(n, single)
            check_pyresque("sync single")
            record("pyresque sync single", rate)
            rate = _sync_rate(n, lambda: sync_app.enqueue_many([("bench", noop, (1, "x"))] * n))
            check_pyresque("sync enqueue_many")
            record("pyresque sync enqueue_many", rate)

        sync_app.enqueue("warm", noop)
        asyncio.run(async_all())
        sync_app.close()
    finally:
        client.close()
        server.close()

    results = {name: statistics.median(rates) for name, rates in samples.items()}
    print(f"enqueue of {n:,} no-op jobs, median of {opts.runs} rounds, window {window}, loopback redis")
    print(f"{'contender':<30}{'jobs/s':>10}{'vs sync':>10}{'vs arq':>10}{'vs saq':>10}")
    for name, rate in results.items():
        kind = "enqueue_many" if "many" in name else ("gather" if "gather" in name else "single")
        sync_ref = results.get(f"pyresque sync {'enqueue_many' if kind == 'enqueue_many' else 'single'}", 0.0)
        peer_kind = "single" if kind == "single" else "gather"
        cells = [ratio(rate, sync_ref)]
        cells += [ratio(rate, results.get(f"{p} {peer_kind}", 0.0)) for p in ("arq", "saq")]
        print(f"{name:<30}{rate:>10,.0f}" + "".join(f"{c:>10}" for c in cells))


if __name__ == "__main__":
    main()
