"""Idle waits that take nothing and wake as soon as a job may be there.

- One queue: ``BLMOVE q q LEFT LEFT`` blocks until the list has an element, then moves
  the head back onto itself, atomically: nothing is taken, the job stays first in line,
  and the worker then reserves it through the atomic script.
- Several queues: server-assisted tracking. While idle, a side connection runs
  ``CLIENT TRACKING ON REDIRECT <id> BCAST PREFIX <queue key> ...``; any write to one of
  the queue keys sends an invalidation to a subscribed connection, which wakes the
  worker. Tracking is on only while idle (no messages while the worker is busy), and an
  ``EXISTS`` in the same round trip closes the race with a push that came just before.
- Servers without ``CLIENT TRACKING`` (Redis < 6) and fakeredis: a short sleep, and the
  caller polls.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

__all__ = ["POLL_INTERVAL", "QueueWaiter"]

#: How long one poll sleeps where no blocking wait is possible.
POLL_INTERVAL = 0.005

_CHANNEL = "__redis__:invalidate"


class QueueWaiter:
    """Blocking, non-destructive waits on queue keys for one worker process."""

    def __init__(self, client: redis.Redis, *, fake: bool = False) -> None:
        self._client = client
        self._fake = fake
        self._blocker: Any = None  # connection for BLMOVE
        self._tracker: Any = None  # connection with CLIENT TRACKING
        self._listener: Any = None  # connection subscribed to invalidations
        self._listener_id = 0
        self._tracking_ok = True
        self._pid = os.getpid()

    def _connection(self) -> Any:
        pool = self._client.connection_pool
        kwargs = dict(pool.connection_kwargs)
        kwargs.pop("socket_timeout", None)
        kwargs["protocol"] = 2  # plain replies: invalidations arrive as pub/sub messages
        return pool.connection_class(**kwargs)

    def reset(self) -> None:
        """Drop every side connection (after an error or a signal mid-reply)."""
        for conn in (self._blocker, self._tracker, self._listener):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.disconnect()
        self._blocker = self._tracker = self._listener = None

    def wait(self, keys: Sequence[str], timeout: float, also_watch: Sequence[str] = ()) -> None:
        """Return when one of ``keys`` may hold a job, or after ``timeout`` seconds.

        ``also_watch``: keys whose change also wakes a tracking wait (the queues set, so
        a ``*`` worker notices a new queue at once); never read.
        """
        if timeout <= 0:
            return
        if self._pid != os.getpid():
            # a forked child: the parent's connections are the parent's, never share them
            self._blocker = self._tracker = self._listener = None
            self._pid = os.getpid()
        if self._fake or not (keys or also_watch):
            time.sleep(min(timeout, POLL_INTERVAL))
            return
        try:
            if len(keys) == 1:
                self._block_on(keys[0], timeout)
            elif self._tracking_ok:
                self._track(keys, also_watch, timeout)
            else:
                time.sleep(min(timeout, POLL_INTERVAL))
        except BaseException:
            self.reset()
            raise

    def _block_on(self, key: str, timeout: float) -> None:
        """Round trips: 1."""
        if self._blocker is None:
            self._blocker = self._connection()
        self._blocker.send_command("BLMOVE", key, key, "LEFT", "LEFT", round(timeout, 3))
        self._blocker.read_response()

    def _ensure_tracking(self) -> None:
        if self._listener is None:
            listener = self._connection()
            listener.send_command("CLIENT", "ID")
            self._listener_id = int(listener.read_response())
            listener.send_command("SUBSCRIBE", _CHANNEL)
            listener.read_response()
            self._listener = listener
        if self._tracker is None:
            self._tracker = self._connection()

    def _track(self, keys: Sequence[str], also_watch: Sequence[str], timeout: float) -> None:
        """Round trips: 2 per idle wait (tracking on + EXISTS pipelined; tracking off)."""
        self._ensure_tracking()
        listener, tracker = self._listener, self._tracker
        while listener.can_read(0):  # stale wake-ups from an earlier wait
            listener.read_response()
        prefixes: list[str] = []
        for key in _broadest(list(keys) + list(also_watch)):
            prefixes += ["PREFIX", key]
        tracker.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", self._listener_id, "BCAST", *prefixes)
        if keys:
            tracker.send_command("EXISTS", *keys)
        else:
            tracker.send_command("ECHO", "0")  # same reply shape: nothing to check
        try:
            tracker.read_response()
        except ResponseError:
            tracker.read_response()
            self._tracking_ok = False  # the server cannot track: poll instead
            time.sleep(min(timeout, POLL_INTERVAL))
            return
        try:
            if int(tracker.read_response()) == 0 and listener.can_read(timeout):
                listener.read_response()
        finally:
            tracker.send_command("CLIENT", "TRACKING", "OFF")
            tracker.read_response()


def _broadest(keys: list[str]) -> list[str]:
    """Tracking prefixes may not overlap: keep a key only if no other key is its prefix
    (``queue:a`` covers ``queue:ab``; an extra wake-up is harmless)."""
    out: list[str] = []
    for key in sorted(set(keys)):
        if not out or not key.startswith(out[-1]):
            out.append(key)
    return out
