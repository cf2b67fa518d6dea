"""Redis Cluster: one Resque namespace in one hash slot, served by whichever master
owns that slot now.

Start with :func:`cluster_client`: it takes a :class:`~pyresque.backends.url.MultiHostLocation`
read from a ``redis+cluster://`` (or ``rediss+cluster://``) URL and the namespace,
and returns an ordinary ``redis.Redis`` whose connections go to the master owning the
namespace's slot. The namespace carries a hash tag (``{resque}``; see
:func:`~pyresque.backends.redis.keys.cluster_namespace`), so every key of it, and every
key a script builds from the namespace, lives in that one slot: every script, pipeline
and ``MULTI`` of the reference backend runs unchanged, atomically, on one node, and the
hot path (one script per job on a kept connection) stays one round trip. What this
does not give: spreading one namespace over several masters (that is what shards are
for: several namespaces). ``aio/cluster.py`` is the asyncio twin; both share the
rules below (:class:`RedirectPlan`, :func:`wrapped_script`, :func:`script_reply`).

How it follows the cluster:

- a :class:`SlotLocator` asks the start-up nodes (then the last owner) ``CLUSTER
  SLOTS`` for the slot's master when a connection opens and no owner is known;
- a reply saying the command did not run here -- ``MOVED`` (a fail-over, the end of a
  resharding), ``ASK``/``TRYAGAIN`` (the slot is being migrated), ``CLUSTERDOWN``,
  ``MASTERDOWN`` -- is resolved in place, on a side connection, before the caller sees
  anything: ``MOVED`` re-points the locator and sends the command to the new owner;
  ``ASK`` sends a plain command to the importing node after ``ASKING``; the others wait
  a short, growing back-off and send it to the owner again, for at most
  :data:`REDIRECT_DEADLINE` seconds (then :class:`SlotMovedError`, a
  ``ConnectionError`` saying the command did not run). A connection error *reading* a
  redone reply is raised as it is (the command may have run), as anywhere else;
- **scripts during a slot migration.** Redis checks a script's declared keys before it
  runs, but each ``redis.call`` inside it on its own: in a slot being migrated, a call
  on a key this node no longer has (or never had: an untracked job's status key) stops
  the script *half-way*, after a ``LPOP`` popped a job. So every script is sent with two
  guard keys of the slot added after its own keys (``cluster_redirects.guarded_script``):
  nothing writes them, so they are missing from a node whose slot is migrating or
  importing, and Redis refuses the whole script up front (``TRYAGAIN``/``ASK``: nothing
  ran) until the migration ends; the script then runs whole on the new owner. What runs
  is the script's *guarded variant*, its source behind one line that hides the guard
  keys from it (``local KEYS = ...``), found by SHA1 among pyresque's own scripts or the
  ``EVAL`` sources seen (its first ``EVALSHA`` on a server is answered ``NOSCRIPT``:
  the connection sends the variant's ``EVAL`` itself). A script known only by SHA1, or
  a function (``FCALL``), goes inside ``MULTI; <script>; EXISTS <guards>; EXEC``
  instead (:func:`wrapped_script`), refused whole the same way, at twice the cost
  (``bench/bench_cluster_guard.py``);
- a refused connection (the owner died) forgets the owner: the next attempt asks the
  cluster again, and once the cluster has promoted a replica, goes there;
- the caller's own ``MULTI`` transactions and blocking commands (``BLMOVE`` ...) are
  not redone: their redirect raises :class:`SlotMovedError` at once (a redirected
  transaction never runs: Redis aborts it), and the caller retries as after any
  connection error.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any

import redis
import redis.crc
from redis.exceptions import MovedError, NoScriptError

from pyresque.backends.redis.cluster_redirects import (
    HELD,
    KEYED,
    OWNER_LOST,
    REDIRECTS,
    SCRIPT,
    SSL_OPTIONS,
    PendingCommands,
    RedirectPlan,
    SlotMovedError,
    TrackingPacker,
    as_eval,
    guard_keys,
    no_owner,
    owner_in,
    read_replies,
    script_reply,
    side_options,
    wrapped_script,
)
from pyresque.backends.redis.keys import hash_tag
from pyresque.backends.url import MultiHostLocation

__all__ = [
    "SlotLocator",
    "SlotMovedError",
    "SlotOwnerConnection",
    "cluster_client",
    "cluster_options",
]


class SlotLocator:
    """Where the master of one slot is: asked of the cluster, cached until a reply or a
    refused connection says it moved. Thread-safe."""

    def __init__(
        self, nodes: tuple[tuple[str, int], ...], slot: int, options: dict[str, Any], tag: str | None = None
    ) -> None:
        self.nodes = nodes
        self.slot = slot
        self.guards = guard_keys(slot, tag)
        self.options = options
        self._owner: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._pool: weakref.ref[redis.ConnectionPool] | None = None

    def attach(self, pool: redis.ConnectionPool) -> None:
        """The pool whose idle connections to drop when the owner changes."""
        self._pool = weakref.ref(pool)

    def address(self) -> tuple[str, int]:
        """The owner's (host, port). Round trips: 0, or 1 per node asked.

        Raises:
            redis.ConnectionError: no node answered with an owner of the slot.
        """
        with self._lock:
            if self._owner is None:
                self._owner = self._discover()
            return self._owner

    def changed(self, moved_to: tuple[str, int] | None = None) -> bool:
        """Record that the owner changed (to ``moved_to`` if a ``MOVED`` said where);
        True if that is news."""
        with self._lock:
            news = self._owner != moved_to or moved_to is None
            self._owner = moved_to
        return news

    def forget(self, moved_to: tuple[str, int] | None = None) -> None:
        """As :meth:`changed`, and drop idle connections so that each reconnects."""
        pool = self._pool() if self._pool is not None else None
        if self.changed(moved_to) and pool is not None:
            pool.disconnect(inuse_connections=False)

    def candidates(self) -> list[tuple[str, int]]:
        """The nodes to ask, the last owner first."""
        return [*([self._owner] if self._owner else []), *self.nodes]

    def _discover(self) -> tuple[str, int]:
        errors: list[str] = []
        for host, port in self.candidates():
            client = redis.Redis(host=host, port=port, **self.options)
            try:
                found = owner_in(client.execute_command("CLUSTER", "SLOTS"), self.slot, host)  # type: ignore[no-untyped-call]
                if found is not None:
                    return found
                errors.append(f"{host}:{port}: no master serves slot {self.slot}")
            except redis.RedisError as exc:
                errors.append(f"{host}:{port}: {exc}")
            finally:
                client.close()
        raise no_owner(self.slot, errors)


class SlotOwnerConnection(PendingCommands, redis.Connection):
    """A connection to the current master of its :class:`SlotLocator`'s slot, which
    resolves redirects in place (see the module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        self.locator: SlotLocator = kwargs.pop("locator")
        self._side_kwargs = side_options(kwargs)
        self._sides: dict[tuple[str, int], redis.Connection] = {}
        self.init_pending()
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._command_packer = TrackingPacker(self._command_packer, self)

    _placing = False

    def connect(self) -> None:
        """Connect to the slot's owner (looked up if unknown); a refusal forgets it."""
        if getattr(self, "_sock", None) is not None:
            return
        self.host, self.port = self.locator.address()
        self._placing = self._handshake = True
        try:
            super().connect_check_health(check_health=True, retry_socket_connect=False)
        except (redis.ConnectionError, redis.TimeoutError):
            self.locator.forget()
            raise
        finally:
            self._placing = self._handshake = False

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        """Open the socket; a connection opened by a send or a read (a side connection
        made from the pool's class, never through ``connect()``) goes to the slot's owner
        too, never to its default address (``localhost:6379``)."""
        if getattr(self, "_sock", None) is None and not self._placing:
            self.connect()
            return
        super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        """Close the socket (and any side connection); nothing is pending any more."""
        self.clear_pending()
        sides, self._sides = self._sides, {}
        for side in sides.values():
            side.disconnect()  # type: ignore[no-untyped-call]
        super().disconnect(*args, **kwargs)  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """As redis-py's, with redirects resolved (or a :class:`SlotMovedError`)."""
        pending = self.next_pending()
        kind, command = pending if pending is not None else (HELD, ())
        try:
            if kind == SCRIPT:
                reply = script_reply(read_replies(self, 4))
            else:
                reply = super().read_response(*args, **kwargs)
        except REDIRECTS as error:
            if kind == HELD:
                self._give_up(error)
            reply = self._redo(kind, command, error)
        except NoScriptError as error:
            again = as_eval(command) if kind == KEYED else None
            if again is None:
                raise
            reply = self._redo(kind, again, error)  # the guarded variant, by its source
        if self._stale and not self._pending:
            self.disconnect()  # the owner moved: reconnect on next use
        return reply

    def _give_up(self, error: BaseException) -> None:
        self.disconnect()
        moved = isinstance(error, MovedError)
        self.locator.forget((str(error.host), int(error.port)) if moved else None)  # type: ignore[attr-defined]
        raise SlotMovedError(f"slot {self.locator.slot} is not served here now ({error})") from error

    def _side(self, address: tuple[str, int]) -> redis.Connection:
        side = self._sides.get(address)
        if side is None:
            cls = redis.SSLConnection if isinstance(self, redis.SSLConnection) else redis.Connection
            side = self._sides[address] = cls(host=address[0], port=address[1], **self._side_kwargs)
        return side

    def _redo(self, kind: int, command: tuple[Any, ...], error: BaseException) -> Any:
        plan = RedirectPlan(kind in (KEYED, SCRIPT))
        while True:
            wait, ask, moved = plan.after(error)
            if moved is not None or isinstance(error, OWNER_LOST):
                self.locator.forget(moved)
                self._stale = True
            if wait:
                time.sleep(wait)
            try:
                side = self._side(ask or self.locator.address())
                side.connect()  # type: ignore[no-untyped-call]
                parts = wrapped_script(command, self.locator.guards) if kind == SCRIPT else [command]
                side.send_packed_command(side.pack_commands([("ASKING",), *parts] if ask else parts))  # type: ignore[no-untyped-call]
            except (redis.ConnectionError, redis.TimeoutError) as exc:  # not sent: try again
                error = exc
                continue
            try:
                if ask:
                    read_replies(side, 1)
                if kind == SCRIPT:
                    return script_reply(read_replies(side, 4))
                return redis.Connection.read_response(side)
            except REDIRECTS as exc:
                error = exc
            except BaseException:
                side.disconnect()  # type: ignore[no-untyped-call]  # the command may have run
                raise


class SlotOwnerSSLConnection(SlotOwnerConnection, redis.SSLConnection):
    """:class:`SlotOwnerConnection` over TLS."""


def cluster_options(location: MultiHostLocation, connect_timeout: float) -> tuple[dict[str, Any], Any]:
    """(connection options, socket timeout) of a cluster URL's connections."""
    options = dict(location.options)
    auth: dict[str, Any] = {"socket_connect_timeout": options.pop("socket_connect_timeout", connect_timeout)}
    if location.password is not None:
        auth["password"] = location.password
    if location.username is not None:
        auth["username"] = location.username
    if location.tls:
        auth["ssl"] = True
        auth.update({key: options.pop(key) for key in SSL_OPTIONS if key in options})
    return auth, options.pop("socket_timeout", None)


def cluster_client(location: MultiHostLocation, namespace: str, *, connect_timeout: float) -> redis.Redis:
    """A ``redis.Redis`` to the master owning ``namespace``'s slot (``namespace`` must
    hold a hash tag: :func:`~pyresque.backends.redis.keys.cluster_namespace`). Nothing
    connects until first use."""
    auth, socket_timeout = cluster_options(location, connect_timeout)
    tag = hash_tag(namespace)
    locator = SlotLocator(
        location.hosts, redis.crc.key_slot(namespace.encode()), dict(auth, socket_timeout=5.0), tag
    )
    kwargs = {key: value for key, value in auth.items() if key != "ssl"}
    pool = redis.ConnectionPool(
        connection_class=SlotOwnerSSLConnection if location.tls else SlotOwnerConnection,
        locator=locator,
        socket_timeout=socket_timeout,
        **kwargs,
    )
    locator.attach(pool)
    return redis.Redis(connection_pool=pool)
