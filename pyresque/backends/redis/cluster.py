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
for: several namespaces).

How it follows the cluster:

- a :class:`SlotLocator` asks the start-up nodes (then the last owner) ``CLUSTER
  SLOTS`` for the slot's master when a connection opens and no owner is known;
- a ``MOVED`` reply (the slot moved: a fail-over, a resharding), ``ASK``/``TRYAGAIN``
  (the slot is being migrated), ``CLUSTERDOWN`` or ``MASTERDOWN`` mean the command did
  not run: the connection drops itself and the pool's idle connections, the owner is
  looked up again, and the error is raised as :class:`SlotMovedError`, a
  ``ConnectionError``: the worker's steps retry with backoff, redis-py's own retry
  repeats a plain command, and a script whose reply was lost is not blindly repeated
  (``spin.call_spinning``), as with any connection error;
- a refused connection (the owner died) forgets the owner too: the next attempt asks
  the cluster again, and once the cluster has promoted a replica, goes there.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import redis
import redis.crc
from redis.exceptions import AskError, ClusterDownError, MasterDownError, TryAgainError

from pyresque.backends.url import MultiHostLocation

__all__ = ["SlotLocator", "SlotMovedError", "SlotOwnerConnection", "cluster_client"]

_SSL_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")


class SlotMovedError(redis.ConnectionError):
    """The node reached does not serve the namespace's slot (now); the command did not
    run. Reconnect (the owner is looked up again) and try again."""


class SlotLocator:
    """Where the master of one slot is: asked of the cluster, cached until a reply or a
    refused connection says it moved. Thread-safe."""

    def __init__(self, nodes: tuple[tuple[str, int], ...], slot: int, options: dict[str, Any]) -> None:
        self.nodes = nodes
        self.slot = slot
        self._options = options
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

    def forget(self, moved_to: tuple[str, int] | None = None) -> None:
        """The owner changed (to ``moved_to`` if a ``MOVED`` said where): drop idle
        connections so that each reconnects to the new one."""
        with self._lock:
            changed = self._owner != moved_to or moved_to is None
            self._owner = moved_to
        pool = self._pool() if self._pool is not None else None
        if changed and pool is not None:
            pool.disconnect(inuse_connections=False)

    def _discover(self) -> tuple[str, int]:
        errors = []
        candidates = list(self.nodes)
        for host, port in candidates:
            client = redis.Redis(host=host, port=port, **self._options)
            try:
                slots: list[Any] = client.execute_command("CLUSTER", "SLOTS")  # type: ignore[no-untyped-call]
                for low, high, master, *_replicas in slots:
                    if low <= self.slot <= high:
                        owner_host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
                        return (owner_host or host, int(master[1]))
                errors.append(f"{host}:{port}: no master serves slot {self.slot}")
            except redis.RedisError as exc:
                errors.append(f"{host}:{port}: {exc}")
            finally:
                client.close()
        raise redis.ConnectionError(
            f"no cluster node named the master of slot {self.slot} ({'; '.join(errors)})"
        )


class SlotOwnerConnection(redis.Connection):
    """A connection to the current master of its :class:`SlotLocator`'s slot."""

    def __init__(self, **kwargs: Any) -> None:
        self.locator: SlotLocator = kwargs.pop("locator")
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]

    _placing = False

    def connect(self) -> None:
        """Connect to the slot's owner (looked up if unknown); a refusal forgets it."""
        if getattr(self, "_sock", None) is not None:
            return
        self.host, self.port = self.locator.address()
        self._placing = True
        try:
            super().connect_check_health(check_health=True, retry_socket_connect=False)
        except (redis.ConnectionError, redis.TimeoutError):
            self.locator.forget()
            raise
        finally:
            self._placing = False

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        """Open the socket; a connection opened by a send or a read (a side connection
        made from the pool's class, never through ``connect()``) goes to the slot's owner
        too, never to its default address (``localhost:6379``)."""
        if getattr(self, "_sock", None) is None and not self._placing:
            self.connect()
            return
        super().connect_check_health(check_health=check_health, retry_socket_connect=retry_socket_connect)

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """As redis-py's; a reply saying the slot is elsewhere is a :class:`SlotMovedError`."""
        try:
            return super().read_response(*args, **kwargs)
        except (
            AskError,
            TryAgainError,
            ClusterDownError,
            MasterDownError,
        ) as error:  # MovedError is an AskError
            self.disconnect()  # type: ignore[no-untyped-call]
            moved = isinstance(error, redis.exceptions.MovedError)
            self.locator.forget((str(error.host), int(error.port)) if moved else None)  # type: ignore[union-attr]
            raise SlotMovedError(f"slot {self.locator.slot} is not served here now ({error})") from error


class SlotOwnerSSLConnection(SlotOwnerConnection, redis.SSLConnection):
    """:class:`SlotOwnerConnection` over TLS."""


def cluster_client(location: MultiHostLocation, namespace: str, *, connect_timeout: float) -> redis.Redis:
    """A ``redis.Redis`` to the master owning ``namespace``'s slot (``namespace`` must
    hold a hash tag: :func:`~pyresque.backends.redis.keys.cluster_namespace`). Nothing
    connects until first use."""
    options = dict(location.options)
    auth: dict[str, Any] = {"socket_connect_timeout": options.pop("socket_connect_timeout", connect_timeout)}
    if location.password is not None:
        auth["password"] = location.password
    if location.username is not None:
        auth["username"] = location.username
    if location.tls:
        auth["ssl"] = True
        auth.update({key: options.pop(key) for key in _SSL_OPTIONS if key in options})
    socket_timeout = options.pop("socket_timeout", None)
    locator = SlotLocator(
        location.hosts, redis.crc.key_slot(namespace.encode()), dict(auth, socket_timeout=5.0)
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
