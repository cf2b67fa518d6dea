"""History that survives restarts: daily counters and per-class per-minute numbers in Redis.

Start with :class:`HistoryPlugin` (register it on the worker's app) and the readers
:func:`daily` and :func:`minutes` (``pyresque stats --days N`` prints them).

Keys, next to Resque's ``stat:processed`` / ``stat:failed``:

- ``<ns>:stat:processed:YYYY-MM-DD`` and ``<ns>:stat:failed:YYYY-MM-DD`` (STRING
  counters, UTC dates), expiring ``days`` days (90 by default) after their last write;
- ``<ns>:history:minute:<epoch minute>`` (HASH) with fields ``<class>:processed``
  (every run, as ``stat:processed``), ``<class>:failed`` and ``<class>:seconds``
  (total duration), expiring ``hours``
  hours (6 by default) after the minute.

Bounded memory: at most ``hours * 60`` minute hashes live at once, each with at most
3 fields per class label, and class labels are bounded
(:class:`~pyresque.observability.labels.ClassLabels`, 200 by default, then
``other``): 6 h x 60 x 200 classes x 3 fields is the ceiling (about 216,000 small
fields; a few dozen bytes each), whatever the traffic. Two daily keys per day.

Cost: one round trip per job (one small script of this module: 5 to 8 writes), after
the job, in the process that ran it; it never touches the worker's atomic outcome
script (one command rather than a pipeline of 5 to 8: less client CPU per job). A lost
reply is not repeated (a repeat would count twice): history is a
best-effort record, and an error writing it is logged at DEBUG, never a job failure.
A job whose child was killed is counted failed (by the worker) without a duration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.core.errors import ConfigurationError, DontPerform, UnknownJobClass
from pyresque.hooks import hookimpl
from pyresque.observability.labels import UNKNOWN, ClassLabels

if TYPE_CHECKING:
    import redis

    from pyresque.backends.redis.keys import Keys
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["ClassMinute", "Day", "HistoryPlugin", "daily", "minute_key", "minutes"]

log = logging.getLogger(__name__)

#: One job's history, in one command. KEYS: the day's processed and failed counters, the
#: minute's hash. ARGV: 1 when it succeeded, the counters' TTL, the class label, its
#: duration in seconds (or ""), the hash's expiry (epoch seconds). A repeat after a lost
#: reply would count the job twice, so the plugin never repeats it (best effort).
_RECORD = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3] .. ':processed', 1)
if ARGV[1] == '0' then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[3] .. ':failed', 1)
end
if ARGV[4] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[3], ARGV[3] .. ':seconds', ARGV[4])
end
redis.call('EXPIREAT', KEYS[3], ARGV[5])
return 1
"""


def _date(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).strftime("%Y-%m-%d")


def minute_key(keys: Keys, minute: int) -> str:
    """The HASH of epoch minute ``minute`` (``int(time // 60)``)."""
    return f"{keys.prefix}history:minute:{minute}"


def _redis(app: Resque) -> tuple[redis.Redis, Keys]:
    client = getattr(app.backend, "client", None)
    keys = getattr(app.backend, "keys", None)
    if client is None or keys is None:
        raise ConfigurationError(f"history lives in Redis, not in {type(app.backend).__name__}")
    return client, keys


