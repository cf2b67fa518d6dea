"""The scheduler: promotes due delayed jobs and enqueues recurring ticks, as the leader.

Each poll: take or refresh the leader lock (one round trip); if we lead, move every
due delayed item to its queue (:mod:`pyresque.core.scheduling.promotion`), reload dynamic
schedules when flagged, and enqueue due recurring ticks
(:mod:`pyresque.core.scheduling.recurring`). Then sleep until the next poll or the next
recurring tick, whichever comes first.

Promotion and ticks are exactly-once by themselves (atomic scripts), so the lock is
not what prevents duplicates: it keeps one scheduler doing the work, and keeps a
pyresque scheduler and a Ruby resque-scheduler on one Redis from both leading.
With ``use_lock=False`` several schedulers all promote, still without duplicates.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pyresque.core.errors import ConfigurationError
from pyresque.core.scheduling.leader import DEFAULT_LOCK_TIMEOUT, LeaderLock, default_lock_value
from pyresque.core.scheduling.promotion import DEFAULT_BATCH_SIZE, Promoter, PromoteResult
from pyresque.core.scheduling.recurring import MissedTicks, Recurring
from pyresque.core.scheduling.schedule import Schedule

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["DEFAULT_INTERVAL", "PollResult", "Scheduler"]

log = logging.getLogger("pyresque.scheduler")

#: Seconds between polls (resque-scheduler's ``RESQUE_SCHEDULER_INTERVAL``).
DEFAULT_INTERVAL = 5.0


class PollResult:
    """What one poll did."""

    __slots__ = ("leader", "promoted", "ticks")

    def __init__(self, leader: bool, promoted: PromoteResult | None = None, ticks: int = 0) -> None:
        self.leader = leader
        self.promoted = promoted or PromoteResult()
        self.ticks = ticks

    def __repr__(self) -> str:
        return f"PollResult(leader={self.leader}, promoted={self.promoted}, ticks={self.ticks})"


class Scheduler:
    """Run delayed and recurring jobs for one app.

    Args:
        app: the app (its backend holds the delayed queue and the lock).
        schedules: static recurring schedules (see
            :func:`~pyresque.core.scheduling.schedule.load_schedule_file`).
        interval: seconds between polls (> 0 and below ``lock_timeout``).
        lock_timeout: the leader lock's TTL in seconds (180, as resque-scheduler).
        lock_prefix: resque-scheduler's ``RESQUE_SCHEDULER_MASTER_LOCK_PREFIX``.
        lock_style: ``"ruby"`` (resque-scheduler's lock) or ``"node"`` (node-resque's).
        use_lock: take the leader lock (default). Without it every scheduler works,
            still exactly once; Ruby schedulers on the same Redis are then ignored.
        name: this scheduler's lock value and failure-record ``worker`` (``host:pid``).
        batch_size: delayed items per round trip.
        default_queue: queue for delayed items / schedules that name none.
        dynamic: also run dynamic schedules stored in Redis.
        missed: ``"skip"`` or ``"catch_up"`` for ticks missed while no scheduler ran.
        grace: seconds a tick may be late and still run under ``"skip"``.
        clock: the wall clock (seconds since the epoch), for tests.
    """

    def __init__(
        self,
        app: Resque,
        schedules: Iterable[Schedule] = (),
        *,
        interval: float = DEFAULT_INTERVAL,
        lock_timeout: int = DEFAULT_LOCK_TIMEOUT,
        lock_prefix: str = "",
        lock_style: str = "ruby",
        use_lock: bool = True,
        name: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_queue: str | None = None,
        dynamic: bool = True,
        missed: MissedTicks = "skip",
        grace: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not interval > 0:
            raise ConfigurationError(f"the interval must be > 0 seconds: {interval!r}")
        if use_lock and interval >= lock_timeout:
            raise ConfigurationError(
                f"the interval ({interval} s) must be shorter than the lock timeout ({lock_timeout} s)"
            )
        self.app = app
        self.name = name or default_lock_value()
        self.interval = float(interval)
        self.lock = LeaderLock(
            app.backend.delayed,
            value=self.name,
            timeout=lock_timeout,
            lock_prefix=lock_prefix,
            style=lock_style,
        )
        self.use_lock = use_lock
        self.promoter = Promoter(app, batch_size=batch_size, default_queue=default_queue, name=self.name)
        self.recurring = Recurring(
            app, schedules, dynamic=dynamic, missed=missed, grace=grace, default_queue=default_queue
        )
        self.clock = clock
        self._stop = threading.Event()
        self._last_refresh = 0.0
        self._led = False
        self._reload_all = False
        self._poll_started = 0.0
        self._backlog = False

    # control ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish its current step and exit (safe from a signal handler)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop.is_set()

    def _keep_going(self) -> bool:
        """Between batches: stop when told to or when the poll's time budget is spent
        (recurring ticks must not wait behind a large backlog: the next poll follows at
        once); refresh the lock, stop if it was lost."""
        if self._stop.is_set():
            return False
        now = time.monotonic()
        if now - self._poll_started > max(self.interval, 1.0):
            self._backlog = True
            return False
        if not self.use_lock:
            return True
        if now - self._last_refresh < min(self.interval, self.lock.timeout / 3):
            return True
        self._last_refresh = now
        held = self.lock.poll()
        self._reload_all = self._reload_all or self.lock.newly_acquired
        return held

    # one poll --------------------------------------------------------------------------
    def poll(self) -> PollResult:
        """Lead (or not), promote due items, enqueue due ticks. See the module docstring."""
        leading = self.lock.poll() if self.use_lock else True
        self._last_refresh = self._poll_started = time.monotonic()
        self._backlog = False
        if leading and (not self._led or (self.use_lock and self.lock.newly_acquired)):
            self._reload_all = True
        self._led = leading
        if not leading:
            return PollResult(False)
        promoted = self.promoter.promote_due(int(self.clock()), self._keep_going)
        if self._stop.is_set() or (self.use_lock and not self.lock.is_leader):
            return PollResult(self.lock.is_leader or not self.use_lock, promoted)
        # a new leader reloads in full: flags set meanwhile were taken by the previous one
        self.recurring.reload(force=self._reload_all)
        self._reload_all = False
        ticks = self.recurring.enqueue_due(self.clock())
        return PollResult(True, promoted, ticks)

    def _sleep_time(self) -> float:
        if self._backlog:
            return 0.0
        now = self.clock()
        wait = self.interval
        nxt = self.recurring.next_tick(now)
        if nxt is not None:
            wait = min(wait, max(nxt - now, 0.0) + 0.001)
        return max(wait, 0.01)

    # the loop --------------------------------------------------------------------------
    def run(self, *, max_polls: int | None = None) -> None:
        """Poll until :meth:`stop` (or ``max_polls`` polls); release the lock on the way out.

        A backend that cannot be reached is logged once and retried every ``interval``;
        any other error of one poll is logged and the loop goes on. A failure that
        retrying cannot mend (the backend's ``permanent_error``: a refused password, no
        such database, not Redis) is raised, after the lock is released.
        """
        errors = self.app.backend.connection_errors
        explain = getattr(self.app.backend, "permanent_error", None)
        unreachable = False
        polls = 0
        log.info(
            "scheduler %s starting (interval %.3g s, lock %s)",
            self.name,
            self.interval,
            f"{self.lock.timeout} s" if self.use_lock else "off",
        )
        try:
            while not self._stop.is_set():
                try:
                    self.poll()
                except Exception as exc:
                    permanent = _permanent(explain, exc)
                    if permanent is not None:
                        raise permanent from exc
                    if not isinstance(exc, errors):
                        log.exception("scheduler poll failed; retrying in %.3g s", self.interval)
                    elif not unreachable:
                        log.warning(
                            "cannot reach the backend (%s); retrying every %.3g s", exc, self.interval
                        )
                    unreachable = isinstance(exc, errors)
                    self._stop.wait(self.interval)
                    continue
                if unreachable:
                    log.warning("the backend is reachable again")
                    unreachable = False
                polls += 1
                if max_polls is not None and polls >= max_polls:
                    break
                wait = self._sleep_time()
                if wait > 0:
                    self._stop.wait(wait)
        finally:
            if self.use_lock:
                try:
                    self.lock.release()
                except Exception as exc:  # unreachable, or the failure that stopped us
                    log.warning("could not release the scheduler lock: %s", exc)
            log.info("scheduler %s stopped", self.name)


def _permanent(explain: object, exc: BaseException) -> BaseException | None:
    """The backend's one-line error for a failure retrying cannot mend, else ``None``."""
    seen: BaseException | None = exc
    while callable(explain) and seen is not None:
        found = explain(seen)
        if isinstance(found, BaseException):
            return found
        seen = seen.__cause__
    return None
