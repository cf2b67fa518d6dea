"""What is waiting in the queues, and assertions about it with readable messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pyresque.core.app import Resque
from pyresque.core.delayed_item import DelayedItem, to_timestamp
from pyresque.core.errors import InvalidJobError
from pyresque.core.job import Job

__all__ = ["assert_enqueued", "assert_not_enqueued", "assert_scheduled", "enqueued", "scheduled"]


def _name(app: Resque, job: Any) -> str | None:
    return None if job is None else app.registry.name_for(job)


def enqueued(
    app: Resque, queue: str | None = None, job: Any = None, args: Sequence[Any] | None = None
) -> list[Job]:
    """Jobs waiting in ``queue`` (or in every queue, by queue name then position).

    Args:
        app: the app (on fakeredis or any backend; nothing is removed).
        queue: one queue, or ``None`` for all.
        job: only jobs of this registered callable or class-name string.
        args: only jobs with exactly these arguments (compared after the JSON round
            trip, so a tuple you enqueued matches a list here).

    Raises:
        JobNotRegistered: ``job`` is a callable the app does not know.
        DecodeError, InvalidJobError: a waiting payload is not a valid job.
    """
    name = _name(app, job)
    wanted = None if args is None else app.serializer.loads(app.serializer.dumps(list(args)))
    found = []
    for q in [queue] if queue is not None else app.queues():
        with app.connection_guard():
            raws = app.backend.broker.peek(q, 0, -1)
        for raw in raws:
            item = app.decode(raw, q)  # an undecodable payload raises: never skipped silently
            if name is not None and item.class_name != name:
                continue
            if wanted is not None and list(item.args) != wanted:
                continue
            found.append(item)
    return found


def _describe(jobs: Sequence[Job]) -> str:
    if not jobs:
        return "nothing is enqueued"
    lines = [f"  {j.queue}: {j.class_name}{tuple(j.args)!r}" for j in jobs[:20]]
    if len(jobs) > 20:
        lines.append(f"  ... and {len(jobs) - 20} more")
    return "enqueued:\n" + "\n".join(lines)


def assert_enqueued(
    app: Resque,
    job: Any,
    *,
    args: Sequence[Any] | None = None,
    queue: str | None = None,
    count: int | None = None,
) -> list[Job]:
    """Assert that ``job`` (with exactly ``args``, on ``queue``) is waiting; return the matches.

    ``count`` demands exactly that many matches; otherwise at least one. The error
    message lists what is enqueued instead.

    Raises:
        AssertionError: no (or not ``count``) matching job is waiting.
    """
    matches = enqueued(app, queue, job, args)
    ok = len(matches) == count if count is not None else bool(matches)
    if not ok:
        what = _name(app, job)
        if args is not None:
            what = f"{what}{tuple(args)!r}"
        where = f" on {queue!r}" if queue is not None else ""
        expected = f"{count} x " if count is not None else ""
        raise AssertionError(
            f"expected {expected}{what}{where}, found {len(matches)}; {_describe(enqueued(app, queue))}"
        )
    return matches


def assert_not_enqueued(
    app: Resque, job: Any = None, *, args: Sequence[Any] | None = None, queue: str | None = None
) -> None:
    """Assert that no matching job is waiting (with no filters: that every queue is empty).

    Raises:
        AssertionError: a matching job is waiting (the message lists them).
    """
    matches = enqueued(app, queue, job, args)
    if matches:
        raise AssertionError(f"expected no such job, found {len(matches)}; {_describe(matches)}")


def scheduled(
    app: Resque,
    job: Any = None,
    *,
    args: Sequence[Any] | None = None,
    queue: str | None = None,
) -> list[DelayedItem]:
    """Delayed jobs waiting for their time (any writer's), soonest first, filtered like
    :func:`enqueued`. Each :class:`~pyresque.core.delayed_item.DelayedItem` has
    ``timestamp``, ``job`` and ``raw``.

    Raises:
        InvalidJobError: a delayed item is not readable (never skipped silently).
    """
    name = _name(app, job)
    wanted = None if args is None else app.serializer.loads(app.serializer.dumps(list(args)))
    found = []
    for item in app.delayed_peek(0, app.delayed_count()):
        if item.job is None:
            raise InvalidJobError(f"unreadable delayed item at {item.timestamp}: {item.raw[:200]!r}")
        if name is not None and item.job.class_name != name:
            continue
        if queue is not None and item.job.queue != queue:
            continue
        if wanted is not None and list(item.job.args) != wanted:
            continue
        found.append(item)
    return found


def assert_scheduled(
    app: Resque,
    job: Any,
    *,
    args: Sequence[Any] | None = None,
    queue: str | None = None,
    at: dt.datetime | float | None = None,
    count: int | None = None,
) -> list[DelayedItem]:
    """Assert that ``job`` (with exactly ``args``, for ``queue``, due at ``at`` to the
    second) is scheduled; return the matching items. ``count`` demands exactly that many.

    Raises:
        AssertionError: no (or not ``count``) matching delayed job; the message lists
            what is scheduled.
    """
    matches = scheduled(app, job, args=args, queue=queue)
    if at is not None:
        due = to_timestamp(at)
        matches = [m for m in matches if m.timestamp == due]
    ok = len(matches) == count if count is not None else bool(matches)
    if not ok:
        what = _name(app, job)
        if args is not None:
            what = f"{what}{tuple(args)!r}"
        when = f" at {to_timestamp(at)}" if at is not None else ""
        expected = f"{count} x " if count is not None else ""
        everything = scheduled(app)
        listing = "\n".join(
            f"  {i.timestamp} {i.job.queue}: {i.job.class_name}{tuple(i.job.args)!r}"
            for i in everything[:20]
            if i.job is not None
        )
        raise AssertionError(
            f"expected {expected}{what}{when} scheduled, found {len(matches)}; "
            + (f"scheduled:\n{listing}" if everything else "nothing is scheduled")
        )
    return matches
