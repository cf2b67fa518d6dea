"""Several Resque instances in one dashboard: :func:`create_multi_app`.

Each ``(redis, namespace)`` pair gets a whole dashboard of its own (its connections,
security and state) mounted at ``/0``, ``/1`` ...; ``/`` sends the browser to the first;
the header of every page links to the others. ``pyresque web --redis A --redis B``
builds one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from pyresque.backends.url import redact_url
from pyresque.web.app import aclose, create_app

__all__ = ["create_multi_app", "label"]


def label(redis: Any, namespace: str | None) -> str:
    """How an instance is named in the header: its URL without password, and namespace."""
    where = redact_url(redis) if isinstance(redis, str) else type(redis).__name__
    return f"{where} ({namespace})" if namespace else where


def create_multi_app(instances: Sequence[tuple[Any, str | None]], **options: Any) -> Starlette:
    """One dashboard per ``(redis, namespace)`` of ``instances``, at ``/0``, ``/1`` ...

    ``options`` are :func:`~pyresque.web.create_app`'s (``read_only``, ``auth`` ...), the
    same for every instance.
    """
    if not instances:
        raise ValueError("give at least one (redis, namespace) instance")
    labels = tuple(label(redis, ns) for redis, ns in instances)
    apps = [
        create_app(redis, ns, instances=labels, instance=i, **options)
        for i, (redis, ns) in enumerate(instances)
    ]

    async def home(request: Request) -> Response:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        return RedirectResponse(f"{root}/0/", status_code=307)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        for sub in apps:
            await aclose(sub)

    routes: list[BaseRoute] = [Route("/", home), *(Mount(f"/{i}", sub) for i, sub in enumerate(apps))]
    multi = Starlette(routes=routes, lifespan=lifespan)
    multi.state.apps = apps
    return multi
