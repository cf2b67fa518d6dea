"""The dashboard's factory: :func:`create_app`.

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
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from pyresque.backends.redis.aio import AsyncRedisBackend
from pyresque.backends.redis.keys import Keys
from pyresque.web.actions import wants_json
from pyresque.web.config import WebConfig
from pyresque.web.data.store import Store
from pyresque.web.pages import delayed, failed, live, overview, queues, stats, workers
from pyresque.web.security import Security

__all__ = ["aclose", "create_app"]


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


async def _error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
    if isinstance(exc, RedisError):
        status, detail = 503, f"Redis: {str(exc)[:300]}"
    if wants_json(request):
        return JSONResponse({"ok": False, "error": detail}, status_code=status)
    return PlainTextResponse(f"{detail}\n", status_code=status)


def create_app(
    redis: Any = "redis://localhost:6379/0",
    namespace: str | None = None,
    *,
    read_only: bool = False,
    auth: tuple[str, str] | None = None,
    title: str = "pyresque",
) -> Starlette:
    """The dashboard as an ASGI app (serve it, or mount it: ``app.mount("/jobs", ...)``).

    Args:
        redis: a Redis URL (any form pyresque reads), a ``redis.asyncio.Redis``
            (bytes replies), an :class:`~pyresque.backends.redis.aio.AsyncRedisBackend`
            or an :class:`~pyresque.aio.AsyncResque`.
        namespace: the Resque namespace (default ``resque``, or the URL's).
        read_only: refuse every change and hide the buttons.
        auth: ``(user, password)`` for HTTP Basic auth.
        title: the header's title.

    Nothing connects until the first request.
    """
    backend, owned = _backend(redis, namespace)
    config = WebConfig(
        namespace=backend.keys.namespace,
        read_only=read_only,
        auth=auth,
        title=title,
        description=backend.describe(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            await backend.aclose()

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
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Security, config=config)],
        exception_handlers={HTTPException: _error, RedisError: _error, Exception: _error},
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.store = Store(backend.client, Keys(backend.keys.namespace))
    app.state.backend = backend
    app.state.owned = owned
    return app


async def aclose(app: Starlette) -> None:
    """Close the Redis connections of a dashboard :func:`create_app` connected itself
    (its lifespan does it when served alone; a mounted app's lifespan is the host's,
    so call this from the host's shutdown). A client passed in is left open."""
    if app.state.owned:
        await app.state.backend.aclose()
