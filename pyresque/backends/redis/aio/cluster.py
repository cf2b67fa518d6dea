"""Redis Cluster for the asyncio client: the twin of
:mod:`pyresque.backends.redis.cluster` (read its docstring first), on redis-py's asyncio
connections.

Start with :func:`async_cluster_client` (from a ``redis+cluster://`` URL, what
``connection.connect`` calls) or :func:`async_cluster_like` (the twin of a sync cluster
client, what ``AsyncResque.from_app`` and the async worker use). Either returns an
ordinary ``redis.asyncio.Redis`` over a blocking pool whose connections
(:class:`AsyncSlotOwnerConnection`) reach the master of the namespace's slot, found by
an :class:`AsyncSlotLocator`, and resolve ``MOVED``/``ASK``/``TRYAGAIN``/``CLUSTERDOWN``
in place by the same rules (``cluster_redirects.py``): a script inside its guard
transaction, so that a slot migration never runs half of one.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis
import redis.asyncio
import redis.crc
from redis.exceptions import MovedError, NoScriptError

from pyresque.backends.redis.cluster import SlotOwnerConnection, cluster_options
from pyresque.backends.redis.cluster_redirects import (
    HELD,
    KEYED,
    OWNER_LOST,
    REDIRECTS,
    SCRIPT,
    PendingCommands,
    RedirectPlan,
    SlotMovedError,
    as_eval,
    guard_keys,
    no_owner,
    owner_in,
    script_reply,
    side_options,
    wrapped_script,
)
from pyresque.backends.redis.keys import hash_tag
from pyresque.backends.url import MultiHostLocation

__all__ = ["AsyncSlotLocator", "AsyncSlotOwnerConnection", "async_cluster_client", "async_cluster_like"]


class AsyncSlotLocator:
    """Where the master of one slot is (the asyncio twin of
    :class:`~pyresque.backends.redis.cluster.SlotLocator`)."""

    def __init__(
        self, nodes: tuple[tuple[str, int], ...], slot: int, options: dict[str, Any], guards: tuple[str, str]
    ) -> None:
        self.nodes = nodes
        self.slot = slot
        self.guards = guards
        self._options = options
        self._owner: tuple[str, int] | None = None
        self._pool: weakref.ref[redis.asyncio.ConnectionPool] | None = None

    def attach(self, pool: redis.asyncio.ConnectionPool) -> None:
        """The pool whose idle connections to drop when the owner changes."""
        self._pool = weakref.ref(pool)

    async def address(self) -> tuple[str, int]:
        """The owner's (host, port). Round trips: 0, or 1 per node asked.

        Raises:
            redis.ConnectionError: no node answered with an owner of the slot.
        """
        if self._owner is None:
            self._owner = await self._discover()
        return self._owner

    async def forget(self, moved_to: tuple[str, int] | None = None) -> None:
        """The owner changed (to ``moved_to`` if a ``MOVED`` said where): drop idle
        connections so that each reconnects to the new one."""
        news = self._owner != moved_to or moved_to is None
        self._owner = moved_to
        pool = self._pool() if self._pool is not None else None
        if news and pool is not None:
            await pool.disconnect(inuse_connections=False)

    async def _discover(self) -> tuple[str, int]:
        errors: list[str] = []
        for host, port in [*([self._owner] if self._owner else []), *self.nodes]:
            client = redis.asyncio.Redis(host=host, port=port, **self._options)
            try:
                found = owner_in(await client.execute_command("CLUSTER", "SLOTS"), self.slot, host)  # type: ignore[no-untyped-call]
                if found is not None:
                    return found
                errors.append(f"{host}:{port}: no master serves slot {self.slot}")
            except redis.RedisError as exc:
                errors.append(f"{host}:{port}: {exc}")
            finally:
                await client.aclose()
        raise no_owner(self.slot, errors)


async def _read_replies(conn: Any, count: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(count):
        try:
            out.append(await redis.asyncio.Connection.read_response(conn))
        except redis.ResponseError as exc:
            out.append(exc)
    return out


class AsyncSlotOwnerConnection(PendingCommands, redis.asyncio.Connection):
    """The asyncio twin of :class:`~pyresque.backends.redis.cluster.SlotOwnerConnection`."""

    def __init__(self, **kwargs: Any) -> None:
        self.locator: AsyncSlotLocator = kwargs.pop("locator")
        self._side_kwargs = side_options(kwargs)
        self._sides: dict[tuple[str, int], redis.asyncio.Connection] = {}
        self.init_pending()
        super().__init__(**kwargs)

    _placing = False

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        """Open the socket to the slot's owner (looked up if unknown); a refusal forgets it."""
        if self.is_connected or self._placing:
            await super().connect_check_health(check_health, retry_socket_connect)
            return
        self.host, self.port = await self.locator.address()
        self._placing = self._handshake = True
        try:
            await super().connect_check_health(check_health, retry_socket_connect=False)
        except (redis.ConnectionError, redis.TimeoutError):
            await self.locator.forget()
            raise
        finally:
            self._placing = self._handshake = False

    def pack_command(self, *args: Any) -> list[bytes]:
        """Pack a command, noting it; a script goes inside its guard transaction."""
        kind, sent = self.note(args)
        if kind != SCRIPT:
            return super().pack_command(*sent)
        out: list[bytes] = []
        for command in wrapped_script(sent, self.locator.guards):
            out.extend(super().pack_command(*command))
        return out

    async def disconnect(self, nowait: bool = False, *args: Any, **kwargs: Any) -> None:
        """Close the socket (and any side connection); nothing is pending any more."""
        self.clear_pending()
        sides, self._sides = self._sides, {}
        for side in sides.values():
            await side.disconnect(nowait=nowait)
        await super().disconnect(nowait, *args, **kwargs)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """As redis-py's, with redirects resolved (or a :class:`SlotMovedError`)."""
        pending = self.next_pending()
        kind, command = pending if pending is not None else (HELD, ())
        try:
            if kind == SCRIPT:
                reply = script_reply(await _read_replies(self, 4))
            else:
                reply = await super().read_response(*args, **kwargs)
        except REDIRECTS as error:
            if kind == HELD:
                await self.disconnect()
                moved = (str(error.host), int(error.port)) if isinstance(error, MovedError) else None
                await self.locator.forget(moved)
                raise SlotMovedError(f"slot {self.locator.slot} is not served here now ({error})") from error
            reply = await self._redo(kind, command, error)
        except NoScriptError as error:
            again = as_eval(command) if kind == KEYED else None
            if again is None:
                raise
            reply = await self._redo(kind, again, error)  # the guarded variant, by its source
        if self._stale and not self._pending:
            await self.disconnect()  # the owner moved: reconnect on next use
        return reply

    def _side(self, address: tuple[str, int]) -> redis.asyncio.Connection:
        side = self._sides.get(address)
        if side is None:
            tls = isinstance(self, redis.asyncio.SSLConnection)
            cls = redis.asyncio.SSLConnection if tls else redis.asyncio.Connection
            side = self._sides[address] = cls(host=address[0], port=address[1], **self._side_kwargs)
        return side

    async def _redo(self, kind: int, command: tuple[Any, ...], error: BaseException) -> Any:
        plan = RedirectPlan(kind in (KEYED, SCRIPT))
        while True:
            wait, ask, moved = plan.after(error)
            if moved is not None or isinstance(error, OWNER_LOST):
                await self.locator.forget(moved)
                self._stale = True
            if wait:
                await asyncio.sleep(wait)
            try:
                side = self._side(ask or await self.locator.address())
                await side.connect()  # type: ignore[no-untyped-call]
                parts = wrapped_script(command, self.locator.guards) if kind == SCRIPT else [command]
                await side.send_packed_command(side.pack_commands([("ASKING",), *parts] if ask else parts))
            except (redis.ConnectionError, redis.TimeoutError) as exc:  # not sent: try again
                error = exc
                continue
            try:
                if ask:
                    await _read_replies(side, 1)
                if kind == SCRIPT:
                    return script_reply(await _read_replies(side, 4))
                return await redis.asyncio.Connection.read_response(side)
            except REDIRECTS as exc:
                error = exc
            except BaseException:
                await side.disconnect(nowait=True)  # the command may have run
                raise


