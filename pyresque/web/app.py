"""The dashboard's factory: :func:`create_app`. A URL (or client) gives the dashboard of
one Redis (:mod:`pyresque.web.instance`); a shard spec gives every shard's, with the
totals at ``/`` (:mod:`pyresque.web.shards`).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from pyresque.backends.url import is_shard_spec
from pyresque.web.instance import aclose, create_instance_app
from pyresque.web.shards import create_sharded_app

__all__ = ["aclose", "create_app"]


def create_app(
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
    """The dashboard as an ASGI app (serve it, or mount it: ``app.mount("/jobs", ...)``).

    Args:
        redis: a Redis URL (any form pyresque reads), a ``redis.asyncio.Redis``
            (bytes replies), an :class:`~pyresque.backends.redis.aio.AsyncRedisBackend`
            or an :class:`~pyresque.aio.AsyncResque`.
        namespace: the Resque namespace (default ``resque``, or the URL's).
        read_only: refuse every change and hide the buttons.
        auth: ``(user, password)`` for HTTP Basic auth.
        title: the header's title.
        metrics: serve ``/metrics`` (the Prometheus exporter of
            :mod:`pyresque.observability.exporter`, behind the same auth) when
            ``prometheus-client`` is installed (the ``metrics`` extra) and ``redis`` is a URL.
        instances, instance, all_label: set by :func:`~pyresque.web.multi.create_multi_app`
            and :func:`~pyresque.web.shards.create_sharded_app`.

    ``redis`` may be a shard spec (``redis+shards://...``, ``shards:FILE``): the
    dashboard of every shard (:mod:`pyresque.web.shards`).

    Nothing connects until the first request.
    """
    if isinstance(redis, str) and is_shard_spec(redis):
        return create_sharded_app(
            redis, namespace, read_only=read_only, auth=auth, title=title, metrics=metrics
        )
    return create_instance_app(
        redis,
        namespace,
        read_only=read_only,
        auth=auth,
        title=title,
        metrics=metrics,
        instances=instances,
        instance=instance,
        all_label=all_label,
    )
