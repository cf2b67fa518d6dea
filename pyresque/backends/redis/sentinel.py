"""Redis Sentinel: a client for the current master of a service, found again after a
fail-over.

Start with :func:`sentinel_client` (sync) or :func:`async_sentinel_client`; both take a
:class:`~pyresque.backends.url.MultiHostLocation` read from a ``redis+sentinel://`` or
``rediss+sentinel://`` URL and return an ordinary ``redis.Redis`` (or
``redis.asyncio.Redis``) over redis-py's ``SentinelConnectionPool``. Every *new*
connection asks the sentinels where the master is, so nothing here caches an address:

- a connection to a master that died is refused (``ConnectionError``), and so is
  asking sentinels that do not yet agree on a new one (``MasterNotFoundError``, a
  ``ConnectionError``); the worker's steps retry with backoff on a new connection,
  which goes to the new master once the sentinels have promoted one;
- a master demoted by a fail-over answers writes with ``READONLY``: redis-py's
  ``SentinelManagedConnection`` then drops the connection and raises
  ``ConnectionError``; here :class:`FailoverConnection` does the same for the pool's
  idle connections too (and for ``NOREPLICAS``), so the hot path's kept connection
  (``workers.py``) is given up and the next attempt reconnects through the
  sentinels. A write refused with ``READONLY`` did not run (a replica refuses every
  write, and a script's first write aborts it before anything is written), so a
  repeat of the step is a first run;
- Sentinel demotes a live old master only some 8-10 s after promoting a replica, and
  until then it takes writes (lost when it resyncs as a replica). So each connection
  also asks the sentinels, at most once every :data:`MASTER_CHECK_INTERVAL` seconds
  before sending, whether its server is still the master; if not, it drops itself
  *before sending* (:class:`DemotedMasterError`: nothing was sent, so even a plain
  enqueue is retried on a new connection, which goes to the new master);
- Sentinel itself cuts every normal client of the demoted master (``CLIENT KILL TYPE
  normal``), so idle kept connections find out on their next use.

What a fail-over can lose: replication is asynchronous, so writes the old master
acknowledged but had not yet sent to the promoted replica are gone (an enqueued job,
or a job's completion: a completed job then shows again in its queue or under its
worker, and runs again). ``Resque(..., durable=True)`` makes each enqueue wait until
one replica has it (``WAIT``); see ``docs/scaling.md``.
"""

from __future__ import annotations

import time
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel

from pyresque.backends.url import MultiHostLocation

__all__ = [
    "AsyncFailoverConnection",
    "DemotedMasterError",
    "FailoverConnection",
    "async_sentinel_client",
    "sentinel_client",
]

_SSL_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")


#: Seconds between a connection's checks that the sentinels still name its server as the
#: master (one ``SENTINEL MASTERS`` to a sentinel). After ``SENTINEL FAILOVER`` the old
#: master takes writes until Sentinel demotes it, some 8-10 s later; with the check a
#: connection leaves it within about this long of the sentinels naming the new master.
MASTER_CHECK_INTERVAL = 1.0


class DemotedMasterError(redis.ConnectionError):
    """The server this connection reached is no longer the master (``READONLY``), or
    refuses writes for want of replicas (``NOREPLICAS``, with ``min-replicas-to-write``):
    the command did not run; reconnect through the sentinels and try again."""


def _demoted(error: redis.ResponseError) -> bool:
    return isinstance(error, redis.exceptions.ReadOnlyError) or str(error).startswith("NOREPLICAS")


