"""The interface of the delayed store: resque-scheduler's delayed queue, the
scheduler's leader lock and its schedules. The Redis implementation is
:mod:`pyresque.backends.redis.delayed`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyresque.core.delayed_item import DelayedMove

__all__ = ["DelayedStore"]


class DelayedStore(abc.ABC):
    """resque-scheduler's delayed queue, the scheduler's leader lock and its schedules."""

    @abc.abstractmethod
    def schedule(
        self, timestamp: int, item: bytes, *, job_id: str | None = None, track: bool = False
    ) -> bool | None:
        """Add ``item`` (a serialized ``{"class","args","queue"[,"id"]}``) due at ``timestamp``.

        With ``job_id`` (the id the item carries), index it for :meth:`remove_by_id`;
        with ``track`` too, create the job's WAITING status (scheduled at ``timestamp``)
        in the same atomic step. Returns whether a scheduler holds the leader lock
        (resque-scheduler's or node-resque's), read in that same step (``None``: this
        store cannot tell).
        """

    @abc.abstractmethod
    def remove_by_id(self, job_id: str) -> int:
        """Remove the delayed item that carries ``job_id`` (and its WAITING status), atomically.

        Returns how many items were removed (0: none, or already promoted). A repeat
        (after a lost reply) removes nothing more and returns 0.
        """

    def iter_items(self, batch: int = 500) -> Iterator[tuple[int, list[bytes]]]:
        """Every ``(timestamp, raw items)`` in due order, reading ``batch`` timestamps per
        step (the default reads one timestamp at a time; a store may do better)."""
        for ts in self.timestamps():
            yield ts, self.items_at(ts)

    @abc.abstractmethod
    def count(self) -> int:
        """How many delayed items in all."""

    @abc.abstractmethod
    def timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """The timestamps that hold items, ascending."""

    @abc.abstractmethod
    def items_at(self, timestamp: int, start: int = 0, count: int = -1) -> list[bytes]:
        """The raw items due at ``timestamp`` (positions ``start`` .. ``start+count-1``)."""

    @abc.abstractmethod
    def size_at(self, timestamp: int) -> int:
        """How many items are due at ``timestamp``."""

    @abc.abstractmethod
    def remove(self, item: bytes) -> int:
        """Remove every occurrence of this exact item. Returns how many."""

    @abc.abstractmethod
    def scheduled_at(self, item: bytes) -> list[int]:
        """The timestamps at which this exact item is scheduled."""

    @abc.abstractmethod
    def clear(self) -> int:
        """Drop every delayed item. Returns how many."""

    # promotion -------------------------------------------------------------------------
    @abc.abstractmethod
    def due_timestamps(self, now: int, limit: int = 1) -> list[int]:
        """Up to ``limit`` timestamps ``<= now`` that hold items, oldest first."""

    @abc.abstractmethod
    def promote(self, timestamp: int, moves: Sequence[DelayedMove]) -> list[bool]:
        """Move items of ``timestamp`` to their queue (or the failure store), each atomically.

        An item is moved only if this call removed it from the delayed list, so
        concurrent callers never move one item twice. Drops the timestamp once its
        list is empty. Returns, per move, whether this call moved the item.
        """

    @abc.abstractmethod
    def remove_items(self, timestamp: int, items: Sequence[bytes]) -> int:
        """Remove one copy of each item from ``timestamp``'s list, atomically; tidy.

        Returns how many were removed (an item already gone counts 0).
        """

    @abc.abstractmethod
    def tidy(self, timestamp: int) -> bool:
        """Drop ``timestamp`` from the schedule if it holds no item. Returns whether it did."""

    # leader lock -----------------------------------------------------------------------
    @abc.abstractmethod
    def leader_acquire(self, value: str, ttl: int, lock_prefix: str = "", style: str = "ruby") -> int:
        """Take the scheduler lock, or refresh its TTL if ``value`` holds it; atomic.

        ``style`` picks the key: ``"ruby"`` (resque-scheduler's master lock, with
        ``lock_prefix``) or ``"node"`` (node-resque's leader lock).

        Returns 2 when ``value`` just took the lock, 1 when it refreshed it, 0 when
        someone else holds it.
        """

    @abc.abstractmethod
    def leader_release(self, value: str, lock_prefix: str = "", style: str = "ruby") -> bool:
        """Delete the lock only if ``value`` holds it. Returns whether it did."""

    @abc.abstractmethod
    def leader(self, lock_prefix: str = "", style: str = "ruby") -> tuple[str | None, int]:
        """Who holds the lock (``None``: nobody) and its remaining TTL in seconds."""

    # recurring schedules ---------------------------------------------------------------
    @abc.abstractmethod
    def enqueue_tick(self, name: str, tick: int, queue: str, payload: bytes, enqueued_at: str) -> bool:
        """Push ``payload`` for schedule ``name``'s tick unless that tick or a later one was.

        Atomic: among any number of callers, one tick is pushed at most once.
        ``enqueued_at`` is recorded as resque-scheduler's ``last_enqueued_at``.
        """

    @abc.abstractmethod
    def last_ticks(self) -> dict[str, int]:
        """Schedule name -> the last tick enqueued (epoch seconds)."""

    @abc.abstractmethod
    def recurring_state(self) -> tuple[dict[str, int], dict[str, str]]:
        """:meth:`last_ticks` and resque-scheduler's ``last_enqueued_at`` texts, together."""

    @abc.abstractmethod
    def schedule_configs(self) -> dict[str, bytes]:
        """Persistent (dynamic) schedules: name -> JSON config, resque-scheduler's format."""

    @abc.abstractmethod
    def set_schedule_config(self, name: str, config: bytes) -> None:
        """Store a persistent schedule and flag it as changed."""

    @abc.abstractmethod
    def remove_schedule_config(self, name: str) -> bool:
        """Delete a persistent schedule (flagged as changed). Returns whether it existed."""

    @abc.abstractmethod
    def take_schedules_changed(self) -> list[str]:
        """Names flagged as changed since the last call, clearing the flags."""
