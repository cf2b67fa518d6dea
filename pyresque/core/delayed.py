"""Delayed jobs on the app: ``enqueue_at``, ``enqueue_in``, ``remove_delayed`` ...

Items are written in resque-scheduler's format, byte for byte
(``{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}`` under
``delayed:<ts>``, ``timestamps:<item>`` and ``delayed_queue_schedule``), so Ruby's
resque-scheduler, node-resque and php-resque-scheduler see and move them too, and
``remove_delayed``/``scheduled_at`` find items Ruby wrote for the same job.
A ``pyresque scheduler`` (or any of those schedulers) moves them to their queue
when due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from pyresque.core.delayed_item import (
    DelayedItem,
    delay_seconds,
    encode_item,
    item_job,
    now_seconds,
    to_timestamp,
)
from pyresque.core.errors import ConfigurationError, InvalidJobError
from pyresque.core.job import Job, validate_queue_name
from pyresque.core.schedule import Schedule

if TYPE_CHECKING:
    from pyresque.backends import Backend
    from pyresque.core.app import Resque
    from pyresque.core.registry import JobRegistry
    from pyresque.hooks.manager import HookManager

__all__ = ["DelayedMixin"]


class DelayedMixin:
    """Methods the :class:`~pyresque.Resque` app gains for delayed jobs.

    Times are epoch seconds (whole seconds, as every Resque scheduler stores them).
    A naive ``datetime`` is taken as UTC.
    """

    if TYPE_CHECKING:
        backend: Backend
        registry: JobRegistry
        hooks: HookManager

        def enqueue(self, queue: str, job: Any, *args: Any, track_status: bool = False) -> str: ...

        def connection_guard(self) -> AbstractContextManager[None]: ...

    def delayed_item(self, queue: str, job: Any, *args: Any) -> bytes:
        """The exact bytes ``enqueue_at`` writes for this job (what ``remove_delayed`` matches).

        Raises:
            InvalidQueueName: the queue name is unusable.
            JobNotRegistered: ``job`` is a callable no registry names.
            EncodeError: an argument cannot be carried by JSON.
        """
        validate_queue_name(queue)
        return encode_item(self.registry.name_for(job), args, queue)

    def enqueue_at(self, when: dt.datetime | float | int, queue: str, job: Any, *args: Any) -> None:
        """Run ``job(*args)`` on ``queue`` at ``when`` (a datetime or a Unix timestamp).

        A naive datetime is UTC. A time that is not in the future (to the second)
        enqueues at once through :meth:`enqueue`, as resque-scheduler does; then
        ``before_enqueue``/``after_enqueue`` fire instead of ``after_schedule``.
        Otherwise one round trip (RPUSH + SADD + ZADD in MULTI), then the
        ``after_schedule`` hook.

        Raises:
            TypeError: ``when`` is not a datetime or a number.
            ValueError: ``when`` is NaN or infinite.
            InvalidQueueName, JobNotRegistered, EncodeError: nothing is written.
            BackendConnectionError: the backend cannot be reached.
        """
        timestamp = to_timestamp(when)
        item = self.delayed_item(queue, job, *args)
        if timestamp <= int(now_seconds()):
            self.enqueue(queue, job, *args)
            return
        with self.connection_guard():
            self.backend.delayed.schedule(timestamp, item)
        if self.hooks.has("pyresque_after_schedule"):
            scheduled = Job(queue=queue, class_name=self.registry.name_for(job), args=tuple(args))
            self.hooks.after_schedule(self._app(), timestamp, scheduled)

    def enqueue_in(self, delay: dt.timedelta | float | int, queue: str, job: Any, *args: Any) -> None:
        """Run ``job(*args)`` on ``queue`` after ``delay`` (seconds or a timedelta).

        A delay that does not reach the next second enqueues at once. See
        :meth:`enqueue_at`.
        """
        self.enqueue_at(now_seconds() + delay_seconds(delay), queue, job, *args)

    def remove_delayed(self, queue: str, job: Any, *args: Any) -> int:
        """Cancel every delayed run of exactly this job (class, args and queue).

        Matches the exact bytes resque-scheduler writes, so items scheduled by Ruby
        for the same job are removed too (node and PHP encode differently and are
        not matched, as in their own tools). Returns how many were removed.
        """
        item = self.delayed_item(queue, job, *args)
        with self.connection_guard():
            return self.backend.delayed.remove(item)

    def find_delayed(self, match: Callable[[Job], bool]) -> list[DelayedItem]:
        """Every delayed item whose job satisfies ``match``, in due order.

        Works on items of any writer (node's and PHP's encodings too), unlike the
        exact-bytes :meth:`remove_delayed`. An item without ``queue`` is seen with
        ``job.queue == ""``; unreadable items are never matched. Reads every timestamp
        (one round trip each).
        """
        return [item for item in self._iter_delayed() if item.job is not None and match(item.job)]

    def remove_delayed_where(self, match: Callable[[Job], bool]) -> int:
        """Cancel every delayed item whose job satisfies ``match``; returns how many.

        resque-scheduler's ``remove_delayed_selection``, for items of any writer. Each
        removal is atomic, so an item a scheduler moves meanwhile is not counted.
        """
        removed = 0
        for ts, raws in self._matching_by_timestamp(match):
            with self.connection_guard():
                removed += self.backend.delayed.remove_items(ts, raws)
        return removed

    def enqueue_delayed_where(self, match: Callable[[Job], bool]) -> int:
        """Enqueue now every delayed item whose job satisfies ``match``; returns how many.

        resque-scheduler's ``enqueue_delayed_selection``. Items move through the
        scheduler's atomic promotion (exactly once even with a scheduler running); an
        item whose queue cannot be found goes to the failure store, as there.
        """
        from pyresque.core.promotion import Promoter

        promoter = Promoter(self._app())
        moved = 0
        for ts, _ in self._matching_by_timestamp(match):
            with self.connection_guard():
                raws = self.backend.delayed.items_at(ts)
            moves = [
                promoter.plan(raw, i)[0]
                for i, raw in enumerate(raws)
                if (job := _read(ts, raw).job) is not None and match(job)
            ]
            with self.connection_guard():
                flags = self.backend.delayed.promote(ts, moves)
            moved += sum(flags)
        return moved

    def _matching_by_timestamp(self, match: Callable[[Job], bool]) -> Iterator[tuple[int, list[bytes]]]:
        current: int | None = None
        batch: list[bytes] = []
        for item in self.find_delayed(match):
            if item.timestamp != current and batch:
                assert current is not None
                yield current, batch
                batch = []
            current = item.timestamp
            batch.append(item.raw)
        if batch and current is not None:
            yield current, batch

    def scheduled_at(self, queue: str, job: Any, *args: Any) -> list[int]:
        """The timestamps at which exactly this job is scheduled, ascending. One round trip."""
        item = self.delayed_item(queue, job, *args)
        with self.connection_guard():
            return self.backend.delayed.scheduled_at(item)

    def delayed_count(self) -> int:
        """How many delayed items wait in all. Two round trips."""
        with self.connection_guard():
            return self.backend.delayed.count()

    def delayed_timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """The timestamps holding delayed items, ascending (``count=-1``: all). One round trip."""
        with self.connection_guard():
            return self.backend.delayed.timestamps(start, count)

    def delayed_size_at(self, when: dt.datetime | float | int) -> int:
        """How many items are due at ``when`` (to the second). One round trip."""
        with self.connection_guard():
            return self.backend.delayed.size_at(to_timestamp(when))

    def delayed_at(self, when: dt.datetime | float | int) -> list[DelayedItem]:
        """The items due at ``when`` (to the second), in the order they will be moved."""
        ts = to_timestamp(when)
        with self.connection_guard():
            raws = self.backend.delayed.items_at(ts)
        return [_read(ts, raw) for raw in raws]

    def delayed_peek(self, start: int = 0, count: int = 1) -> list[DelayedItem]:
        """Items ``start`` .. ``start+count-1`` in due order (soonest first), left in place.

        Reads one timestamp at a time (one round trip each) until enough are found.
        """
        if start < 0 or count < 0:
            raise ValueError("start and count must not be negative")
        return list(_take(self._iter_delayed(), start, count))

    def _iter_delayed(self) -> Iterator[DelayedItem]:
        with self.connection_guard():
            stamps = self.backend.delayed.timestamps()
        for ts in stamps:
            with self.connection_guard():
                raws = self.backend.delayed.items_at(ts)
            for raw in raws:
                yield _read(ts, raw)

    def clear_delayed(self) -> int:
        """Drop every delayed item (all languages'). Returns how many were dropped."""
        with self.connection_guard():
            return self.backend.delayed.clear()

    # dynamic recurring schedules --------------------------------------------------------
    def set_schedule(self, name: str, config: Mapping[str, Any] | Schedule) -> Schedule:
        """Store a recurring schedule in Redis (resque-scheduler's ``set_schedule``).

        ``config`` is resque-scheduler's mapping (``class``, ``cron`` or ``every``,
        ``queue``, ``args``, ``description``) or a :class:`Schedule`. A running
        leader picks it up at its next poll. One round trip.

        Raises:
            ConfigurationError: the config is invalid (nothing is written).
        """
        from pyresque.core.recurring import set_schedule

        return set_schedule(self._app(), name, config)

    def remove_schedule(self, name: str) -> bool:
        """Delete a dynamic schedule. Returns whether it existed. One round trip."""
        from pyresque.core.recurring import remove_schedule

        return remove_schedule(self._app(), name)

    def dynamic_schedules(self) -> dict[str, Schedule | ConfigurationError]:
        """The dynamic schedules stored in Redis (an invalid one maps to its error)."""
        from pyresque.core.recurring import get_schedules

        return get_schedules(self._app())

    def _app(self) -> Resque:
        from pyresque.core.app import Resque

        assert isinstance(self, Resque)
        return self


def _read(timestamp: int, raw: bytes) -> DelayedItem:
    try:
        return DelayedItem(timestamp, item_job(raw), raw)
    except InvalidJobError:
        return DelayedItem(timestamp, None, raw)


def _take(items: Iterator[DelayedItem], start: int, count: int) -> Iterator[DelayedItem]:
    for index, item in enumerate(items):
        if index >= start + count:
            return
        if index >= start:
            yield item