class FailoverConnection(redis.sentinel.SentinelManagedConnection):
    """A sentinel-managed connection that, on ``READONLY`` or ``NOREPLICAS``, drops
    itself *and every idle connection of its pool* (all of them reach the same old
    master) and raises :class:`DemotedMasterError`; redis-py's own drops only itself."""

    _next_check = 0.0
    _placing = False

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        """Open the socket; a connection opened by a send or a read (a side connection
        made from the pool's class, never through ``connect()``) asks the sentinels
        first instead of connecting to its default address (``localhost:6379``)."""
        if getattr(self, "_sock", None) is None and not self._placing:
            self.connect()  # type: ignore[no-untyped-call]
            return
        super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)

    def connect_to(self, address: tuple[str, int]) -> None:
        """Connect to ``address`` (the master the sentinels just named)."""
        self._next_check = time.monotonic() + MASTER_CHECK_INTERVAL
        self._placing = True
        try:
            super().connect_to(address)  # type: ignore[no-untyped-call]
        finally:
            self._placing = False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """Send, after checking (at most every :data:`MASTER_CHECK_INTERVAL` seconds) that
        the sentinels still name this server as master; if not, nothing is sent."""
        if getattr(self, "_sock", None) is not None and time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + MASTER_CHECK_INTERVAL
            try:
                address = self.connection_pool.get_master_address()
            except redis.RedisError:
                address = None  # the sentinels cannot tell now: go on with this server
            if address is not None and (str(address[0]), int(address[1])) != (str(self.host), int(self.port)):
                self.disconnect()  # type: ignore[no-untyped-call]
                raise DemotedMasterError(f"the sentinels now name {address[0]}:{address[1]} as master")
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """As redis-py's, with the fail-over replies turned into a connection error."""
        try:
            return redis.Connection.read_response(self, *args, **kwargs)
        except redis.ResponseError as error:
            if not _demoted(error):
                raise
            self.disconnect()  # type: ignore[no-untyped-call]
            pool = self.connection_pool.connection_pool_ref()
            if pool is not None:
                pool.disconnect(inuse_connections=False)
            raise DemotedMasterError(f"the master's address no longer takes writes ({error})") from error


class FailoverSSLConnection(FailoverConnection, redis.SSLConnection):
    """:class:`FailoverConnection` over TLS."""


class AsyncFailoverConnection(redis.asyncio.sentinel.SentinelManagedConnection):
    """The asyncio twin of :class:`FailoverConnection`."""

    _next_check = 0.0
    _placing = False

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        """As :meth:`FailoverConnection.connect_check_health`."""
        if not self.is_connected and not self._placing:
            await self.connect()  # type: ignore[no-untyped-call]
            return
        await super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )

    async def connect_to(self, address: tuple[str, int]) -> None:
        """Connect to ``address`` (the master the sentinels just named)."""
        self._next_check = time.monotonic() + MASTER_CHECK_INTERVAL
        self._placing = True
        try:
            await super().connect_to(address)  # type: ignore[no-untyped-call]
        finally:
            self._placing = False

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """As :meth:`FailoverConnection.send_packed_command`."""
        if self.is_connected and time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + MASTER_CHECK_INTERVAL
            try:
                address = await self.connection_pool.get_master_address()
            except redis.RedisError:
                address = None
            if address is not None and (str(address[0]), int(address[1])) != (str(self.host), int(self.port)):
                await self.disconnect()
                raise DemotedMasterError(f"the sentinels now name {address[0]}:{address[1]} as master")
        await super().send_packed_command(command, check_health)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """As redis-py's, with the fail-over replies turned into a connection error."""
        try:
            return await redis.asyncio.Connection.read_response(self, *args, **kwargs)
        except redis.ResponseError as error:
            if not _demoted(error):
                raise
            await self.disconnect()
            await self.connection_pool.disconnect(inuse_connections=False)
            raise DemotedMasterError(f"the master's address no longer takes writes ({error})") from error


class AsyncFailoverSSLConnection(AsyncFailoverConnection, redis.asyncio.SSLConnection):
    """:class:`AsyncFailoverConnection` over TLS."""


def _announced(reply: Any, fallback: tuple[str, int]) -> tuple[str, int]:
    """The address of a ``SENTINEL GET-MASTER-ADDR-BY-NAME`` reply, else ``fallback``."""
    if not reply or len(reply) != 2:
        return fallback
    host, port = reply
    return (host.decode() if isinstance(host, bytes) else str(host), int(port))


