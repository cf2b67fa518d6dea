"""Delayed jobs on the async app: ``await app.enqueue_at(...)``, ``enqueue_in``,
``remove_delayed`` ... Items are the sync app's (built by :mod:`pyresque.core.delayed`,
resque-scheduler's format byte for byte) and written in the same keys, so any
scheduler moves them when due. Each function takes the app first;
:class:`~pyresque.aio.AsyncResque` binds them as its methods.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from pyresque.core import delayed as sync_delayed
from pyresque.core.delayed_item import delay_seconds, now_seconds, to_timestamp
from pyresque.core.errors import ConfigurationError
from pyresque.core.job import Job

if TYPE_CHECKING:
    from pyresque.aio.app import AsyncResque
    from pyresque.core.app import Resque

__all__ = [
    "clear_delayed",
    "delayed_count",
    "delayed_item",
    "delayed_size_at",
    "delayed_timestamps",
    "enqueue_at",
    "enqueue_in",
    "remove_delayed",
    "scheduled_at",
]


def delayed_item(app: AsyncResque, queue: str, job: Any, *args: Any) -> bytes:
    """The exact bytes ``enqueue_at`` writes for this job (no I/O; as the sync app's)."""
    return sync_delayed.delayed_item(cast("Resque", app), queue, job, *args)


async def enqueue_at(
    app: AsyncResque, when: dt.datetime | float | int, queue: str, job: Any, *args: Any
) -> None:
    """Run ``job(*args)`` on ``queue`` at ``when`` (a datetime, naive = UTC, or a Unix
    timestamp). A time not in the future enqueues at once (:meth:`AsyncResque.enqueue`).
    Otherwise one round trip (RPUSH + SADD + ZADD in MULTI), then ``after_schedule``.

    Raises:
        TypeError, ConfigurationError, InvalidQueueName, JobNotRegistered, EncodeError,
        BackendConnectionError: as :meth:`Resque.enqueue_at` (nothing is written).
    """
    timestamp = sync_delayed.checked_timestamp(when)
    item = delayed_item(app, queue, job, *args)
    if timestamp <= int(now_seconds()):
        await app.enqueue(queue, job, *args)
        return
    async with app.connection_guard():
        await app.backend.delayed.schedule(timestamp, item)
    if app.hooks.has("pyresque_after_schedule"):
        scheduled = Job(queue=queue, class_name=app.registry.name_for(job), args=tuple(args))
        app.hooks.after_schedule(cast("Resque", app), timestamp, scheduled)


async def enqueue_in(
    app: AsyncResque, delay: dt.timedelta | float | int, queue: str, job: Any, *args: Any
) -> None:
    """Run ``job(*args)`` on ``queue`` after ``delay`` (seconds or a timedelta); see
    :func:`enqueue_at`."""
    try:
        seconds = delay_seconds(delay)
    except ValueError as exc:
        raise ConfigurationError(f"cannot schedule in {delay!r}: {exc}") from exc
    await enqueue_at(app, now_seconds() + seconds, queue, job, *args)


async def remove_delayed(app: AsyncResque, queue: str, job: Any, *args: Any) -> int:
    """Cancel every delayed run of exactly this job (class, args, queue); how many."""
    item = delayed_item(app, queue, job, *args)
    async with app.connection_guard():
        return await app.backend.delayed.remove(item)


async def scheduled_at(app: AsyncResque, queue: str, job: Any, *args: Any) -> list[int]:
    """The timestamps at which exactly this job is scheduled, ascending. One round trip."""
    item = delayed_item(app, queue, job, *args)
    async with app.connection_guard():
        return await app.backend.delayed.scheduled_at(item)


async def delayed_count(app: AsyncResque) -> int:
    """How many delayed items wait in all. Two round trips."""
    async with app.connection_guard():
        return await app.backend.delayed.count()


async def delayed_timestamps(app: AsyncResque, start: int = 0, count: int = -1) -> list[int]:
    """The timestamps holding delayed items, ascending (``count=-1``: all). One round trip."""
    async with app.connection_guard():
        return await app.backend.delayed.timestamps(start, count)


async def delayed_size_at(app: AsyncResque, when: dt.datetime | float | int) -> int:
    """How many items are due at ``when`` (to the second). One round trip."""
    async with app.connection_guard():
        return await app.backend.delayed.size_at(to_timestamp(when))


async def clear_delayed(app: AsyncResque) -> int:
    """Drop every delayed item (all languages'); how many."""
    async with app.connection_guard():
        return await app.backend.delayed.clear()
