"""The scheduler's leader lock, compatible with Ruby resque-scheduler's master lock.

Key ``<ns>:<ns>:[<prefix>:]resque_scheduler_master_lock`` (double-namespaced exactly
as Ruby writes it), value ``host:pid``, an expiry (180 s by default). The leader
refreshes the expiry on every poll with a compare-and-expire script and deletes the
key on exit only if it still holds it. A Ruby resque-scheduler and a pyresque
scheduler on one Redis therefore never lead at the same time.

If the leader dies without releasing (``kill -9``, power loss), the key expires and
another scheduler takes over within ``timeout`` seconds plus one poll.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from pyresque.core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyresque.backends.base import DelayedStore

__all__ = ["DEFAULT_LOCK_TIMEOUT", "LeaderLock", "default_lock_value"]

log = logging.getLogger("pyresque.scheduler")

#: Seconds the lock lives without a refresh (resque-scheduler's ``LOCK_TIMEOUT``).
DEFAULT_LOCK_TIMEOUT = 180


def default_lock_value() -> str:
    """``host:pid``, the value resque-scheduler writes."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLock:
    """Acquire, refresh and release the scheduler lock.

    Args:
        store: the backend's delayed store (it owns the lock's key).
        value: what we write in the lock (``host:pid`` by default).
        timeout: the lock's TTL in whole seconds (at least 1).
        lock_prefix: resque-scheduler's ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``.
        style: ``"ruby"`` (resque-scheduler's master lock, the default) or ``"node"``
            (node-resque's ``resque_scheduler_leader_lock``, to share leadership with
            node-resque schedulers instead).
    """

    def __init__(
        self,
        store: DelayedStore,
        *,
        value: str | None = None,
        timeout: int = DEFAULT_LOCK_TIMEOUT,
        lock_prefix: str = "",
        style: str = "ruby",
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise ConfigurationError(f"the lock timeout must be a whole number of seconds >= 1: {timeout!r}")
        self.store = store
        self.value = value or default_lock_value()
        self.timeout = timeout
        if style not in ("ruby", "node"):
            raise ConfigurationError(f"the lock style must be 'ruby' or 'node', not {style!r}")
        if style == "node" and lock_prefix:
            raise ConfigurationError("node-resque's leader lock takes no lock prefix")
        self.lock_prefix = lock_prefix
        self.style = style
        self.is_leader = False
        #: whether the last :meth:`poll` took the lock afresh (rather than refreshing it).
        self.newly_acquired = False
        #: ``time.monotonic()`` when we last became the leader.
        self.leader_since: float | None = None
        #: the holder we follow and ``time.monotonic()`` when we first saw it hold the lock.
        self.following: tuple[str | None, float] | None = None

    def poll(self) -> bool:
        """Take or refresh the lock; returns whether we lead now. One round trip.

        Logs every change of leadership. A lock taken afresh counts as a new
        leadership even if we thought we led (we may have stalled past the TTL).
        Taking over from another holder logs who it was and how long we followed it
        (one more round trip, the first time we find the lock taken).
        """
        state = self.store.leader_acquire(self.value, self.timeout, self.lock_prefix, self.style)
        held = state > 0
        self.newly_acquired = state == 2
        now = time.monotonic()
        if self.newly_acquired or (held and not self.is_leader):
            self.leader_since = now
            if self.following is not None:
                previous, since = self.following
                log.warning(
                    "took over as scheduler leader %s from %s after following it for %.2f s "
                    "(its lock expired or was released; lock timeout %d s)",
                    self.value,
                    previous or "nobody",
                    now - since,
                    self.timeout,
                )
            else:
                log.info("became the scheduler leader as %s (lock timeout %d s)", self.value, self.timeout)
            self.following = None
        elif not held:
            if self.is_leader or self.following is None:
                holder, ttl = self.store.leader(self.lock_prefix, self.style)
                if self.is_leader:
                    log.warning("lost the scheduler lock to %s", holder or "nobody")
                else:
                    log.info("following scheduler leader %s (its lock expires in %d s)", holder, ttl)
                self.following = (holder, now)
            self.leader_since = None
        self.is_leader = held
        return held

    def release(self) -> bool:
        """Delete the lock if we hold it. Returns whether it was deleted. One round trip."""
        released = self.store.leader_release(self.value, self.lock_prefix, self.style)
        if released:
            log.info("released the scheduler lock")
        self.is_leader = False
        self.leader_since = None
        return released

    def holder(self) -> tuple[str | None, int]:
        """Who holds the lock and its remaining TTL (``-2`` when nobody does)."""
        return self.store.leader(self.lock_prefix, self.style)
