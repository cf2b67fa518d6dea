"""The asyncio Redis client: built from the same URLs and options as the sync backend.

Start with :func:`connect`: a backend URL (every form :func:`~pyresque.backends.url.parse_backend_url`
reads: ``redis://``, ``rediss://``, ``unix://``, php-resque's ``host:port``, Ruby's
``host:port:db/namespace``, ``redis+sentinel://``, ``redis+cluster://``: ``aio/cluster.py``)
-> an :class:`AsyncConnection` holding a ``redis.asyncio.Redis``
with ``decode_responses=False`` and the same connect timeout as
:class:`~pyresque.backends.redis.RedisBackend`, the namespace the URL carried (if any)
and a description without password. :func:`client_like` builds the async twin of an
existing sync client (same host, port or socket, database, password, TLS, timeouts),
which is how an async app is made from a sync one. Nothing connects until first use.

Both use a *blocking* pool (``redis.asyncio.BlockingConnectionPool``) of
:data:`MAX_CONNECTIONS`: a burst of concurrent calls beyond the cap waits for a free
connection (up to :data:`POOL_TIMEOUT` seconds) instead of failing with redis-py's
``Too many connections``, as its ordinary async pool does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import redis
import redis.asyncio

from pyresque.backends.url import parse_backend_url, parse_multi_host, redact_url
from pyresque.core.errors import ConfigurationError

__all__ = [
    "CONNECT_TIMEOUT",
    "MAX_CONNECTIONS",
    "POOL_TIMEOUT",
    "AsyncConnection",
    "client_like",
    "connect",
    "describe_client",
]

#: Seconds to wait for a TCP connection before giving up (the sync backend's value).
CONNECT_TIMEOUT = 5.0

#: Connections per async client (redis-py's own default cap for an async pool).
MAX_CONNECTIONS = 100
#: Seconds a call waits for a free pooled connection before a ConnectionError.
POOL_TIMEOUT = 20.0

#: Connection options of a sync client that an async client takes as they are.
_SHARED_OPTIONS = (
    "db",
    "username",
    "password",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "socket_keepalive_options",
    "client_name",
    "health_check_interval",
    "retry_on_timeout",
    "encoding",
    "encoding_errors",
    "protocol",
)
_SSL_OPTIONS = (
    "ssl_keyfile",
    "ssl_certfile",
    "ssl_cert_reqs",
    "ssl_ca_certs",
    "ssl_ca_data",
    "ssl_check_hostname",
    "ssl_min_version",
    "ssl_ciphers",
)


@dataclasses.dataclass(frozen=True, slots=True)
class AsyncConnection:
    """An async client and what its URL said.

    Attributes:
        client: a ``redis.asyncio.Redis`` answering bytes (``decode_responses=False``).
        namespace: a namespace given inside the URL (Ruby's ``host:port/ns``), else None.
        description: where it points, for logs and errors (never with a password).
    """

    client: redis.asyncio.Redis
    namespace: str | None
    description: str


def connect(url: str, *, db: int | None = None, namespace: str = "resque", **options: Any) -> AsyncConnection:
    """An async client for ``url``, lazily connected.

    Args:
        url: any Redis form the sync backend accepts.
        db: a database number given separately (php-resque's ``REDIS_BACKEND_DB``).
        namespace: the app's namespace; a ``redis+cluster://`` client needs it (its
            slot), and :attr:`AsyncConnection.namespace` is then that namespace in its
            hash tag (``{resque}``).
        options: further connection-pool keyword arguments (``max_connections``,
            ``timeout`` for a free connection, ``socket_timeout`` ...);
            ``decode_responses`` may not be turned on.

    Raises:
        UnknownBackendError: the URL cannot be read (one plain line).
        ConfigurationError: a ``fakeredis://`` URL (the async fake is built from a
            :class:`~pyresque.backends.fake.FakeBackend` instead), or ``decode_responses``.
    """
    parsed = parse_backend_url(url, db=db)
    if parsed.scheme == "fakeredis":
        raise ConfigurationError(
            "fakeredis:// URLs have no async client of their own here: "
            "build the async app from a sync one (AsyncResque.from_app(Resque('fakeredis://')))"
        )
    if options.get("decode_responses"):
        raise ConfigurationError("pyresque needs a Redis client with decode_responses=False")
    options = {
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "max_connections": MAX_CONNECTIONS,
        "timeout": POOL_TIMEOUT,
        **options,
        "decode_responses": False,
    }
    if parsed.scheme.endswith("+sentinel"):  # the master, found through the sentinels
        from pyresque.backends.redis.sentinel import async_sentinel_client

        location = parse_multi_host(parsed.url)
        client = async_sentinel_client(location, connect_timeout=options["socket_connect_timeout"])
        return AsyncConnection(client, parsed.namespace, redact_url(parsed.url))
    if parsed.scheme.endswith("+cluster"):  # the master of the namespace's slot
        from pyresque.backends.redis.aio.cluster import async_cluster_client
        from pyresque.backends.redis.keys import cluster_namespace

        tagged = cluster_namespace(parsed.namespace or namespace)
        pool_options = {k: options[k] for k in ("max_connections", "timeout") if k in options}
        client = async_cluster_client(
            parse_multi_host(parsed.url),
            tagged,
            connect_timeout=options["socket_connect_timeout"],
            **pool_options,
        )
        return AsyncConnection(client, tagged, redact_url(parsed.url))
    pool = redis.asyncio.BlockingConnectionPool.from_url(parsed.url, **options)
    return AsyncConnection(redis.asyncio.Redis.from_pool(pool), parsed.namespace, redact_url(parsed.url))


def client_like(client: redis.Redis) -> redis.asyncio.Redis:
    """A ``redis.asyncio.Redis`` to the server (and database, with the credentials,
    TLS settings and timeouts) of the sync ``client``.

    Raises:
        ConfigurationError: the sync client answers strings (``decode_responses=True``).
    """
    kwargs = client.get_connection_kwargs()
    if kwargs.get("decode_responses"):
        raise ConfigurationError("pyresque needs a Redis client with decode_responses=False")
    if "locator" in kwargs:  # a Redis Cluster client: the same slot's master
        from pyresque.backends.redis.aio.cluster import async_cluster_like

        return async_cluster_like(client, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT)
    shared = {key: kwargs[key] for key in _SHARED_OPTIONS if key in kwargs}
    shared.update(max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT)
    if "path" in kwargs:
        connection_class: type[redis.asyncio.connection.AbstractConnection] = (
            redis.asyncio.UnixDomainSocketConnection
        )
        shared["path"] = kwargs["path"]
    elif issubclass(client.connection_pool.connection_class, redis.SSLConnection):
        connection_class = redis.asyncio.SSLConnection
        shared.update({key: kwargs[key] for key in _SSL_OPTIONS if key in kwargs})
    else:
        connection_class = redis.asyncio.Connection
    if "path" not in kwargs:
        shared.update(host=kwargs.get("host", "localhost"), port=kwargs.get("port", 6379))
    pool = redis.asyncio.BlockingConnectionPool(connection_class=connection_class, **shared)
    return redis.asyncio.Redis.from_pool(pool)


def describe_client(client: redis.asyncio.Redis) -> str:
    """The server of an async client, without password (``redis://host:6379/0``)."""
    kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    pool_class = client.connection_pool.connection_class
    scheme = "rediss" if issubclass(pool_class, redis.asyncio.SSLConnection) else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
