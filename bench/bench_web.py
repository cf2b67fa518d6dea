"""pyresque web on big sets: server time and Redis commands per page.

    .venv/bin/python -m bench.bench_web [--runs 7] [--failures 200000] [--jobs 100000]
        [--delayed 10000] [--workers 500] [--small 1000]

Starts its own redis-server and writes, with pipelines, a failed list of ``--failures``
entries, a queue of ``--jobs`` jobs (plus nine small queues), ``--delayed`` delayed
timestamps and ``--workers`` workers (one in five working), then calls every page of
the dashboard in-process (httpx's ASGI transport: no sockets, so the time is the
server's: routing, Redis round trips, rendering). Reported per page: the median time
over ``--runs`` calls (after one warm-up call) and the Redis commands it sent (from
``INFO stats`` ``total_commands_processed``, the INFO calls themselves taken off). The
same pages are then measured on a small set (``--small`` failures, jobs and delayed
timestamps, the same workers): a page whose cost does not grow with the set has about
the same figures on both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
import redis

from bench._server import RedisServer

NS = "resque"


def write(client: redis.Redis, failures: int, jobs: int, delayed: int, workers: int) -> None:
    """The data set, written in pipelines of 10,000 values."""
    client.flushall()
    batch = 10_000
    now = time.time()
    entry = {
        "failed_at": "2026/12/01 10:00:00 UTC",
        "payload": {"class": "SendMail", "args": [0, "user@example.com"]},
        "exception": "Net::ReadTimeout",
        "error": "timed out after 30s",
        "backtrace": ["app/jobs/send_mail.rb:12:in `perform'"],
        "worker": "web-1:100:mail",
        "queue": "mail",
    }
    for start in range(0, failures, batch):
        values = []
        for i in range(start, min(failures, start + batch)):
            entry["payload"]["args"][0] = i  # type: ignore[index]
            values.append(json.dumps(entry))
        client.rpush(f"{NS}:failed", *values)
    for start in range(0, jobs, batch):
        values = [
            json.dumps({"class": "Resize", "args": [i], "id": f"{i:032x}", "queue_time": now - 60})
            for i in range(start, min(jobs, start + batch))
        ]
        client.rpush(f"{NS}:queue:big", *values)
    client.sadd(f"{NS}:queues", "big", *[f"q{i}" for i in range(9)])
    pipe = client.pipeline(transaction=False)
    for i in range(9):
        pipe.rpush(f"{NS}:queue:q{i}", json.dumps({"class": "Small", "args": [i]}))
    base = int(now) + 3600
    for i in range(delayed):
        ts = base + i
        item = json.dumps({"class": "Later", "args": [i], "queue": "mail"})
        pipe.zadd(f"{NS}:delayed_queue_schedule", {str(ts): ts})
        pipe.rpush(f"{NS}:delayed:{ts}", item)
        pipe.sadd(f"{NS}:timestamps:{item}", f"delayed:{ts}")
        if i % batch == batch - 1:
            pipe.execute()
    for i in range(workers):
        wid = f"host{i % 20}:{1000 + i}:mail,big"
        pipe.sadd(f"{NS}:workers", wid)
        pipe.set(f"{NS}:worker:{wid}:started", "2026-12-01 10:00:00 +0000")
        pipe.hset(f"{NS}:workers:heartbeat", wid, "2026-12-01T10:00:00+00:00")
        if i % 5 == 0:
            record = {
                "queue": "big",
                "run_at": "2026-12-01T10:00:00Z",
                "payload": {"class": "Resize", "args": [i]},
            }
            pipe.set(f"{NS}:worker:{wid}", json.dumps(record))
    pipe.set(f"{NS}:stat:processed", 123456789)
    pipe.execute()


def pages(failures: int, jobs: int, delayed: int) -> list[tuple[str, str]]:
    """(label, path) of every page measured; the far pages are the last ones."""
    first_ts = int(time.time()) + 3600
    return [
        ("overview", "/"),
        ("queues", "/queues"),
        ("queue big, first page", "/queue?name=big"),
        ("queue big, last page", f"/queue?name=big&start={max(0, jobs - 25)}"),
        ("workers", "/workers"),
        ("failed, first page", "/failed"),
        ("failed, last page", f"/failed?start={max(0, failures - 25)}"),
        ("failed search (capped)", "/failed?q=no-such-text"),
        ("failed filter by class", "/failed?class=SendMail"),
        ("delayed, first page", "/delayed"),
        ("delayed, last page", f"/delayed?start={max(0, delayed - 25)}"),
        ("delayed timestamp", f"/delayed/at?ts={first_ts}"),
        ("schedule", "/schedule"),
        ("stats", "/stats"),
        ("key browser", "/stats/keys"),
        ("live poll (failed)", "/api/poll?page=failed"),
        ("api failed", "/api/failed"),
    ]


async def measure(url: str, targets: list[tuple[str, str]], runs: int) -> dict[str, tuple[float, int]]:
    """label -> (median ms, Redis commands of one call)."""
    from pyresque.web import create_app

    admin = redis.Redis.from_url(url)

    def processed() -> int:
        return int(admin.info("stats")["total_commands_processed"])

    idle = processed()
    info_cost = processed() - idle  # what one INFO adds to the count
    web = create_app(url)
    results: dict[str, tuple[float, int]] = {}
    async with web.router.lifespan_context(web):
        transport = httpx.ASGITransport(app=web)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for label, path in targets:
                (await http.get(path)).raise_for_status()  # warm-up (scripts, templates, pool)
                before = processed()
                (await http.get(path)).raise_for_status()
                commands = processed() - before - info_cost
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    reply = await http.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    reply.raise_for_status()
                results[label] = (statistics.median(times), commands)
    admin.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--failures", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--delayed", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=500)
    parser.add_argument("--small", type=int, default=1_000)
    args = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        client = server.client()
        sets = {
            "big": (args.failures, args.jobs, args.delayed),
            "small": (args.small, args.small, min(args.small, args.delayed)),
        }
        figures = {}
        for name, (failures, jobs, delayed) in sets.items():
            t0 = time.perf_counter()
            write(client, failures, jobs, delayed, args.workers)
            wrote = time.perf_counter() - t0
            print(f"{name}: {failures:,} failures, {jobs:,} jobs, {delayed:,} timestamps, "
                  f"{args.workers} workers written in {wrote:.1f} s; "
                  f"used_memory {client.info('memory')['used_memory_human']}")  # fmt: skip
            figures[name] = asyncio.run(measure(server.url, pages(failures, jobs, delayed), args.runs))
        print()
        print(
            f"{'page':<26} {'big ms':>8} {'small ms':>9} {'big/small':>9} {'cmds big':>9} {'cmds small':>10}"
        )
        for label, (big_ms, big_cmds) in figures["big"].items():
            small_ms, small_cmds = figures["small"][label]
            print(
                f"{label:<26} {big_ms:>8.2f} {small_ms:>9.2f} {big_ms / small_ms:>8.2f}x "
                f"{big_cmds:>9} {small_cmds:>10}"
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