class AsyncSlotOwnerSSLConnection(AsyncSlotOwnerConnection, redis.asyncio.SSLConnection):
    """:class:`AsyncSlotOwnerConnection` over TLS."""


def _client(
    locator: AsyncSlotLocator, tls: bool, kwargs: dict[str, Any], pool_options: dict[str, Any]
) -> redis.asyncio.Redis:
    pool = redis.asyncio.BlockingConnectionPool(
        connection_class=AsyncSlotOwnerSSLConnection if tls else AsyncSlotOwnerConnection,
        locator=locator,
        **kwargs,
        **pool_options,
    )
    locator.attach(pool)
    return redis.asyncio.Redis.from_pool(pool)


def async_cluster_client(
    location: MultiHostLocation, namespace: str, *, connect_timeout: float, **pool_options: Any
) -> redis.asyncio.Redis:
    """A ``redis.asyncio.Redis`` to the master owning ``namespace``'s slot (``namespace``
    must hold a hash tag). ``pool_options``: ``max_connections``, ``timeout`` ...
    Nothing connects until first use."""
    auth, socket_timeout = cluster_options(location, connect_timeout)
    slot = redis.crc.key_slot(namespace.encode())
    locator = AsyncSlotLocator(
        location.hosts, slot, dict(auth, socket_timeout=5.0), guard_keys(slot, hash_tag(namespace))
    )
    kwargs = {key: value for key, value in auth.items() if key != "ssl"}
    return _client(locator, location.tls, dict(kwargs, socket_timeout=socket_timeout), pool_options)


def async_cluster_like(client: redis.Redis, **pool_options: Any) -> redis.asyncio.Redis:
    """The asyncio twin of a sync cluster client (same nodes, slot, credentials, TLS)."""
    pool = client.connection_pool
    if not issubclass(pool.connection_class, SlotOwnerConnection):
        raise TypeError("not a Redis Cluster client of pyresque's")
    sync_locator = pool.connection_kwargs["locator"]
    kwargs = side_options(pool.connection_kwargs)
    kwargs.pop("ssl", None)
    tls = issubclass(pool.connection_class, redis.SSLConnection)
    locator = AsyncSlotLocator(
        sync_locator.nodes, sync_locator.slot, dict(sync_locator.options), sync_locator.guards
    )
    return _client(locator, tls, kwargs, pool_options)
