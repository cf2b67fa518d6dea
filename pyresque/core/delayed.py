"""Delayed jobs on the app: ``enqueue_at``, ``enqueue_in``, ``remove_delayed`` ...

Items are written in resque-scheduler's format, byte for byte
(``{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}`` under
``delayed:<ts>``, ``timestamps:<item>`` and ``delayed_queue_schedule``), so Ruby's
resque-scheduler, node-resque and php-resque-scheduler see and move them too, and
``remove_delayed``/``scheduled_at`` find items Ruby wrote for the same job.
A ``pyresque scheduler`` (or any of those schedulers) moves them to their queue
when due (:mod:`pyresque.core.scheduling`).

Each function takes the app first; :class:`~pyresque.Resque` binds them as its methods
(``app.enqueue_at(...)`` is ``enqueue_at(app, ...)``), so this module needs the app
only for type annotations and never imports it at runtime. Times are epoch seconds
(whole seconds, as every Resque scheduler stores them); a naive ``datetime`` is UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from pyresque.core import delayed_plan
from pyresque.core.delayed_item import (
    MAX_TIMESTAMP,
    DelayedItem,
    checked_timestamp,
    delay_seconds,
    encode_item,
    item_id,
    item_job,
    now_seconds,
    to_timestamp,
)
from pyresque.core.errors import ConfigurationError, InvalidJobError
from pyresque.core.idempotency import validate_job_id
from pyresque.core.job import Job, PayloadForm, validate_queue_name
from pyresque.core.scheduling import recurring
from pyresque.core.scheduling.promotion import Promoter
from pyresque.core.scheduling.schedule import Schedule

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = [
    "MAX_TIMESTAMP",
    "checked_timestamp",
    "clear_delayed",
    "delayed_at",
    "delayed_count",
    "delayed_item",
    "delayed_peek",
    "delayed_size_at",
    "delayed_timestamps",
    "dynamic_schedules",
    "enqueue_at",
    "enqueue_delayed_where",
    "enqueue_in",
    "find_delayed",
    "remove_delayed",
    "remove_delayed_by_id",
    "remove_delayed_where",
    "remove_schedule",
    "scheduled_at",
    "set_schedule",
]


def delayed_item(app: Resque, queue: str, job: Any, *args: Any) -> bytes:
    """The id-free item bytes of this job: what ``enqueue_at`` writes in the Ruby form,
    and what Ruby's ``remove_delayed``/``delayed?`` and :func:`remove_delayed` match
    (the full form's item is these bytes with ``,"id":"<id>"`` before the last ``}``).

    Raises:
        InvalidQueueName: the queue name is unusable.
        JobNotRegistered: ``job`` is a callable no registry names.
        EncodeError: an argument cannot be carried by JSON.
    """
    validate_queue_name(queue)
    return encode_item(app.registry.name_for(job), args, queue)


def enqueue_at(
    app: Resque,
    when: dt.datetime | float | int,
    queue: str,
    job: Any,
    *args: Any,
    track_status: bool = False,
    payload_form: PayloadForm | None = None,
) -> str:
    """Run ``job(*args)`` on ``queue`` at ``when`` (a datetime or a Unix timestamp);
    returns the job's id (``""`` in the Ruby form, whose item carries none).

    A naive datetime is UTC. A time that is not in the future (to the second)
    enqueues at once through :meth:`enqueue`, as resque-scheduler does; then
    ``before_enqueue``/``after_enqueue`` fire instead of ``after_schedule``.
    Otherwise one round trip (RPUSH + SADD + ZADD, the id index and the status, and a
    look at the scheduler's leader lock, in MULTI), then the ``after_schedule`` hook.
    If no scheduler holds the lock, a WARNING says so (at most once a minute).

    Args:
        track_status: create the job's status now: WAITING, with ``scheduled_at``,
            until a worker takes it (``app.tracked(id)``); the full form only.
        payload_form: ``"full"`` (the item carries the job id: ``remove_delayed_by_id``,
            status tracking) or ``"ruby"`` (resque-scheduler's exact bytes, which Ruby's
            ``remove_delayed(klass, *args)`` and ``delayed?`` match); the app's by default.

    Raises:
        TypeError: ``when`` is not a datetime or a number.
        ConfigurationError: ``when`` is NaN, infinite or after year 9999 (a ``ValueError``),
            or ``track_status`` with the Ruby form; nothing is written.
        InvalidQueueName, JobNotRegistered, EncodeError: nothing is written.
        BackendConnectionError: the backend cannot be reached.
    """
    plan = delayed_plan.plan_delayed(
        app, when, queue, job, args, track_status=track_status, payload_form=payload_form
    )
    if plan.due:
        return app.enqueue(queue, job, *args, track_status=track_status, payload_form=payload_form)
    plan = delayed_plan.scheduled_plan(app.hooks, app, plan)
    with app.connection_guard():
        leader = app.backend.delayed.schedule(plan.timestamp, plan.item, job_id=plan.job.id, track=plan.track)
    app.scheduler_warning.saw(leader, app.backend.describe())
    if app.hooks.has("pyresque_after_schedule"):
        app.hooks.after_schedule(app, plan.timestamp, plan.job)
    return plan.job.id or ""


def enqueue_in(
    app: Resque,
    delay: dt.timedelta | float | int,
    queue: str,
    job: Any,
    *args: Any,
    track_status: bool = False,
    payload_form: PayloadForm | None = None,
) -> str:
    """Run ``job(*args)`` on ``queue`` after ``delay`` (seconds or a timedelta); returns
    the job id (``""`` in the Ruby form).

    A delay that does not reach the next second enqueues at once. See
    :meth:`enqueue_at`.
    """
    try:
        seconds = delay_seconds(delay)
    except ValueError as exc:
        raise ConfigurationError(f"cannot schedule in {delay!r}: {exc}") from exc
    return enqueue_at(
        app, now_seconds() + seconds, queue, job, *args, track_status=track_status, payload_form=payload_form
    )


def remove_delayed(app: Resque, queue: str, job: Any, *args: Any) -> int:
    """Cancel every delayed run of exactly this job (class, args and queue).

    Matches the exact bytes resque-scheduler writes, so items scheduled by Ruby
    for the same job are removed too (node and PHP encode differently and are
    not matched, as in their own tools), and pyresque's id-form items of this job
    (with their WAITING status). Returns how many were removed.

    The Ruby-form bytes are found through resque-scheduler's index (2 round trips);
    id-form items by reading every timestamp (1 round trip per 500 timestamps):
    :func:`remove_delayed_by_id` is the cheap way to cancel one job.
    """
    item = delayed_item(app, queue, job, *args)
    with app.connection_guard():
        removed = app.backend.delayed.remove(item)
        for job_id in _id_forms(app, item):
            removed += app.backend.delayed.remove_by_id(job_id)
    return removed


def remove_delayed_by_id(app: Resque, job_id: str) -> int:
    """Cancel the delayed job with this id (the id ``enqueue_at`` returned); returns
    how many items were removed (0: no such delayed job, or already moved to its queue).

    One atomic step (1 round trip through the id index; a scan of every timestamp
    when the index is gone, e.g. more than a week past the due time). A WAITING status
    of the job is deleted with it (``tracked(id).get()`` is then ``None``). Safe to
    repeat: a repeat removes nothing and returns 0.

    Raises:
        ConfigurationError: ``job_id`` is not a usable id.
        BackendConnectionError: the backend cannot be reached.
    """
    validate_job_id(job_id)
    with app.connection_guard():
        return app.backend.delayed.remove_by_id(job_id)


def _id_forms(app: Resque, item: bytes) -> list[str]:
    """The ids of the id-form items of ``item``'s job (one scan of every timestamp)."""
    if app.payload_form == "ruby":  # such an app writes no id-form items: no scan
        return []
    found = (item_id(raw, item) for _, raws in app.backend.delayed.iter_items() for raw in raws)
    return [job_id for job_id in found if job_id]


def find_delayed(app: Resque, match: Callable[[Job], bool]) -> list[DelayedItem]:
    """Every delayed item whose job satisfies ``match``, in due order.

    Works on items of any writer (node's and PHP's encodings too), unlike the
    exact-bytes :meth:`remove_delayed`. An item without ``queue`` is seen with
    ``job.queue == ""``; unreadable items are never matched. Reads every timestamp
    (one round trip each).
    """
    return [item for item in _iter_delayed(app) if item.job is not None and match(item.job)]


def remove_delayed_where(app: Resque, match: Callable[[Job], bool]) -> int:
    """Cancel every delayed item whose job satisfies ``match``; returns how many.

    resque-scheduler's ``remove_delayed_selection``, for items of any writer. Each
    removal is atomic, so an item a scheduler moves meanwhile is not counted.
    """
    removed = 0
    for ts, raws in _matching_by_timestamp(app, match):
        with app.connection_guard():
            removed += app.backend.delayed.remove_items(ts, raws)
    return removed


def enqueue_delayed_where(app: Resque, match: Callable[[Job], bool]) -> int:
    """Enqueue now every delayed item whose job satisfies ``match``; returns how many.

    resque-scheduler's ``enqueue_delayed_selection``. Items move through the
    scheduler's atomic promotion (exactly once even with a scheduler running); an
    item whose queue cannot be found goes to the failure store, as there.
    """
    promoter = Promoter(app)
    moved = 0
    for ts, _ in _matching_by_timestamp(app, match):
        with app.connection_guard():
            raws = app.backend.delayed.items_at(ts)
        moves = [
            promoter.plan(raw, i)[0]
            for i, raw in enumerate(raws)
            if (job := _read(ts, raw).job) is not None and match(job)
        ]
        with app.connection_guard():
            flags = app.backend.delayed.promote(ts, moves)
        moved += sum(flags)
    return moved


def _matching_by_timestamp(app: Resque, match: Callable[[Job], bool]) -> Iterator[tuple[int, list[bytes]]]:
    current: int | None = None
    batch: list[bytes] = []
    for item in find_delayed(app, match):
        if item.timestamp != current and batch:
            assert current is not None
            yield current, batch
            batch = []
        current = item.timestamp
        batch.append(item.raw)
    if batch and current is not None:
        yield current, batch


def scheduled_at(app: Resque, queue: str, job: Any, *args: Any) -> list[int]:
    """The timestamps at which exactly this job is scheduled, ascending: its Ruby-form
    items (resque-scheduler's index, 1 round trip) and its id-form items (a read of every
    timestamp, 1 round trip per 500)."""
    item = delayed_item(app, queue, job, *args)
    with app.connection_guard():
        stamps = set(app.backend.delayed.scheduled_at(item))
        if app.payload_form != "ruby":  # such an app writes no id-form items: no scan
            items = app.backend.delayed.iter_items()
            stamps.update(ts for ts, raws in items if any(item_id(raw, item) for raw in raws))
    return sorted(stamps)


def delayed_count(app: Resque) -> int:
    """How many delayed items wait in all. Two round trips."""
    with app.connection_guard():
        return app.backend.delayed.count()


def delayed_timestamps(app: Resque, start: int = 0, count: int = -1) -> list[int]:
    """The timestamps holding delayed items, ascending (``count=-1``: all). One round trip."""
    with app.connection_guard():
        return app.backend.delayed.timestamps(start, count)


def delayed_size_at(app: Resque, when: dt.datetime | float | int) -> int:
    """How many items are due at ``when`` (to the second). One round trip."""
    with app.connection_guard():
        return app.backend.delayed.size_at(to_timestamp(when))


def delayed_at(app: Resque, when: dt.datetime | float | int) -> list[DelayedItem]:
    """The items due at ``when`` (to the second), in the order they will be moved."""
    ts = to_timestamp(when)
    with app.connection_guard():
        raws = app.backend.delayed.items_at(ts)
    return [_read(ts, raw) for raw in raws]


def delayed_peek(app: Resque, start: int = 0, count: int = 1) -> list[DelayedItem]:
    """Items ``start`` .. ``start+count-1`` in due order (soonest first), left in place.

    Reads one timestamp at a time (one round trip each) until enough are found.
    """
    if start < 0 or count < 0:
        raise ValueError("start and count must not be negative")
    return list(_take(_iter_delayed(app), start, count))


def _iter_delayed(app: Resque) -> Iterator[DelayedItem]:
    with app.connection_guard():
        stamps = app.backend.delayed.timestamps()
    for ts in stamps:
        with app.connection_guard():
            raws = app.backend.delayed.items_at(ts)
        for raw in raws:
            yield _read(ts, raw)


def clear_delayed(app: Resque) -> int:
    """Drop every delayed item (all languages'). Returns how many were dropped."""
    with app.connection_guard():
        return app.backend.delayed.clear()


def set_schedule(app: Resque, name: str, config: Mapping[str, Any] | Schedule) -> Schedule:
    """Store a recurring schedule in Redis (resque-scheduler's ``set_schedule``).

    ``config`` is resque-scheduler's mapping (``class``, ``cron`` or ``every``,
    ``queue``, ``args``, ``description``) or a :class:`Schedule`. A running
    leader picks it up at its next poll. One round trip.

    Raises:
        ConfigurationError: the config is invalid (nothing is written).
    """
    return recurring.set_schedule(app, name, config)


def remove_schedule(app: Resque, name: str) -> bool:
    """Delete a dynamic schedule. Returns whether it existed. One round trip."""
    return recurring.remove_schedule(app, name)


def dynamic_schedules(app: Resque) -> dict[str, Schedule | ConfigurationError]:
    """The dynamic schedules stored in Redis (an invalid one maps to its error)."""
    return recurring.get_schedules(app)


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
