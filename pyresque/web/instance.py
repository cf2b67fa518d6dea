"""The dashboard of one Redis: :func:`create_instance_app` (what
:func:`pyresque.web.create_app` builds for a URL, and once per shard for a shard spec).

It connects (lazily) through the async client's connection code
(:class:`~pyresque.backends.redis.aio.AsyncRedisBackend`), gathers each page module's
routes, serves the package's ``static/`` folder, answers errors in one plain line
(HTML or JSON), and wraps it all in :class:`~pyresque.web.security.Security`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis
import redis.asyncio
from redis import RedisError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pyresque.backends.redis.aio import AsyncRedisBackend
from pyresque.backends.redis.keys import Keys
from pyresque.web.actions import wants_json
from pyresque.web.config import WebConfig
from pyresque.web.data.store import Store
from pyresque.web.pages import delayed, failed, live, overview, queues, stats, workers
from pyresque.web.security import Security

__all__ = ["AsgiEndpoint", "aclose", "create_instance_app", "error_response", "metrics_app"]


def _backend(redis_: Any, namespace: str | None) -> tuple[AsyncRedisBackend, bool]:
    """The async backend to read, and whether this app made (and so closes) it."""
    if isinstance(redis_, str):
        return AsyncRedisBackend.from_url(redis_, namespace or "resque"), True
    if isinstance(redis_, AsyncRedisBackend):
        return redis_, False
    if isinstance(redis_, redis.asyncio.Redis):
        return AsyncRedisBackend(redis_, namespace or "resque"), False
    backend = getattr(redis_, "backend", None)  # an AsyncResque
    if isinstance(backend, AsyncRedisBackend):
        return backend, False
    raise TypeError(
        f"redis must be a URL, a redis.asyncio.Redis or an AsyncResque, not {type(redis_).__name__}"
    )


async def error_response(request: Request, exc: Exception) -> Response:
    """An error as one plain line (JSON for API requests); a Redis error is a 503."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    if isinstance(exc, RedisError):
        status, detail = 503, f"Redis: {str(exc)[:300]}"
    if wants_json(request):
        return JSONResponse({"ok": False, "error": detail}, status_code=status)
    return PlainTextResponse(f"{detail}\n", status_code=status)


def create_instance_app(
    redis: Any = "redis://localhost:6379/0",
    namespace: str | None = None,
    *,
    read_only: bool = False,
    auth: tuple[str, str] | None = None,
    title: str = "pyresque",
    metrics: bool = True,
    instances: tuple[str, ...] = (),
    instance: int = 0,
    all_label: str = "",
) -> Starlette:
    """The dashboard of one Redis as an ASGI app; the arguments are
    :func:`pyresque.web.create_app`'s (which calls this for anything but a shard spec).

    Nothing connects until the first request.
    """
    backend, owned = _backend(redis, namespace)
    config = WebConfig(
        namespace=backend.keys.namespace,
        read_only=read_only,
        auth=auth,
        title=title,
        description=backend.describe(),
        instances=instances,
        instance=instance,
        all_label=all_label,
    )

    exporter = metrics_app(redis, backend.keys.namespace) if metrics and isinstance(redis, str) else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await aclose(app)

    routes: list[BaseRoute] = [
        *overview.ROUTES,
        *queues.ROUTES,
        *workers.ROUTES,
        *failed.ROUTES,
        *delayed.ROUTES,
        *stats.ROUTES,
        *live.ROUTES,
        Mount("/static", StaticFiles(packages=[("pyresque.web", "static")]), name="static"),
    ]
    if exporter is not None:
        routes.append(Route("/metrics", AsgiEndpoint(exporter[0])))
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Security, config=config)],
        exception_handlers={
            HTTPException: error_response,
            RedisError: error_response,
            Exception: error_response,
        },
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.store = Store(backend.client, Keys(backend.keys.namespace))
    app.state.backend = backend
    app.state.owned = owned
    app.state.metrics_app = exporter[1] if exporter is not None else None
    return app


async def aclose(app: Starlette) -> None:
    """Close the Redis connections of a dashboard :func:`create_app` connected itself
    (its lifespan does it when served alone; a mounted app's lifespan is the host's,
    so call this from the host's shutdown), and the exporter's. A client passed in is
    left open."""
    if app.state.owned:
        await app.state.backend.aclose()
    if app.state.metrics_app is not None:
        app.state.metrics_app.close()


class AsgiEndpoint:
    """An ASGI callable as a route's endpoint (a plain function would be taken for a
    request handler)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def metrics_app(url: str, namespace: str) -> tuple[Any, Any] | None:
    """The exporter's ``/metrics`` ASGI app over a sync app of its own (the exporter reads
    with redis-py: two round trips a scrape), and that app; None without prometheus-client."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return None
    from pyresque.core.app import Resque
    from pyresque.observability.exporter import make_metrics_asgi_app

    sync_app = Resque(url, namespace=namespace)
    return make_metrics_asgi_app(sync_app), sync_app
