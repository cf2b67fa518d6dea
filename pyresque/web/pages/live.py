"""Live updates: ``/api/live`` (Server-Sent Events, one ``tick`` event per interval)
and ``/api/poll`` (the same snapshot once, for browsers without EventSource or when the
stream fails).

A snapshot has the overview's counters (``processed``, ``failed``, ``pending`` ...),
the server time (the page's script turns counter deltas into per-second throughput)
and a ``fingerprint`` of the page asked for (``page=failed``: the failed list's length;
``page=queue&name=Q``: that queue's size ...). When the fingerprint changes, the script
re-reads the page and swaps its ``#live-region`` in place, keeping scroll position,
ticked checkboxes and open details.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pyresque.web.data import queues as queue_data
from pyresque.web.data.store import Store
from pyresque.web.pages.common import int_param, store

__all__ = ["ROUTES", "snapshot"]

#: Allowed intervals, seconds.
MIN_INTERVAL, MAX_INTERVAL = 1, 60


async def snapshot(db: Store, page: str, params: dict[str, str]) -> dict[str, Any]:
    """The counters and the fingerprint of ``page``."""
    data = await queue_data.summary(db)
    queues = data.pop("queues")
    fingerprint = ""
    if page == "queues":
        fingerprint = ",".join(f"{q['name']}={q['size']}" for q in queues)
    elif page == "queue" and params.get("name"):
        fingerprint = str(await db.one("LLEN", db.k.queue(params["name"])))
    elif page == "failed" and params.get("name"):
        fingerprint = str(await db.one("LLEN", db.k.prefix + params["name"]))
    elif page == "failed":
        fingerprint = str(data["failed_entries"])
    elif page == "workers":
        fingerprint = f"{data['workers']}:{data['working']}"
    elif page == "delayed":
        fingerprint = str(data["delayed_timestamps"])
    elif page == "delayed_at" and params.get("ts", "").isdigit():
        fingerprint = str(await db.one("LLEN", db.k.delayed(int(params["ts"]))))
    data["queue_count"] = len(queues)
    data["fingerprint"] = fingerprint
    return data


def _params(request: Request) -> tuple[str, dict[str, str]]:
    q = request.query_params
    return q.get("page", "overview")[:20], {"name": q.get("name", "")[:500], "ts": q.get("ts", "")[:20]}


async def poll(request: Request) -> Response:
    """One snapshot as JSON."""
    page, params = _params(request)
    return JSONResponse(await snapshot(store(request), page, params))


async def live(request: Request) -> Response:
    """The snapshot every ``interval`` seconds as Server-Sent Events (``limit``: stop
    after that many events, for tests and curl)."""
    page, params = _params(request)
    interval = int_param(request, "interval", 2, low=MIN_INTERVAL, high=MAX_INTERVAL)
    limit = int_param(request, "limit", 0)
    db = store(request)

    async def events() -> AsyncIterator[str]:
        yield f"retry: {interval * 1000}\n\n"
        sent = 0
        while True:
            try:
                body = json.dumps(await snapshot(db, page, params))
                yield f"event: tick\ndata: {body}\n\n"
            except (redis.RedisError, OSError) as exc:
                yield f"event: trouble\ndata: {json.dumps(str(exc)[:200])}\n\n"
            sent += 1
            if limit and sent >= limit:
                return
            await asyncio.sleep(interval)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"x-accel-buffering": "no"})


ROUTES = [Route("/api/live", live), Route("/api/poll", poll)]
