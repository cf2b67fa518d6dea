"""The idle wait of a worker over several shards: block on all of them at once, wake
on the first that may have a job (:func:`wait_on_shards`).

Each shard gets a :class:`ShardWaiter`: the server-assisted tracking wait of
:mod:`pyresque.backends.redis.worker_wait`, split into *arm* (``CLIENT TRACKING ON
REDIRECT <listener> BCAST PREFIX <queue keys>`` and ``EXISTS <queue keys>``, one
round trip), the listener's socket (readable when a queue key is written: the
invalidation names the key, :meth:`ShardWaiter.absorb`) and *disarm* (``CLIENT
TRACKING OFF``). A shard stays armed once armed (the worker's reserve reads the
wake-ups to know which of its queues were written since they were found empty, see
``lanes.py``), so :func:`wait_on_shards` arms only the shards not armed yet, then one
``select()`` waits on all the listeners: no round trip per idle wait on an armed
shard, never a poll. A shard whose connection fails (it
is down) is reported to the caller (``on_error``) and left out; the others still wake
the worker. A signal handler that raises out of ``select()`` drops the connections of
every armed shard (their state is unknown), as the one-shard waiter does.

Servers without ``CLIENT TRACKING`` (Redis < 6): that shard is left out of the wait and
the caller's timeout bounds it (one reserve per timeout there).
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

__all__ = ["ShardWaiter", "wait_on_shards"]

_CHANNEL = "__redis__:invalidate"
#: Seconds a waiter's connection waits for a reply to arm/disarm (replies are
#: immediate; a shard that does not answer in time is stalled: left out).
REPLY_TIMEOUT = 2.0


class ShardWaiter:
    """Tracking wait of one worker process on one shard, in three steps."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._tracker: Any = None
        self._listener: Any = None
        self._listener_id = 0
        self._pid = os.getpid()
        self.armed = False
        #: the keys tracked while armed
        self.keys: frozenset[str] = frozenset()
        #: a ``CLIENT TRACKING OFF`` was sent whose reply is still to be read
        self._off_sent = False
        #: ``False`` once the server said it cannot track (Redis < 6)
        self.supported = True

    def _connection(self) -> Any:
        pool = self._client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs["socket_timeout"] = REPLY_TIMEOUT
        kwargs["protocol"] = 2  # invalidations arrive as pub/sub messages
        return pool.connection_class(**kwargs)

    def reset(self) -> None:
        """Drop both connections (after an error, or a signal mid-reply)."""
        for conn in (self._tracker, self._listener):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.disconnect()
        self._tracker = self._listener = None
        self.armed = False
        self.keys = frozenset()
        self._off_sent = False

    def _fresh(self) -> None:
        if self._pid != os.getpid():  # a forked child: the parent's connections are not ours
            self._tracker = self._listener = None
            self.armed = False
            self.keys = frozenset()
            self._off_sent = False
            self._pid = os.getpid()

    def arm(self, keys: Sequence[str], also_watch: Sequence[str] = ()) -> bool:
        """Start tracking ``keys`` (and ``also_watch``); ``True`` when one of ``keys``
        already exists (a job is there: do not wait). Round trips: 1 (+2 to connect)."""
        self._fresh()
        if self._listener is None:
            listener = self._connection()
            listener.send_command("CLIENT", "ID")
            self._listener_id = int(listener.read_response())
            listener.send_command("SUBSCRIBE", _CHANNEL)
            listener.read_response()
            self._listener = listener
        if self._tracker is None:
            self._tracker = self._connection()
        listener, tracker = self._listener, self._tracker
        if self._off_sent:  # the reply of the OFF that let it go (see let_go)
            self._off_sent = False
            tracker.read_response()
        while listener.can_read(0):  # wake-ups left from an earlier wait
            listener.read_response()
        prefixes: list[str] = []
        for key in _broadest([*keys, *also_watch]):
            prefixes += ["PREFIX", key]
        tracker.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", self._listener_id, "BCAST", *prefixes)
        if keys:
            tracker.send_command("EXISTS", *keys)
        else:
            tracker.send_command("ECHO", "0")
        try:
            tracker.read_response()
        except ResponseError:
            tracker.read_response()
            self.supported = False
            return False
        self.armed = True
        self.keys = frozenset([*keys, *also_watch])
        return int(tracker.read_response()) > 0

    def ensure(self, keys: Sequence[str], also_watch: Sequence[str] = ()) -> bool:
        """Armed on (at least) ``keys`` and ``also_watch``: nothing to do when it is
        already (no round trip; ``False``), else (re-)armed as :meth:`arm` says."""
        self._fresh()
        if self.armed and self.keys.issuperset([*keys, *also_watch]):
            return False
        self.disarm()
        return self.arm(keys, also_watch)

    def absorb(self) -> set[bytes] | None:
        """Read the wake-ups buffered so far (never blocks): the keys written since,
        or ``None`` when every key may have changed (a flush, or the listener is gone:
        then disarmed)."""
        changed: set[bytes] = set()
        self._fresh()
        listener = self._listener
        if listener is None or not self.armed:
            return None
        try:
            while listener.can_read(0):
                message = listener.read_response()
                keys = message[2] if isinstance(message, list) and len(message) > 2 else None
                if keys is None:
                    return None
                changed.update(keys)
        except Exception:
            self.reset()
            return None
        return changed

    def let_go(self) -> None:
        """Stop tracking without waiting for the reply (read when next armed): the
        queues hold jobs, and the worker's own pops would otherwise each send it a
        wake-up. Round trips: none (one command sent)."""
        self._fresh()
        if not self.armed:
            return
        self.armed = False
        self.keys = frozenset()
        self._tracker.send_command("CLIENT", "TRACKING", "OFF")
        self._off_sent = True

    def fileno(self) -> int:
        """The listener's socket (readable when a tracked key changed)."""
        sock = self._listener._sock if self._listener is not None else None
        return -1 if sock is None else int(sock.fileno())

    def ready(self) -> bool:
        """A wake-up is already buffered (no need to wait on the socket)."""
        return self._listener is not None and bool(self._listener.can_read(0))

    def disarm(self) -> None:
        """Stop tracking. Round trips: 1 (none when not armed)."""
        self._fresh()
        if not self.armed:
            return
        self.armed = False
        self.keys = frozenset()
        if self._off_sent:
            self._off_sent = False
            self._tracker.read_response()
        self._tracker.send_command("CLIENT", "TRACKING", "OFF")
        self._tracker.read_response()


