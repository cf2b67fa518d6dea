"""The dashboard over a sharded app: :func:`create_sharded_app` (``create_app`` and
``pyresque web`` pick it for a shard spec: ``redis+shards://...`` or ``shards:FILE``).

Each shard gets a whole dashboard of its own at ``/0``, ``/1`` ... (in the spec's
order; the header's shard selector names them): its pages, its actions (retry, remove,
delete, pause ... each with its shard's compare-and-act scripts), its Redis INFO and
key browser, its security (CSP nonce, Basic auth, the cross-site check and the form
token). The pages at ``/`` add up every shard, read-only: the overview (totals and a
row per shard), every queue and every worker with their shard, the first failures
and delayed times of each shard, each linking to the row's shard for the actions;
``/api/poll`` keeps them live.
``/metrics`` is the sharded exporter (a ``shard`` label on every series).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pyresque.backends.shard_spec import parse_shard_spec
from pyresque.web.config import WebConfig
from pyresque.web.data import delayed as delayed_data
from pyresque.web.data import failed as failed_data
from pyresque.web.data import queues as queue_data
from pyresque.web.data import workers as worker_data
from pyresque.web.data.store import Store
from pyresque.web.instance import AsgiEndpoint, aclose, create_instance_app, error_response, metrics_app
from pyresque.web.pages.common import respond
from pyresque.web.render import base_path
from pyresque.web.security import Security

__all__ = ["ALL_ROWS", "create_sharded_app"]

#: Rows of one shard an aggregate page lists at most (the shard's own page pages on).
ALL_ROWS = 200


def create_sharded_app(
    spec_text: str,
    namespace: str | None = None,
    *,
    read_only: bool = False,
    auth: tuple[str, str] | None = None,
    title: str = "pyresque",
    metrics: bool = True,
) -> Starlette:
    """The dashboard of every shard of ``spec_text`` (see the module docstring).

    Raises:
        UnknownBackendError: the spec does not parse (one line, without passwords).
    """
    spec = parse_shard_spec(spec_text)
    ns = spec.namespace or namespace or "resque"
    labels = tuple(f"shard {name}" for name in spec.names)
    subs = [
        create_instance_app(
            url,
            ns,
            read_only=read_only,
            auth=auth,
            title=f"{title} · {name}",
            metrics=False,
            instances=labels,
            instance=i,
            all_label="all shards",
        )
        for i, (name, url) in enumerate(spec.shards)
    ]
    config = WebConfig(
        namespace=ns, read_only=True, auth=auth, title=title, description=spec.source,
        instances=labels, instance=-1, all_label="all shards",
    )
    exporter = metrics_app(spec_text, ns) if metrics else None
    pages: list[BaseRoute] = []
    for path, page in _PAGES.items():
        api = "/api/overview" if path == "/" else "/api" + path
        pages += [Route(path, _page(page)), Route(api, _page(page))]
    pages.append(Route("/api/poll", _poll))
    pages.append(Mount("/static", StaticFiles(packages=[("pyresque.web", "static")]), name="static"))
    if exporter is not None:
        pages.append(Route("/metrics", AsgiEndpoint(exporter[0])))
    handlers: Any = {Exception: error_response}
    middleware = [Middleware(Security, config=config)]
    overall = Starlette(routes=pages, middleware=middleware, exception_handlers=handlers)
    overall.state.config = config
    overall.state.shards = [(name, sub.state.store) for name, sub in zip(spec.names, subs, strict=True)]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for sub in subs:
            await aclose(sub)
        if exporter is not None:
            exporter[1].close()

    routes: list[BaseRoute] = [*(Mount(f"/{i}", sub) for i, sub in enumerate(subs)), Mount("", overall)]
    root = Starlette(routes=routes, lifespan=lifespan)
    root.state.apps = subs
    root.state.overall = overall
    return root


Reader = Callable[[Store], Awaitable[Any]]


async def _each(request: Request, read: Reader) -> list[tuple[int, str, Any]]:
    """``read`` on every shard at once: ``[(position, name, result)]``."""
    shards: list[tuple[str, Store]] = request.app.state.shards
    results = await asyncio.gather(*(read(db) for _, db in shards))
    return [(i, name, result) for i, ((name, _), result) in enumerate(zip(shards, results, strict=True))]


async def _overview(request: Request) -> dict[str, Any]:
    per = await _each(request, queue_data.summary)
    keys = ("pending", "processed", "failed", "failed_entries", "workers", "working", "delayed_timestamps")
    rows = [{"at": i, "shard": name, **{k: s[k] for k in keys}, "paused": s["paused"]} for i, name, s in per]
    queues = [{**q, "shard": name, "at": i} for i, name, s in per for q in s["queues"]]
    return {
        **{k: sum(r[k] for r in rows) for k in keys},
        "shards": rows,
        "queues": sorted(queues, key=lambda q: (q["name"], q["shard"])),
        "top_queues": sorted(queues, key=lambda q: -q["size"])[:10],
    }


async def _workers(request: Request) -> dict[str, Any]:
    per = await _each(request, lambda db: worker_data.page(db, 0, ALL_ROWS))
    rows = [{**w, "shard": name, "at": i} for i, name, p in per for w in p["workers"]]
    return {"workers": rows, "shards": [{"at": i, "shard": n, "total": p["total"]} for i, n, p in per]}


async def _failed(request: Request) -> dict[str, Any]:
    per = await _each(request, lambda db: failed_data.page(db, 0, 10))
    rows = [{**f, "shard": name, "at": i} for i, name, p in per for f in p["failures"]]
    return {"failures": rows, "shards": [{"at": i, "shard": n, "total": p["total"]} for i, n, p in per]}


async def _delayed(request: Request) -> dict[str, Any]:
    per = await _each(request, lambda db: delayed_data.timeline(db, 0, 10))
    return {"timelines": [{"at": i, "shard": name, **t} for i, name, t in per]}


async def _shards(request: Request) -> dict[str, Any]:
    data = await _overview(request)
    return {"shards": data["shards"]}


async def _poll(request: Request) -> Response:
    """The live counters of every shard added up, and a fingerprint of every shard's
    numbers: the page script re-reads the page when it changes (polling: no live stream
    over several shards)."""
    from starlette.responses import JSONResponse

    data = await _overview(request)
    counters = {k: v for k, v in data.items() if isinstance(v, int)}
    fingerprint = ";".join(
        ",".join(str(s[k]) for k in sorted(counters)) for s in data["shards"]
    ) + "|" + ",".join(f"{q['name']}={q['size']}" for q in data["queues"])
    return JSONResponse({**counters, "time": time.time(), "fingerprint": fingerprint})


_PAGES: dict[str, tuple[str, Callable[[Request], Awaitable[dict[str, Any]]]]] = {
    "/": ("overview", _overview),
    "/queues": ("queues", _overview),
    "/workers": ("workers", _workers),
    "/failed": ("failed", _failed),
    "/delayed": ("delayed", _delayed),
    "/schedule": ("schedule", _shards),
    "/stats": ("stats", _shards),
}


def _page(page: tuple[str, Callable[[Request], Awaitable[dict[str, Any]]]]) -> Callable[..., Any]:
    name, read = page

    async def handler(request: Request) -> Response:
        data = await read(request)
        data["live_page"] = "shards"  # no live stream over several shards: the page reloads
        data["shard_root"] = base_path(request)
        return respond(request, "shards.html", data, page=name)

    return handler