class HistoryPlugin:
    """Writes the history keys for every job this app's workers run (module docstring).

    Args:
        days: how long a daily counter lives after its last write.
        hours: how long a minute's per-class numbers live.
        class_limit: distinct class names kept (then ``other``).
        clock: the wall clock (epoch seconds).
    """

    def __init__(
        self, *, days: int = 90, hours: int = 6, class_limit: int = 200, clock: Any = time.time
    ) -> None:
        if days < 1 or hours < 1:
            raise ConfigurationError("history days and hours must be at least 1")
        self.days = days
        self.hours = hours
        self.classes = ClassLabels(class_limit)
        self.clock = clock
        self._durations: dict[int, float] = {}
        self._lock = threading.Lock()
        self._script: Any = None

    @hookimpl
    def pyresque_job_started(self, worker: Worker, job: Job) -> Callable[[BaseException | None], None]:
        """Time the job; the finisher writes a success (its ``after_perform`` hooks ran),
        or keeps the duration for ``on_failure``, which writes the failure."""
        started = time.perf_counter()

        def finish(exception: BaseException | None) -> None:
            seconds = time.perf_counter() - started
            if exception is None:
                self._write(worker.app, job.class_name, ok=True, seconds=seconds)
            elif not isinstance(exception, DontPerform):  # a skipped job is not history
                with self._lock:
                    if len(self._durations) > 10_000:  # failures on_failure never took
                        self._durations.clear()
                    self._durations[id(job)] = seconds

        return finish

    @hookimpl(trylast=True)
    def pyresque_on_failure(self, worker: Worker, job: Job, exception: BaseException) -> None:
        """Count a failure (with its duration when it ran here)."""
        name = UNKNOWN if isinstance(exception, UnknownJobClass) else job.class_name
        self._write(worker.app, name, ok=False, seconds=self._take(job))

    def _take(self, job: Job) -> float | None:
        with self._lock:
            return self._durations.pop(id(job), None)

    def _write(self, app: Resque, class_name: str, *, ok: bool, seconds: float | None) -> None:
        try:
            client, keys = _redis(app)
            now = self.clock()
            date = _date(now)
            minute = int(now // 60)
            label = self.classes(class_name)
            script = self._script
            if script is None or script.registered_client is not client:
                script = self._script = client.register_script(_RECORD)
            script(
                keys=(keys.stat(f"processed:{date}"), keys.stat(f"failed:{date}"), minute_key(keys, minute)),
                args=(
                    1 if ok else 0,
                    self.days * 86400,
                    label,
                    "" if seconds is None else repr(round(seconds, 6)),
                    (minute + 1) * 60 + self.hours * 3600,
                ),
            )
        except Exception as exc:  # history never fails a job
            log.debug("could not write job history: %s", exc)


@dataclasses.dataclass(frozen=True, slots=True)
class Day:
    """One day's counters (UTC)."""

    date: str
    processed: int
    failed: int


@dataclasses.dataclass(frozen=True, slots=True)
class ClassMinute:
    """One class's numbers over the minutes read: runs, failures and total seconds.

    ``processed`` counts every run (failures included, as Resque's ``stat:processed``);
    ``failed`` the failures; ``seconds`` the summed duration of the runs that have one."""

    class_name: str
    processed: int
    failed: int
    seconds: float

    @property
    def mean_seconds(self) -> float | None:
        """Mean duration of a run, when any ran."""
        return self.seconds / self.processed if self.processed else None


def daily(app: Resque, days: int, *, now: float | None = None) -> list[Day]:
    """The last ``days`` days' counters, oldest first (0 for a day with none). One round trip."""
    client, keys = _redis(app)
    when = time.time() if now is None else now
    dates = [_date(when - 86400 * back) for back in range(days - 1, -1, -1)]
    names = [keys.stat(f"{kind}:{d}") for d in dates for kind in ("processed", "failed")]
    values = client.mget(names) if names else []
    out = []
    for i, d in enumerate(dates):
        processed, failed = values[2 * i], values[2 * i + 1]
        out.append(Day(d, int(processed or 0), int(failed or 0)))
    return out


def minutes(app: Resque, last: int = 60, *, now: float | None = None) -> list[ClassMinute]:
    """Per-class totals over the last ``last`` minutes, most runs first. One round trip."""
    client, keys = _redis(app)
    current = int((time.time() if now is None else now) // 60)
    pipe = client.pipeline(transaction=False)
    for minute in range(current - last + 1, current + 1):
        pipe.hgetall(minute_key(keys, minute))
    totals: dict[str, list[float]] = {}
    for fields in pipe.execute():
        for raw_field, raw_value in fields.items():
            field = raw_field.decode("utf-8", "replace")
            name, _, kind = field.rpartition(":")
            slot = {"processed": 0, "failed": 1, "seconds": 2}.get(kind)
            if slot is None:
                continue
            with_name = totals.setdefault(name, [0.0, 0.0, 0.0])
            try:
                with_name[slot] += float(raw_value)
            except ValueError:
                continue
    rows = [ClassMinute(name, int(p), int(f), s) for name, (p, f, s) in totals.items()]
    return sorted(rows, key=lambda r: (-r.processed, r.class_name))