Watch = tuple[Any, ShardWaiter, Sequence[str], Sequence[str]]


def wait_on_shards(
    watches: Sequence[Watch],
    timeout: float,
    errors: tuple[type[BaseException], ...],
    on_error: Callable[[Any, BaseException], None],
) -> None:
    """Return when a queue of any shard may hold a job, or after ``timeout`` seconds.

    ``watches``: ``(tag, waiter, queue keys, also-watch keys)`` per shard; a shard
    whose connection raises one of ``errors`` is passed to ``on_error(tag, exc)`` and
    left out of this wait. Round trips: 2 per shard."""
    if timeout <= 0:
        return
    armed: list[tuple[Any, ShardWaiter]] = []
    hit = False
    try:
        for tag, waiter, keys, also in watches:
            try:
                found = waiter.ensure(keys, also)
            except errors as exc:
                waiter.reset()
                on_error(tag, exc)
                continue
            except BaseException:  # a signal mid-reply: this connection's state is unknown
                waiter.reset()
                raise
            if waiter.armed:
                armed.append((tag, waiter))
            if found:
                hit = True
                break
        if not hit:
            fds = [w.fileno() for _, w in armed if w.fileno() >= 0]
            if not any(w.ready() for _, w in armed):
                if fds:
                    select.select(fds, [], [], timeout)
                else:
                    time.sleep(timeout)
    except BaseException:
        for _, waiter in armed:
            waiter.reset()
        raise


def _broadest(keys: list[str]) -> list[str]:
    """Tracking prefixes may not overlap: keep a key only if no other key is its prefix."""
    out: list[str] = []
    for key in sorted(set(keys)):
        if not out or not key.startswith(out[-1]):
            out.append(key)
    return out
