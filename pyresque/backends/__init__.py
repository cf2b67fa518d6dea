"""Backends: where jobs, failures and statuses live. ``create_backend`` picks one.

``base.py`` holds the interfaces every backend implements (open it first);
``redis/`` is the reference backend in Resque's wire format; ``fake.py`` is the same
backend over fakeredis; ``failure.py`` holds failure stores beyond the default and picks
one by name; ``url.py`` reads backend URLs. Core code (the app, the worker, the
scheduler) programs against ``base.py`` and reaches a concrete backend only through
:func:`create_backend` and :func:`~pyresque.backends.failure.make_failure_store`.
"""

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
from pyresque.backends.url import is_shard_spec, parse_backend_url
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
    ``fakeredis://``, a shard spec: ``redis+shards://...``/``shards:FILE``), or ``spec``
    itself when it already is one.

    ``None`` means ``redis://localhost:6379/0``. Nothing connects until first use.
    The concrete backend is imported here, when a URL asks for it, so that importing
    the interfaces (and ``pyresque``) does not load redis-py or fakeredis.
    """
    if isinstance(spec, Backend):
        return spec
    if spec is None:
        spec = "redis://localhost:6379/0"
    if not isinstance(spec, str):
        raise ConfigurationError(f"a backend is a URL or a Backend, not {type(spec).__name__}")
    if is_shard_spec(spec):  # redis+shards://... or shards:FILE: several shards as one
        from pyresque.backends.shard_spec import sharded_backend

        return sharded_backend(spec, namespace, db=db)  # type: ignore[no-any-return]
    if parse_backend_url(spec, db=db).scheme == "fakeredis":
        from pyresque.backends.fake import FakeBackend

        return FakeBackend.from_url(spec.strip(), namespace)
    from pyresque.backends.redis import RedisBackend

    return RedisBackend.from_url(spec, namespace, db=db)
