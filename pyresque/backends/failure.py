"""Failure backends beyond the default ``failed`` list, and how an app picks one.

- ``"redis"``: Ruby's ``Failure::Redis``, the ``failed`` list (the backend's own store).
- ``"redis_multi_queue"``: Ruby's ``Failure::RedisMultiQueue`` (``<queue>_failed`` lists).
- :class:`Multiple`: Ruby's ``Failure::Multiple``: writes to every store, reads and
  manages through the first.
- :class:`CallbackFailureStore`: hands each record to a function (an error tracker);
  stores nothing itself, so use it inside :class:`Multiple` after a real store.

Pick one with :func:`make_failure_store`; an app uses it by replacing
``backend.failures``, which every writer (worker, scheduler) and reader goes through.
Choosing a store by name is the backends' business, so it lives here, not in core.
The concrete Redis stores are imported when a name asks for them, so that
``import pyresque`` does not load redis-py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from pyresque.backends.base import FIND_LIMIT, FailureStore
from pyresque.core.errors import ConfigurationError, FailureNotFound
from pyresque.core.failure import FailureRecord

if TYPE_CHECKING:
    from pyresque.backends.base import Backend

__all__ = [
    "FAILURE_BACKENDS",
    "CallbackFailureStore",
    "FailureBackendSpec",
    "Multiple",
    "make_failure_store",
    "writes_failed_list",
]

#: Named as before the move to ``pyresque.backends``, so logging configs still match.
logger = logging.getLogger("pyresque.core.failure_backends")

#: The names :func:`make_failure_store` accepts (Ruby's ``FAILURE_BACKEND`` values).
FAILURE_BACKENDS = ("redis", "redis_multi_queue")

#: What :func:`make_failure_store` accepts: a name, a store, a factory taking the
#: backend, or a list of those (a :class:`Multiple`, first one read).
FailureBackendSpec = str | FailureStore | Callable[["Backend"], FailureStore] | Sequence[object]


class Multiple(FailureStore):
    """Writes every failure to all ``stores``; reads and manages through the first.

    A failure the first store cannot save raises (nothing is silently lost); one a
    later store (an error tracker) cannot take is logged, and the others still get it.

    Raises:
        ConfigurationError: no store given.
    """

    def __init__(self, *stores: FailureStore) -> None:
        if not stores:
            raise ConfigurationError("Multiple needs at least one failure store")
        for store in stores:
            if not isinstance(store, FailureStore):
                raise ConfigurationError(f"not a failure store: {store!r}")
        self.stores = stores
        self.primary = stores[0]

    def save(self, record: FailureRecord) -> None:
        """Save to the first store, then to each other one."""
        self.primary.save(record)
        for store in self.stores[1:]:
            try:
                store.save(record)
            except Exception:
                logger.exception("failure store %r could not save a record; the primary has it", store)

    def count(self, queue: str | None = None) -> int:
        """From the first store."""
        return self.primary.count(queue)

    def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """From the first store."""
        return self.primary.all(start, count)

    def find(self, job_id: str, *, limit: int | None = FIND_LIMIT) -> list[tuple[int, FailureRecord]]:
        """From the first store."""
        return self.primary.find(job_id, limit=limit)

    def requeue(self, index: int, queue: str | None = None) -> None:
        """Through the first store."""
        self.primary.requeue(index, queue)

    def remove(self, index: int) -> None:
        """Through the first store."""
        self.primary.remove(index)

    def clear(self) -> int:
        """Through the first store."""
        return self.primary.clear()

    def requeue_all(self) -> int:
        """Through the first store."""
        return self.primary.requeue_all()

    def requeue_queue(self, queue: str) -> int:
        """Through the first store."""
        return self.primary.requeue_queue(queue)

    def remove_queue(self, queue: str) -> int:
        """Through the first store."""
        return self.primary.remove_queue(queue)

    def clear_retried(self) -> int:
        """Through the first store."""
        return self.primary.clear_retried()


class CallbackFailureStore(FailureStore):
    """Calls ``callback(record)`` for each failure (Sentry, Honeybadger, a log ...).

    It keeps nothing: counts are 0, listings empty, index operations raise
    :class:`~pyresque.FailureNotFound`. Exceptions of the callback propagate from
    ``save`` (inside :class:`Multiple`, after the first store, they are logged).
    """

    def __init__(self, callback: Callable[[FailureRecord], object]) -> None:
        if not callable(callback):
            raise ConfigurationError(f"the failure callback must be callable, not {callback!r}")
        self.callback = callback

    def save(self, record: FailureRecord) -> None:
        """Hand the record to the callback."""
        self.callback(record)

    def count(self, queue: str | None = None) -> int:
        """Always 0: nothing is kept here."""
        return 0

    def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """Always empty: nothing is kept here."""
        return []

    def requeue(self, index: int, queue: str | None = None) -> None:
        """Raises FailureNotFound: nothing is kept here."""
        raise FailureNotFound("a callback failure store keeps no records")

    def remove(self, index: int) -> None:
        """Raises FailureNotFound: nothing is kept here."""
        raise FailureNotFound("a callback failure store keeps no records")

    def clear(self) -> int:
        """Nothing to clear: 0."""
        return 0

    def requeue_all(self) -> int:
        """Nothing to requeue: 0."""
        return 0

    def requeue_queue(self, queue: str) -> int:
        """Nothing to requeue: 0."""
        return 0

    def remove_queue(self, queue: str) -> int:
        """Nothing to remove: 0."""
        return 0

    def clear_retried(self) -> int:
        """Nothing to remove: 0."""
        return 0


def make_failure_store(spec: object, backend: Backend) -> FailureStore:
    """The failure store ``spec`` names, over ``backend``.

    ``spec`` is ``"redis"`` (the backend's own ``failed`` list), ``"redis_multi_queue"``,
    a :class:`~pyresque.backends.FailureStore`, a callable taking the backend and
    returning a store, or a list/tuple of those (a :class:`Multiple`, the first read).

    Raises:
        ConfigurationError: an unknown name, a Redis-only store on another backend, or
            something that is not a store.
    """
    if isinstance(spec, FailureStore):
        return spec
    if isinstance(spec, str):
        return _named(spec, backend)
    if isinstance(spec, list | tuple):
        return Multiple(*(make_failure_store(s, backend) for s in spec))
    if callable(spec):
        store = spec(backend)
        if not isinstance(store, FailureStore):
            raise ConfigurationError(
                f"failure backend factory {spec!r} returned {store!r}, not a FailureStore"
            )
        return store
    raise ConfigurationError(f"a failure backend is a name, a FailureStore or a factory, not {spec!r}")


def _named(name: str, backend: Backend) -> FailureStore:
    from pyresque.backends.redis import RedisBackend

    key = name.strip().lower().replace("-", "_")
    if key == "redis":
        if isinstance(backend, RedisBackend):
            from pyresque.backends.redis.failure import RedisFailureStore

            return RedisFailureStore(backend.client, backend.keys)
        return backend.failures
    if key == "redis_multi_queue":
        from pyresque.backends.redis.failure_multi import RedisMultiQueueFailureStore

        if not isinstance(backend, RedisBackend):
            raise ConfigurationError(
                f"redis_multi_queue needs the Redis backend, not {type(backend).__name__}"
            )
        return RedisMultiQueueFailureStore(backend.client, backend.keys)
    raise ConfigurationError(f"unknown failure backend {name!r}; known: {', '.join(FAILURE_BACKENDS)}")


def writes_failed_list(backend: Backend) -> bool:
    """Whether ``backend.failures`` is the plain ``failed`` list of the backend itself.

    The worker writes such records atomically with its bookkeeping; for any other
    store the hook manager routes failures through ``backend.failures`` (see
    :meth:`pyresque.hooks.manager.HookManager.on_failure`).
    """
    from pyresque.backends.redis import RedisBackend
    from pyresque.backends.redis.failure import RedisFailureStore

    if not isinstance(backend, RedisBackend):
        return True
    store = backend.failures
    return type(store) is RedisFailureStore and store._key == backend.keys.failed
