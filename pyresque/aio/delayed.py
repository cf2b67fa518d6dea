"""Delayed jobs on the async app: ``await app.enqueue_at(...)``, ``enqueue_in``,
``remove_delayed``, ``remove_delayed_by_id`` ... Items are planned by the sync app's
code (:func:`pyresque.core.delayed_plan.plan_delayed`: resque-scheduler's format, with
the job id last in the full form) and written in the same keys, so any scheduler moves
them when due. Each function takes the app first;
:class:`~pyresque.aio.AsyncResque` binds them as its methods.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, cast

from pyresque.core import delayed as sync_delayed
from pyresque.core import delayed_plan
from pyresque.core.delayed_item import delay_seconds, item_id, now_seconds, to_timestamp
from pyresque.core.errors import ConfigurationError
from pyresque.core.idempotency import validate_job_id
from pyresque.core.job import PayloadForm

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
    "remove_delayed_by_id",
    "scheduled_at",
]


def delayed_item(app: AsyncResque, queue: str, job: Any, *args: Any) -> bytes:
    """The exact bytes ``enqueue_at`` writes for this job (no I/O; as the sync app's)."""
    return sync_delayed.delayed_item(cast("Resque", app), queue, job, *args)


async def enqueue_at(
    app: AsyncResque,
    when: dt.datetime | float | int,
    queue: str,
    job: Any,
    *args: Any,
    track_status: bool = False,
    payload_form: PayloadForm | None = None,
) -> str:
    """Run ``job(*args)`` on ``queue`` at ``when`` (a datetime, naive = UTC, or a Unix
    timestamp); the job's id (``""`` in the Ruby form), as :meth:`Resque.enqueue_at`.

    A time not in the future enqueues at once (:meth:`AsyncResque.enqueue`). Otherwise
    one round trip (the item, its id index, the status with ``track_status``, and a look
    at the scheduler's leader lock, in one MULTI sent once), then ``after_schedule``; a
    WARNING (once a minute) when no scheduler holds the lock.

    Raises:
        TypeError, ConfigurationError, InvalidQueueName, JobNotRegistered, EncodeError,
        BackendConnectionError: as :meth:`Resque.enqueue_at` (nothing is written).
    """
    plan = delayed_plan.plan_delayed(
        app, when, queue, job, args, track_status=track_status, payload_form=payload_form
    )
    if plan.due:
        return await app.enqueue(queue, job, *args, track_status=track_status, payload_form=payload_form)
    plan = delayed_plan.scheduled_plan(app.hooks, app, plan)
    async with app.connection_guard():
        leader = await app.backend.delayed.schedule(
            plan.timestamp, plan.item, job_id=plan.job.id, track=plan.track
        )
    app.scheduler_warning.saw(leader, app.backend.describe())
    if app.hooks.has("pyresque_after_schedule"):
        app.hooks.after_schedule(cast("Resque", app), plan.timestamp, plan.job)
    return plan.job.id or ""


async def enqueue_in(
    app: AsyncResque,
    delay: dt.timedelta | float | int,
    queue: str,
    job: Any,
    *args: Any,
    track_status: bool = False,
    payload_form: PayloadForm | None = None,
) -> str:
    """Run ``job(*args)`` on ``queue`` after ``delay`` (seconds or a timedelta); the job
    id. See :func:`enqueue_at`."""
    try:
        seconds = delay_seconds(delay)
    except ValueError as exc:
        raise ConfigurationError(f"cannot schedule in {delay!r}: {exc}") from exc
    return await enqueue_at(
        app, now_seconds() + seconds, queue, job, *args, track_status=track_status, payload_form=payload_form
    )


async def remove_delayed(app: AsyncResque, queue: str, job: Any, *args: Any) -> int:
    """Cancel every delayed run of exactly this job (class, args, queue): its Ruby-form
    items and pyresque's id-form items (with their WAITING status); how many.
    As :meth:`Resque.remove_delayed` (id-form items are found by reading every
    timestamp: :func:`remove_delayed_by_id` is the cheap way to cancel one job)."""
    item = delayed_item(app, queue, job, *args)
    store = app.backend.delayed
    async with app.connection_guard():
        removed = await store.remove(item)
        for job_id in await _id_forms(app, item):
            removed += await store.remove_by_id(job_id)
    return removed


async def remove_delayed_by_id(app: AsyncResque, job_id: str) -> int:
    """Cancel the delayed job with this id (the id ``enqueue_at`` returned); how many
    items were removed. One atomic step, safe to repeat (as :meth:`Resque.remove_delayed_by_id`).

    Raises:
        ConfigurationError: ``job_id`` is not a usable id.
        BackendConnectionError: the backend cannot be reached.
    """
    validate_job_id(job_id)
    async with app.connection_guard():
        return await app.backend.delayed.remove_by_id(job_id)


async def _id_forms(app: AsyncResque, item: bytes) -> list[str]:
    """The ids of the id-form items of ``item``'s job (one scan of every timestamp)."""
    if app.payload_form == "ruby":  # such an app writes no id-form items: no scan
        return []
    found: list[str] = []
    async for _, raws in app.backend.delayed.iter_items():
        found.extend(job_id for raw in raws if (job_id := item_id(raw, item)))
    return found


async def scheduled_at(app: AsyncResque, queue: str, job: Any, *args: Any) -> list[int]:
    """The timestamps at which exactly this job is scheduled, ascending: Ruby-form items
    (1 round trip) and id-form items (a read of every timestamp, 1 round trip per 500)."""
    item = delayed_item(app, queue, job, *args)
    store = app.backend.delayed
    async with app.connection_guard():
        stamps = set(await store.scheduled_at(item))
        if app.payload_form != "ruby":  # such an app writes no id-form items: no scan
            async for ts, raws in store.iter_items():
                if any(item_id(raw, item) for raw in raws):
                    stamps.add(ts)
    return sorted(stamps)


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
