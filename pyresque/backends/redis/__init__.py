"""The reference backend: Redis, in Resque's wire format."""

from __future__ import annotations

import redis

from pyresque.backends.base import Backend
from pyresque.backends.redis.broker import RedisBroker
from pyresque.backends.redis.delayed import RedisDelayedStore
from pyresque.backends.redis.failure import RedisFailureStore
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.status import RedisStatusStore
from pyresque.backends.redis.workers import RedisStats, RedisWorkerRegistry
from pyresque.backends.url import parse_backend_url, redact_url
from pyresque.core.errors import BackendConnectionError, ConfigurationError

__all__ = ["RedisBackend", "Keys"]

#: Seconds to wait for a TCP connection before giving up.
CONNECT_TIMEOUT = 5.0


class RedisBackend(Backend):
    """Every store over one redis-py client (bytes in, bytes out).

    Args:
        client: a ``redis.Redis`` (or ``fakeredis.FakeRedis``) with ``decode_responses=False``.
        namespace: the key prefix (``resque`` -> ``resque:queue:...``).
        description: where it points, for logs and errors (never with a password).
    """

    connection_errors: tuple[type[BaseException], ...] = (
        redis.exceptions.ConnectionError,
        redis.exceptions.TimeoutError,
        BackendConnectionError,
    )

    def __init__(self, client: redis.Redis, namespace: str = "resque", description: str = "") -> None:
        if client.get_connection_kwargs().get("decode_responses"):
            raise ConfigurationError("pyresque needs a Redis client with decode_responses=False")
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
    def from_url(cls, url: str, namespace: str = "resque", *, db: int | None = None) -> RedisBackend:
        """Connect lazily to ``url`` (any Redis form ``parse_backend_url`` accepts).

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
        client = redis.Redis.from_url(
            parsed.url, socket_connect_timeout=CONNECT_TIMEOUT, decode_responses=False
        )
        return cls(client, parsed.namespace or namespace, redact_url(parsed.url))

    def ping(self) -> None:
        """Round trips: 1."""
        try:
            self.client.ping()
        except self.connection_errors as exc:
            raise BackendConnectionError(f"cannot reach Redis at {self._description}: {exc}") from exc

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
