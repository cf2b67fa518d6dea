"""The asyncio Redis backend: the reference backend's keys, scripts and bytes, awaited.

Start at :class:`AsyncRedisBackend` (every async store over one ``redis.asyncio``
client). ``connection.py`` builds that client from a backend URL or from a sync client;
``calls.py`` sends writes exactly once; ``broker.py``, ``stores.py`` (statuses, counters,
workers), ``failure.py`` and ``delayed.py`` follow the sync modules one for one and
reuse their scripts and command builders, so the two clients write the same bytes.
"""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio

from pyresque.backends.aio.base import AsyncBackend
from pyresque.backends.base import Backend
from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.aio.broker import AsyncRedisBroker
from pyresque.backends.redis.aio.connection import client_like, connect, describe_client
from pyresque.backends.redis.aio.delayed import AsyncRedisDelayedStore
from pyresque.backends.redis.aio.failure import AsyncRedisFailureStore
from pyresque.backends.redis.aio.stores import AsyncRedisStats, AsyncRedisStatusStore, AsyncRedisWorkerView
from pyresque.backends.redis.failure import RedisFailureStore
from pyresque.backends.redis.keys import Keys
from pyresque.core.errors import BackendConnectionError, BackendError, ConfigurationError

__all__ = ["AsyncRedisBackend"]


class AsyncRedisBackend(AsyncBackend):
    """Every async store over one ``redis.asyncio`` client (bytes in, bytes out).

    Args:
        client: a ``redis.asyncio.Redis`` (or ``fakeredis.FakeAsyncRedis``) with
            ``decode_responses=False``.
        namespace: the key prefix (``resque`` -> ``resque:queue:...``).
        description: where it points, for logs and errors (never with a password).
    """

    connection_errors: tuple[type[BaseException], ...] = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        BackendConnectionError,
    )

    def __init__(self, client: redis.asyncio.Redis, namespace: str = "resque", description: str = "") -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ConfigurationError("pyresque needs a Redis client with decode_responses=False")
        self.client = client
        self.keys = Keys(namespace)
        self._description = description or describe_client(client)
        self.broker = AsyncRedisBroker(client, self.keys)
        self.statuses = AsyncRedisStatusStore(client, self.keys)
        self.failures = AsyncRedisFailureStore(client, self.keys)
        self.delayed = AsyncRedisDelayedStore(client, self.keys)
        self.stats = AsyncRedisStats(client, self.keys)
        self.workers = AsyncRedisWorkerView(client, self.keys)

    @classmethod
    def from_url(cls, url: str, namespace: str = "resque", *, db: int | None = None) -> AsyncRedisBackend:
        """Connect lazily to ``url`` (any form the sync backend reads; ``fakeredis://[name]``
        gives an async client on the same in-process server a sync app of that name uses).

        Raises:
            UnknownBackendError: the URL cannot be read.
        """
        if url.strip().lower().startswith("fakeredis://"):
            from pyresque.backends.fake import FakeBackend

            return cls.like(FakeBackend.from_url(url.strip(), namespace))
        conn = connect(url, db=db, namespace=namespace)
        return cls(conn.client, conn.namespace or namespace, conn.description)

    @classmethod
    def like(cls, backend: Backend) -> AsyncRedisBackend:
        """The async twin of a sync Redis backend: the same server (a fakeredis backend:
        the same in-process server), database, credentials and namespace. If its
        failures go elsewhere than the ``failed`` list, :attr:`failures_elsewhere` says where.

        Raises:
            ConfigurationError: ``backend`` is not a Redis backend.
        """
        if not isinstance(backend, RedisBackend):
            raise ConfigurationError(
                f"no async client for a {type(backend).__name__}: the async client speaks to Redis backends"
            )
        server = getattr(backend, "server", None)
        if server is not None:  # FakeBackend: an async client on its in-process server
            import fakeredis

            fake = fakeredis.FakeAsyncRedis(server=server, decode_responses=False)
            twin = cls(cast(redis.asyncio.Redis, fake), backend.keys.namespace, backend.describe())
        else:
            twin = cls(client_like(backend.client), backend.keys.namespace, backend.describe())
        if type(backend.failures) is not RedisFailureStore:
            twin.failures_elsewhere = type(backend.failures).__name__
        return twin

    async def ping(self) -> None:
        """Round trips: 1.

        Raises:
            BackendError: a permanent problem (a refused password, no such database ...).
            BackendConnectionError: the server cannot be reached (worth retrying).
        """
        try:
            await self.client.ping()
        except Exception as exc:
            permanent = self.permanent_error(exc)
            if permanent is not None:
                raise permanent from exc
            if isinstance(exc, self.connection_errors):
                raise BackendConnectionError(f"cannot reach Redis at {self._description}: {exc}") from exc
            raise

    def permanent_error(self, exc: BaseException) -> BackendError | None:
        """The sync backend's reading of ``exc`` (redis.asyncio raises redis-py's own
        exception classes): a refused password, a missing database, a server that does
        not speak Redis -> one plain line naming the server; else ``None``."""
        # RedisBackend.permanent_error reads only ``_description``, which this class has too.
        return RedisBackend.permanent_error(cast(Any, self), exc)

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self.client.aclose()

    def describe(self) -> str:
        """The server, without password (``redis://host:6379/0``)."""
        return self._description

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._description!r}, namespace={self.keys.namespace!r})"
