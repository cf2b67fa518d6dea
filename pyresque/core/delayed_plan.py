"""What an ``enqueue_at`` writes, decided without I/O: the pure half of delayed
enqueueing, used by the sync app (:mod:`pyresque.core.delayed`) and the asyncio client
(:mod:`pyresque.aio.delayed`), so both write byte-identical items.

Start at :func:`plan_delayed`: it gives the item bytes and the id (the full form's item
carries ``"id"`` last; the Ruby form's is resque-scheduler's exact
``{"class","args","queue"}``). :func:`scheduled_plan` runs ``before_schedule`` and puts
the trace context the hooks wrote into the item. The caller writes it with
``delayed.schedule(timestamp, item, job_id=..., track=...)``, whose reply says whether a
scheduler holds the leader lock; :class:`SchedulerWarning` turns a ``False`` into a
rate-limited WARNING.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

from pyresque.core.delayed_item import TRACE_ITEM_KEYS, checked_timestamp, encode_item, now_seconds
from pyresque.core.enqueueing import EnqueueConfig, checked_queue, resolve_form
from pyresque.core.job import Job, PayloadForm, check_ruby_form, new_job_id

__all__ = ["DelayedPlan", "SchedulerWarning", "plan_delayed", "scheduled_plan"]

log = logging.getLogger("pyresque.delayed")


@dataclasses.dataclass(frozen=True, slots=True)
class DelayedPlan:
    """One validated ``enqueue_at``, not yet written.

    Attributes:
        timestamp: the due epoch second.
        job: the job (``job.id`` is ``None`` for the Ruby form).
        item: the delayed item's bytes (what ``delayed.schedule`` writes).
        track: whether to create the job's WAITING status with the item.
        due: the time is not in the future: enqueue at once instead (``enqueue``
            with the same ``track_status`` and ``payload_form``), as resque-scheduler does.
    """

    timestamp: int
    job: Job
    item: bytes
    track: bool = False
    due: bool = False


def plan_delayed(
    config: EnqueueConfig,
    when: dt.datetime | float | int,
    queue: str,
    job: Any,
    args: Sequence[Any],
    *,
    track_status: bool = False,
    payload_form: PayloadForm | None = None,
) -> DelayedPlan:
    """Validate one ``enqueue_at`` and build its item (see the module docstring).

    The full form's item is ``{"class","args","queue","id"}`` with a new job id; the
    Ruby form's is resque-scheduler's exact ``{"class","args","queue"}`` (no id, so no
    ``track_status``). Items are JSON whatever the serializer (every scheduler reads them).

    Raises:
        TypeError: ``when`` is not a datetime or a number.
        ConfigurationError: ``when`` is NaN, infinite or after year 9999, or
            ``track_status`` with the Ruby form.
        InvalidQueueName, JobNotRegistered: as :func:`build_job`.
        EncodeError: an argument cannot be carried by JSON.
    """
    timestamp = checked_timestamp(when)
    form = resolve_form(config.payload_form, payload_form)
    if form == "ruby":
        check_ruby_form(track_status, None, None, 0)
    name = config.registry.name_for(job)
    job_id = new_job_id() if form == "full" else None
    item = encode_item(name, args, checked_queue(queue), job_id)
    built = Job(queue, name, tuple(args), job_id)
    return DelayedPlan(timestamp, built, item, track_status, timestamp <= int(now_seconds()))


def scheduled_plan(hooks: Any, app: Any, plan: DelayedPlan) -> DelayedPlan:
    """Run ``before_schedule`` on ``plan.job``; the plan whose item carries the
    ``traceparent``/``tracestate`` the hooks put in ``job.extra`` (the full form only: a
    Ruby-form item stays resque-scheduler's exact bytes). No hook: ``plan`` itself.

    Raises:
        Exception: what a ``before_schedule`` hook raised (nothing is written).
    """
    if not hooks.has("pyresque_before_schedule"):
        return plan
    job = plan.job
    hooks.before_schedule(app, plan.timestamp, job)
    if job.id is None or not any(key in job.extra for key in TRACE_ITEM_KEYS):
        return plan
    item = encode_item(job.class_name, job.args, job.queue, job.id, trace=job.extra)
    return dataclasses.replace(plan, item=item)


class SchedulerWarning:
    """The WARNING that a delayed job was written while no scheduler leads, at most
    once per ``interval`` seconds (one per app).

    Call :meth:`saw` with what ``delayed.schedule`` returned.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._last: float | None = None

    def saw(self, leader: bool | None, where: str = "") -> bool:
        """Log the WARNING if ``leader`` is ``False`` and none was logged for
        ``interval`` seconds; returns whether it logged."""
        if leader is not False:
            return False
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        log.warning(
            "a delayed job was written%s but no scheduler holds the leader lock: it will not "
            "run until one does (start one: 'pyresque scheduler', or 'pyresque worker "
            "--with-scheduler'); said at most once every %g s",
            f" to {where}" if where else "",
            self.interval,
        )
        return True
