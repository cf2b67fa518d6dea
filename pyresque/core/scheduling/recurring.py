"""Enqueuing recurring schedules' ticks, each exactly once.

Every tick of a schedule is a fixed epoch second (see :mod:`pyresque.core.scheduling.schedule`).
Enqueuing tick ``t`` of schedule ``s`` is one atomic step that also records ``t`` as
``s``'s last tick (``<ns>:schedule_ticks``) and refuses any tick not later than the
recorded one. Several schedulers, leader changes and restarts therefore never
enqueue a tick twice.

Missed ticks (no scheduler ran at the time): with ``missed="skip"`` (the default,
rufus/resque-scheduler behaviour) only the most recent due tick is enqueued, and only
if it is at most ``grace`` seconds late; older ones are skipped and logged (WARNING). With
``missed="catch_up"`` every tick after the last recorded one is enqueued, oldest
first, up to the ``max_catch_up`` most recent. A schedule never enqueued before
(no recorded tick) starts with its most recent tick if within ``grace``, else with
the next one (logged at INFO: nothing was missed).

A tick a Ruby resque-scheduler enqueued (it records only ``delayed:last_enqueued_at``,
the time it enqueued) is not enqueued again by a pyresque leader that follows it.

Dynamic schedules live in ``<ns>:persistent_schedules`` (name -> JSON config),
resque-scheduler's format, flagged in ``<ns>:schedules_changed``; they are reloaded
whenever a flag is set and override static schedules of the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pyresque.core import timefmt
from pyresque.core.delayed_item import valid_queue
from pyresque.core.errors import ConfigurationError, PyresqueError, UnknownJobClass
from pyresque.core.scheduling.schedule import Schedule
from pyresque.serializers.json import dumps_text

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["MissedTicks", "Recurring", "get_schedules", "remove_schedule", "set_schedule"]

log = logging.getLogger("pyresque.scheduler")

MissedTicks = Literal["skip", "catch_up"]


def set_schedule(app: Resque, name: str, config: Mapping[str, Any] | Schedule) -> Schedule:
    """Store a dynamic schedule in Redis (``persistent_schedules``); running leaders pick it up.

    Raises:
        ConfigurationError: the config is not a valid schedule (nothing is written).
    """
    schedule = config if isinstance(config, Schedule) else Schedule.from_config(name, config)
    data = dict(schedule.to_config())
    data["persist"] = True
    with app.connection_guard():
        app.backend.delayed.set_schedule_config(name, dumps_text(data).encode("utf-8"))
    return schedule


def remove_schedule(app: Resque, name: str) -> bool:
    """Delete a dynamic schedule. Returns whether it existed."""
    with app.connection_guard():
        return app.backend.delayed.remove_schedule_config(name)


def get_schedules(app: Resque) -> dict[str, Schedule | ConfigurationError]:
    """Every dynamic schedule by name (an invalid stored config yields its error)."""
    import json

    with app.connection_guard():
        raw = app.backend.delayed.schedule_configs()
    out: dict[str, Schedule | ConfigurationError] = {}
    for name, data in raw.items():
        try:
            out[name] = Schedule.from_config(name, json.loads(data))
        except (ValueError, ConfigurationError) as exc:
            out[name] = exc if isinstance(exc, ConfigurationError) else ConfigurationError(str(exc))
    return out


class Recurring:
    """The recurring half of the scheduler.

    Args:
        app: the app to enqueue on.
        schedules: static schedules (from a file or Python).
        dynamic: also run the schedules stored in Redis.
        missed: ``"skip"`` or ``"catch_up"`` (see the module docstring).
        grace: seconds a tick may be late and still run under ``"skip"``.
        max_catch_up: most ticks enqueued per schedule per poll under ``"catch_up"``.
        default_queue: queue for schedules that name none and whose class gives none.
    """

    def __init__(
        self,
        app: Resque,
        schedules: Iterable[Schedule] = (),
        *,
        dynamic: bool = True,
        missed: MissedTicks = "skip",
        grace: float = 60.0,
        max_catch_up: int = 100,
        default_queue: str | None = None,
    ) -> None:
        if missed not in ("skip", "catch_up"):
            raise ConfigurationError(f"missed must be 'skip' or 'catch_up', not {missed!r}")
        if grace < 0 or max_catch_up < 1:
            raise ConfigurationError("grace must be >= 0 and max_catch_up >= 1")
        self.app = app
        self.dynamic = dynamic
        self.missed = missed
        self.grace = grace
        self.max_catch_up = max_catch_up
        self.default_queue = default_queue
        self._dynamic: dict[str, Schedule] = {}
        self._loaded = False
        self._warned: set[tuple[str, Any]] = set()
        self.static: dict[str, Schedule] = {}
        self.set_static(schedules)

    def set_static(self, schedules: Iterable[Schedule]) -> None:
        """Replace the static schedules (e.g. a reloaded schedule file), all or nothing.

        Raises:
            ConfigurationError: two share a name, or one has no queue (nothing changes).
        """
        new: dict[str, Schedule] = {}
        for schedule in schedules:
            if schedule.name in new:
                raise ConfigurationError(f"two schedules are named {schedule.name!r}")
            if self._queue_for(schedule) is None:
                raise ConfigurationError(
                    f"schedule {schedule.name!r} has no queue, its class gives none "
                    "and there is no default queue"
                )
            new[schedule.name] = schedule
        self.static = new

    @property
    def schedules(self) -> dict[str, Schedule]:
        """Every schedule in force: static ones, overridden by dynamic ones of the same name."""
        return {**self.static, **self._dynamic}

    def _warn_once(self, key: tuple[str, Any], message: str, *args: Any, level: int = logging.ERROR) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.log(level, message, *args)

    def _queue_for(self, schedule: Schedule) -> str | None:
        if schedule.queue is not None:
            return schedule.queue
        try:
            target = self.app.registry.resolve(schedule.class_name)
        except UnknownJobClass:
            target = None
        return valid_queue(getattr(target, "queue", None)) or self.default_queue

    def reload(self, force: bool = False) -> None:
        """Reload dynamic schedules when flagged as changed (or ``force``). 1-2 round trips."""
        if not self.dynamic:
            return
        import json

        store = self.app.backend.delayed
        changed = store.take_schedules_changed()
        if not (changed or force or not self._loaded):
            return
        loaded: dict[str, Schedule] = {}
        for name, raw in store.schedule_configs().items():
            try:
                loaded[name] = Schedule.from_config(name, json.loads(raw))
            except (ValueError, ConfigurationError) as exc:
                self._warn_once((name, raw), "dynamic schedule %r is invalid and is not run: %s", name, exc)
        added = sorted(set(loaded) - set(self._dynamic))
        removed = sorted(set(self._dynamic) - set(loaded))
        if self._loaded and (added or removed or changed):
            log.info("dynamic schedules reloaded: +%s -%s changed %s", added, removed, changed)
        self._dynamic = loaded
        self._loaded = True

    def next_tick(self, now: float) -> int | None:
        """The soonest tick of any schedule after ``now`` (to know how long to sleep)."""
        ticks = [t for s in self.schedules.values() if (t := s.next_tick(now)) is not None]
        return min(ticks) if ticks else None

    def due_ticks(self, schedule: Schedule, last: int | None, now: float) -> list[int]:
        """The ticks of ``schedule`` to enqueue at ``now`` given its last recorded tick."""
        latest = schedule.latest_tick(now)
        if latest is None or (last is not None and latest <= last):
            return []
        if self.missed == "catch_up" and last is not None:
            return schedule.ticks_between(last, now, self.max_catch_up)
        if now - latest > self.grace:
            if last is None:  # never ran: its past ticks were not missed, it starts now
                nxt = schedule.next_tick(now)
                self._warn_once(
                    (schedule.name, latest),
                    "schedule %r: first run; its latest tick %d is %.0f s past (grace %.0f s), "
                    "so it starts with the next one (%s)",
                    schedule.name,
                    latest,
                    now - latest,
                    self.grace,
                    "none" if nxt is None else timefmt.utc_iso_z(nxt),
                    level=logging.INFO,
                )
            else:
                self._warn_once(
                    (schedule.name, latest),
                    "schedule %r: tick %d is %.0f s late (grace %.0f s): skipped",
                    schedule.name,
                    latest,
                    now - latest,
                    self.grace,
                    level=logging.WARNING,
                )
            return []
        return [latest]

    def enqueue_due(self, now: float) -> int:
        """Enqueue every due tick of every schedule. Returns how many this call enqueued.

        Round trips: 1 (last ticks) + 1 per enqueued tick.
        """
        schedules = self.schedules
        if not schedules:
            return 0
        store = self.app.backend.delayed
        last_ticks, enqueued_at = store.recurring_state()
        count = 0
        for schedule in schedules.values():
            last = _last_tick(schedule, last_ticks.get(schedule.name), enqueued_at.get(schedule.name))
            ticks = self.due_ticks(schedule, last, now)
            if not ticks:
                continue
            queue = self._queue_for(schedule)
            if queue is None:
                self._warn_once((schedule.name, "queue"), "schedule %r has no queue: not run", schedule.name)
                continue
            for tick in ticks:
                count += self._enqueue_tick(schedule, queue, tick, now)
        return count

    def _enqueue_tick(self, schedule: Schedule, queue: str, tick: int, now: float) -> int:
        app = self.app
        try:
            job = app.build_job(queue, schedule.class_name, schedule.args)
            payload = app.encode(job)
        except PyresqueError as exc:
            self._warn_once(
                (schedule.name, "encode"), "schedule %r cannot be enqueued: %s", schedule.name, exc
            )
            return 0
        if not app.backend.delayed.enqueue_tick(
            schedule.name, tick, queue, payload, timefmt.ruby_time_to_s(tick)
        ):
            return 0
        log.info("schedule %r: enqueued tick %d on %s", schedule.name, tick, queue)
        if app.hooks.has("pyresque_after_enqueue"):
            try:
                app.hooks.after_enqueue(app, job)
            except Exception:
                log.exception("after_enqueue hook failed for schedule %r", schedule.name)
        return 1


def _last_tick(schedule: Schedule, ours: int | None, enqueued_at: str | None) -> int | None:
    """The last tick taken: ours (``schedule_ticks``), or later if Ruby enqueued since.

    pyresque writes ``last_enqueued_at`` as the tick's own time; Ruby's
    resque-scheduler (which knows nothing of ``schedule_ticks``) writes the time it
    enqueued, which falls in the tick it served. So after a Ruby leader, a pyresque
    leader does not repeat the tick Ruby already enqueued.
    """
    if not enqueued_at:
        return ours
    when = timefmt.parse_any(enqueued_at)
    if when is None:
        return ours
    inferred = schedule.latest_tick(when.timestamp())
    if inferred is None or (ours is not None and inferred <= ours):
        return ours
    return inferred
