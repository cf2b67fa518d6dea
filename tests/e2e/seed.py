"""A Resque Redis for the dashboard's tests, screenshots and docs: written by pyresque
(jobs, failures, delayed jobs) and, for workers and schedules, with the exact keys Ruby
Resque and resque-scheduler write.

Start at :func:`seed`. Hostile values (script tags, invalid UTF-8, a huge string) are
written on purpose: the dashboard must show them escaped.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import redis

from pyresque import Resque
from pyresque.backends.redis import RedisBackend
from pyresque.core import timefmt
from pyresque.core.failure import FailureRecord

__all__ = ["HOSTILE", "add_failures", "add_worker", "seed", "web_client"]

HOSTILE = "<script>alert('pwned')</script>"


def client(app: Resque) -> redis.Redis:
    """The app's redis-py client."""
    backend = app.backend
    assert isinstance(backend, RedisBackend)
    return backend.client


def add_failures(
    app: Resque, n: int, *, queue: str = "mail", cls: str = "SendMail", error: str = "timeout"
) -> None:
    """``n`` failures recorded by pyresque's failure store."""
    for i in range(n):
        try:
            raise TimeoutError(f"{error} #{i}")
        except TimeoutError as exc:
            record = FailureRecord.from_exception(
                exc,
                payload={"class": cls, "args": [i, f"user{i}@example.com"], "id": f"job{i:04d}"},
                queue=queue,
                worker=f"web-1:{100 + i}:{queue}",
            )
        app.backend.failures.save(record)


def add_worker(
    app: Resque, worker_id: str, *, heartbeat_age: float = 1.0, job: dict[str, Any] | None = None
) -> None:
    """A worker as Ruby Resque registers it (set, started, heartbeat, current job)."""
    r = client(app)
    ns = app.backend.keys.prefix  # type: ignore[attr-defined]
    now = time.time()
    r.sadd(ns + "workers", worker_id)
    r.set(f"{ns}worker:{worker_id}:started", timefmt.ruby_time_to_s(now - 3600))
    r.hset(ns + "workers:heartbeat", worker_id, timefmt.heartbeat_time(now - heartbeat_age))
    if job is not None:
        record = {"queue": job.get("queue", "default"), "run_at": timefmt.utc_iso_z(now - 42), "payload": job}
        r.set(f"{ns}worker:{worker_id}", json.dumps(record))


def seed(app: Resque) -> None:
    """Queues with jobs (one hostile), failures (one hostile), delayed jobs, workers, a schedule."""
    r = client(app)
    ns = app.backend.keys.prefix  # type: ignore[attr-defined]
    for i in range(30):
        app.enqueue("mail", "SendMail", i, f"user{i}@example.com")
    for i in range(5):
        app.enqueue("reports", "BuildReport", {"account": i})
    app.enqueue("mail", "SendMail", HOSTILE)
    r.sadd(ns + "queues", "raw")
    r.rpush(ns + "queue:raw", b"\xff\xfe not json " + HOSTILE.encode(), b"x" * 50_000)
    add_failures(app, 40)
    add_failures(app, 3, queue="reports", cls="BuildReport", error="division by zero")
    try:
        raise ValueError(HOSTILE)
    except ValueError as exc:
        hostile = FailureRecord.from_exception(
            exc, payload={"class": "Evil", "args": [HOSTILE, "\udcff"]}, queue="mail", worker="evil:1:mail"
        )
    app.backend.failures.save(hostile)
    now = int(time.time())
    for i in range(12):
        app.enqueue_at(now + 3600 * (i + 1), "mail", "SendMail", f"later{i}")
    app.enqueue_at(now + 3600, "reports", "BuildReport", {"account": 99})
    add_worker(app, "web-1:4242:mail,reports", job={"class": "SendMail", "args": [7], "queue": "mail"})
    add_worker(app, "web-1:4243:mail")
    add_worker(app, "web-2:777:reports", heartbeat_age=3600.0)
    r.set(ns + "stat:processed", 12345)
    r.hset(
        ns + "persistent_schedules",
        "nightly_report",
        json.dumps(
            {"class": "BuildReport", "queue": "reports", "cron": "0 3 * * *", "args": [{"account": 0}]}
        ),
    )
    r.hset(ns + "delayed:last_enqueued_at", "nightly_report", timefmt.ruby_time_to_s(now - 7200))
    for back in range(1, 30):  # the daily counters pyresque's history plugin writes
        day = time.strftime("%Y-%m-%d", time.gmtime(now - 86400 * back))
        r.set(f"{ns}stat:processed:{day}", 2000 + (back * 379) % 1500)
        r.set(f"{ns}stat:failed:{day}", (back * 53) % 180)


@contextlib.asynccontextmanager
async def web_client(url: str, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the dashboard in-process (through its lifespan); it
    sends ``Sec-Fetch-Site: same-origin`` as a browser on the page would."""
    from pyresque.web import create_app

    web = create_app(url, **options)
    async with web.router.lifespan_context(web):
        transport = httpx.ASGITransport(app=web)
        headers = {"sec-fetch-site": "same-origin"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as http:
            yield http
