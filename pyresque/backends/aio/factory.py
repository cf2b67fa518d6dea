"""Picking an async backend: :func:`create_async_backend` (the async twin of
:func:`pyresque.backends.create_backend`). The concrete backend is imported inside the
function, when asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyresque.backends.aio.base import AsyncBackend
from pyresque.core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyresque.backends.base import Backend

__all__ = ["create_async_backend"]


def create_async_backend(
    spec: str | AsyncBackend | Backend | None, namespace: str = "resque", *, db: int | None = None
) -> AsyncBackend:
    """An async backend from a URL (every form the sync backend reads, ``fakeredis://``
    included), from a sync backend (its async twin: same server, namespace and failure
    store kind), or ``spec`` itself when it already is one. ``None``: ``redis://localhost:6379/0``.
    Nothing connects until first use.

    Raises:
        UnknownBackendError: the URL cannot be read.
        ConfigurationError: ``spec`` is none of these, or a backend with no async twin.
    """
    if isinstance(spec, AsyncBackend):
        return spec
    from pyresque.backends.base import Backend

    if isinstance(spec, Backend):
        from pyresque.backends.redis.aio import AsyncRedisBackend

        return AsyncRedisBackend.like(spec)
    if spec is None:
        spec = "redis://localhost:6379/0"
    if not isinstance(spec, str):
        raise ConfigurationError(f"a backend is a URL or a backend object, not {type(spec).__name__}")
    from pyresque.backends.redis.aio import AsyncRedisBackend

    return AsyncRedisBackend.from_url(spec, namespace, db=db)
