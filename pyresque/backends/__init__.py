"""Backends: where jobs, failures and statuses live. ``create_backend`` picks one."""

from __future__ import annotations

from pyresque.backends.base import (
    Backend,
    Broker,
    DelayedStore,
    FailureStore,
    PushItem,
    Stats,
    StatusStore,
    WorkerRegistry,
)
from pyresque.core.errors import ConfigurationError

__all__ = [
    "Backend",
    "Broker",
    "DelayedStore",
    "FailureStore",
    "PushItem",
    "Stats",
    "StatusStore",
    "WorkerRegistry",
    "create_backend",
]


def create_backend(
    spec: str | Backend | None, namespace: str = "resque", *, db: int | None = None
) -> Backend:
    """A backend from a URL (``redis://``, ``rediss://``, ``unix://``, ``host:port``,
    ``fakeredis://``), or ``spec`` itself when it already is one.

    ``None`` means ``redis://localhost:6379/0``. Nothing connects until first use.
    """
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        spec = "redis://localhost:6379/0"
    if not isinstance(spec, str):
        raise ConfigurationError(f"a backend is a URL or a Backend, not {type(spec).__name__}")
    from pyresque.backends.redis import RedisBackend

    return RedisBackend.from_url(spec, namespace, db=db)
