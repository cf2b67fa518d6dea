"""The reference backend: Redis, in Resque's wire format."""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis

from pyresque.backends.base import Backend, PushItem
from pyresque.backends.redis.broker import RedisBroker
from pyresque.backends.redis.delayed import RedisDelayedStore
from pyresque.backends.redis.failure import RedisFailureStore
from pyresque.backends.redis.keys import Keys, cluster_namespace
from pyresque.backends.redis.spin import SpinMode, set_mode
from pyresque.backends.redis.status import RedisStatusStore
from pyresque.backends.redis.workers import RedisStats, RedisWorkerRegistry
from pyresque.backends.url import parse_backend_url, parse_multi_host, redact_url
from pyresque.core.errors import BackendConnectionError, BackendError, ConfigurationError

__all__ = ["RedisBackend", "Keys"]

#: Seconds to wait for a TCP connection before giving up.
CONNECT_TIMEOUT = 5.0


class RedisBackend(Backend):
    """Every store over one redis-py client (bytes in, bytes out).

    Args:
        client: a ``redis.Redis`` (or ``fakeredis.FakeRedis``) with ``decode_responses=False``.
        namespace: the key prefix (``resque`` -> ``resque:queue:...``).
        description: where it points, for logs and errors (never with a password).
        spin: how the worker's hot path waits for replies: ``"auto"`` (the default:
            spin briefly only while replies come fast), ``"on"``, ``"off"`` (block; the
            better choice on a host whose cores are busy with other work); see
            :mod:`pyresque.backends.redis.spin`.
    """

    connection_errors: tuple[type[BaseException], ...] = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        BackendConnectionError,
    )

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "resque",
        description: str = "",
        *,
        spin: SpinMode = "auto",
    ) -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ConfigurationError("pyresque needs a Redis client with decode_responses=False")
        set_mode(client, spin)
        self.client = client
        self.keys = Keys(namespace)
        self._description = description or _describe_client(client)
        self.broker = RedisBroker(client, self.keys)
        self.statuses = RedisStatusStore(client, self.keys)
        self.failures = RedisFailureStore(client, self.keys)
        self.stats = RedisStats(client, self.keys)
        self.workers = RedisWorkerRegistry(client, self.keys)
        self.delayed = RedisDelayedStore(client, self.keys)

    @classmethod
    def from_url(
        cls, url: str, namespace: str = "resque", *, db: int | None = None, spin: SpinMode = "auto"
    ) -> RedisBackend:
        """Connect lazily to ``url`` (any Redis form ``parse_backend_url`` accepts,
        ``redis+sentinel://`` and ``redis+cluster://`` included: see
        :mod:`~pyresque.backends.redis.sentinel` and :mod:`~pyresque.backends.redis.cluster`).

        Raises:
            ConfigurationError: a ``fakeredis://`` URL: :class:`~pyresque.backends.fake.FakeBackend`
                serves those (:func:`pyresque.backends.create_backend` picks it).
        """
        parsed = parse_backend_url(url, db=db)
        if parsed.scheme == "fakeredis":
            raise ConfigurationError(
                "fakeredis:// URLs are served by FakeBackend: "
                "use create_backend(url) or FakeBackend.from_url(url)"
            )
        if parsed.scheme.endswith("+cluster"):
            from pyresque.backends.redis.cluster import cluster_client

            namespace = cluster_namespace(parsed.namespace or namespace)
            client = cluster_client(parse_multi_host(parsed.url), namespace, connect_timeout=CONNECT_TIMEOUT)
            return cls(client, namespace, redact_url(parsed.url), spin=spin)
        elif parsed.scheme.endswith("+sentinel"):
            from pyresque.backends.redis.sentinel import sentinel_client

            client = sentinel_client(parse_multi_host(parsed.url), connect_timeout=CONNECT_TIMEOUT)
        else:
            client = redis.Redis.from_url(
                parsed.url, socket_connect_timeout=CONNECT_TIMEOUT, decode_responses=False
            )
        return cls(client, parsed.namespace or namespace, redact_url(parsed.url), spin=spin)

    def push_durable(self, items: Sequence[PushItem], *, replicas: int, timeout: float) -> list[str | None]:
        """Push ``items`` and wait for ``replicas`` replicas to have them (``WAIT``), in one
        round trip per chunk; see :mod:`~pyresque.backends.redis.durable`.

        Raises:
            BackendConnectionError: fewer replicas confirmed within ``timeout`` seconds.
        """
        from pyresque.backends.redis.durable import push_durable

        return push_durable(
            self.client,
            self.keys,
            self.keys.queue,
            items,
            replicas=replicas,
            timeout=timeout,
            now=int(time.time()),
        )

    def ping(self) -> None:
        """Round trips: 1.

        Raises:
            BackendError: a permanent problem (see :meth:`permanent_error`).
            BackendConnectionError: the server cannot be reached (worth retrying).
        """
        try:
            self.client.ping()
        except Exception as exc:
            permanent = self.permanent_error(exc)
            if permanent is not None:
                raise permanent from exc
            if isinstance(exc, self.connection_errors):
                raise BackendConnectionError(f"cannot reach Redis at {self._description}: {exc}") from exc
            raise

    def permanent_error(self, exc: BaseException) -> BackendError | None:
        """A one-line :class:`~pyresque.BackendError` for a failure that retrying cannot
        mend, else ``None``: a refused or missing password (redis-py raises
        ``AuthenticationError``, a ``ConnectionError``, or a ``NOAUTH``/``WRONGPASS``
        ``ResponseError``), a database the server does not have, or a server that does
        not speak Redis. The message names the server, never the password."""
        where = self._description
        text = " ".join(str(exc).split())[:200]
        if isinstance(exc, redis.exceptions.AuthenticationError) or (
            isinstance(exc, redis.exceptions.ResponseError) and text.startswith(("NOAUTH", "WRONGPASS"))
        ):
            return BackendError(
                f"Redis at {where} refused the connection: authentication failed ({text}); "
                "give the password in the URL: redis://:PASSWORD@host:port/db"
            )
        if isinstance(exc, redis.exceptions.ResponseError | redis.exceptions.ConnectionError) and (
            "DB index is out of range" in text or "invalid DB index" in text or text == "Invalid Database"
        ):
            return BackendError(
                f"Redis at {where} has no such database ({text}); "
                "the server's 'databases' setting says how many it has (default 16: 0-15)"
            )
        if isinstance(exc, redis.exceptions.InvalidResponse):
            return BackendError(
                f"the server at {where} does not speak the Redis protocol ({text}); is it the right port?"
            )
        return None

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def describe(self) -> str:
        """The server, without password (``redis://host:6379/0``)."""
        return self._description

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._description!r}, namespace={self.keys.namespace!r})"


def _describe_client(client: redis.Redis) -> str:
    kwargs = client.get_connection_kwargs()
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    scheme = "rediss" if kwargs.get("ssl") else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