class _Sentinel(redis.sentinel.Sentinel):
    """redis-py's, but the master is the one the sentinel *announces*
    (``GET-MASTER-ADDR-BY-NAME``), which names a promoted replica as soon as it is
    promoted; ``SENTINEL MASTERS``, which redis-py reads (for the master's state), names
    the old master until the whole fail-over has ended, seconds later, while the old
    master still takes writes that the fail-over then throws away."""

    def discover_master(self, service_name: str) -> tuple[str, int]:
        found: tuple[str, int] = super().discover_master(service_name)  # type: ignore[no-untyped-call]
        try:  # the sentinel that just answered is first in the list now
            reply = self.sentinels[0].execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", service_name)  # type: ignore[no-untyped-call]
        except redis.RedisError:
            return found
        return _announced(reply, found)


class _AsyncSentinel(redis.asyncio.sentinel.Sentinel):
    """The asyncio twin of :class:`_Sentinel`."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        found: tuple[str, int] = await super().discover_master(service_name)
        try:
            reply = await self.sentinels[0].execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", service_name
            )
        except redis.RedisError:
            return found
        return _announced(reply, found)


class _SentinelPool(redis.sentinel.SentinelConnectionPool):
    """redis-py's pool, whose ``disconnect`` also closes the connections to the sentinels."""

    def disconnect(self, inuse_connections: bool = True) -> None:
        super().disconnect(inuse_connections)
        if inuse_connections:  # a full close (not redis-py dropping idle connections)
            for sentinel in self.sentinel_manager.sentinels:
                sentinel.connection_pool.disconnect()


class _AsyncSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool):
    """The asyncio twin of :class:`_SentinelPool` (``aclose()`` of the client closes all)."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # a full close (not redis-py dropping idle connections)
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.connection_pool.disconnect()


def _kwargs(location: MultiHostLocation, connect_timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(master connection options, sentinel connection options)."""
    options = dict(location.options)
    common: dict[str, Any] = {
        "socket_connect_timeout": options.pop("socket_connect_timeout", connect_timeout)
    }
    if "socket_timeout" in options:
        common["socket_timeout"] = options.pop("socket_timeout")
    if location.tls:
        common["ssl"] = True
        common.update({key: options.pop(key) for key in _SSL_OPTIONS if key in options})
    sentinel: dict[str, Any] = dict(common)
    if "sentinel_password" in options:
        sentinel["password"] = options.pop("sentinel_password")
    if "sentinel_username" in options:
        sentinel["username"] = options.pop("sentinel_username")
    master: dict[str, Any] = dict(common, db=location.db, decode_responses=False)
    if location.password is not None:
        master["password"] = location.password
    if location.username is not None:
        master["username"] = location.username
    return master, sentinel


def sentinel_client(location: MultiHostLocation, *, connect_timeout: float) -> redis.Redis:
    """A ``redis.Redis`` whose connections go to the current master of
    ``location.service`` (asked of the sentinels on each new connection). Nothing
    connects until first use."""
    master, sentinel_kwargs = _kwargs(location, connect_timeout)
    master["connection_class"] = FailoverSSLConnection if master.pop("ssl", False) else FailoverConnection
    sentinels = _Sentinel(  # type: ignore[no-untyped-call]
        list(location.hosts), sentinel_kwargs=sentinel_kwargs
    )
    client: redis.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
        location.service, redis_class=redis.Redis, connection_pool_class=_SentinelPool, **master
    )
    return client


def async_sentinel_client(location: MultiHostLocation, *, connect_timeout: float) -> redis.asyncio.Redis:
    """The asyncio twin of :func:`sentinel_client`."""
    master, sentinel_kwargs = _kwargs(location, connect_timeout)
    ssl = master.pop("ssl", False)
    master["connection_class"] = AsyncFailoverSSLConnection if ssl else AsyncFailoverConnection
    sentinels = _AsyncSentinel(  # type: ignore[no-untyped-call]
        list(location.hosts), sentinel_kwargs=sentinel_kwargs
    )
    client: redis.asyncio.Redis = sentinels.master_for(
        location.service, redis_class=redis.asyncio.Redis, connection_pool_class=_AsyncSentinelPool, **master
    )
    return client
