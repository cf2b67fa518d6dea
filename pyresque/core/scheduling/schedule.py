"""Recurring schedules: by cron expression or fixed interval, in resque-scheduler's format.

A schedule is the config resque-scheduler reads (YAML, or JSON in
``persistent_schedules``)::

    clear_cache:
      cron: "0 */2 * * *"          # or every: "30s" / ["1h", {first_at: ...}]
      class: CacheClearer
      queue: low
      args: [1, "x"]
      description: Clears the cache

Ticks are fixed points in time, the same in every scheduler process: a cron
expression's matching seconds (UTC unless a time zone follows the expression, as in
``"0 5 * * * Europe/Stockholm"``; six fields put seconds first, as rufus does); an
``every`` interval's multiples counted from ``first_at`` (default: the Unix epoch),
so ``every: 1m`` ticks at each whole minute. ``last_at`` ends a schedule.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pyresque.core.errors import ConfigurationError
from pyresque.core.job import validate_queue_name

__all__ = ["Schedule", "load_schedule_file", "parse_duration", "parse_schedules"]

_UNITS = {"y": 365 * 86400, "M": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([yMwdhms])")
#: A trailing cron token naming a time zone: ``Area/City`` or ``UTC``/``GMT``.
_ZONE_LIKE = re.compile(r"^(?:[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+|UTC|GMT)$")
_KNOWN_KEYS = {
    "class",
    "cron",
    "every",
    "queue",
    "args",
    "description",
    "persist",
    "custom_job_class",
    "rails_env",
    "env",
    "first_at",
    "last_at",
}


def parse_duration(value: str | float | int) -> float:
    """Seconds in a rufus duration: ``"30s"``, ``"1m"``, ``"1h30m"``, ``"2d"``, ``"1w"``, or a number.

    Raises:
        ConfigurationError: not a duration.
    """
    if isinstance(value, bool):
        raise ConfigurationError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if text[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ConfigurationError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h30m, 2d)")
    return total


def _epoch(value: Any, what: str) -> int:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return math.floor(aware.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return math.floor(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ConfigurationError(f"{what} must be an ISO-8601 time or epoch seconds: {value!r}") from exc
        return _epoch(parsed, what)
    raise ConfigurationError(f"{what} must be an ISO-8601 time or epoch seconds: {value!r}")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One recurring job.

    Attributes:
        name: unique name (the key in the schedule file / ``persistent_schedules``).
        class_name: the Resque class string of the job.
        queue: the queue; ``None`` lets the scheduler use the job class's ``queue``
            attribute or its default queue.
        args: the job's positional arguments.
        cron: a cron expression (five fields, or six with seconds first), optionally
            followed by a time zone name.
        every: the interval in whole seconds (exclusive with ``cron``).
        description: free text shown by tools.
        first_at: no tick before this epoch second (and ``every`` counts from it).
        last_at: no tick after this epoch second.
        persist: stored in Redis (``persistent_schedules``) rather than in a file.
        config: the config mapping as given (written back for dynamic schedules).
    """

    name: str
    class_name: str
    queue: str | None = None
    args: tuple[Any, ...] = ()
    cron: str | None = None
    every: int | None = None
    description: str = ""
    first_at: int | None = None
    last_at: int | None = None
    persist: bool = False
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigurationError("a schedule needs a name")
        if not self.class_name:
            raise ConfigurationError(f"schedule {self.name!r} needs a class")
        if (self.cron is None) == (self.every is None):
            raise ConfigurationError(f"schedule {self.name!r} needs exactly one of cron and every")
        if self.every is not None and (isinstance(self.every, bool) or self.every < 1):
            raise ConfigurationError(f"schedule {self.name!r}: every must be at least 1 second")
        if self.queue is not None:
            try:
                validate_queue_name(self.queue)
            except ValueError as exc:
                raise ConfigurationError(f"schedule {self.name!r}: {exc}") from exc
        if self.cron is not None:
            self._cron_parts()  # validates

    # ticks -----------------------------------------------------------------------------
    def _cron_parts(self) -> tuple[str, dt.tzinfo]:
        assert self.cron is not None
        from croniter import croniter

        fields = self.cron.split()
        tz: dt.tzinfo = dt.timezone.utc
        if len(fields) in (6, 7) and _ZONE_LIKE.match(fields[-1]):
            tz = _zone(fields[-1], self.name)
            fields = fields[:-1]
        expr = " ".join(fields)
        if len(fields) not in (5, 6) or not croniter.is_valid(expr, second_at_beginning=True):
            raise ConfigurationError(f"schedule {self.name!r}: not a cron expression: {self.cron!r}")
        return expr, tz

    def _in_window(self, tick: int) -> bool:
        return (self.first_at is None or tick >= self.first_at) and (
            self.last_at is None or tick <= self.last_at
        )

    def latest_tick(self, now: float) -> int | None:
        """The last tick at or before ``now`` (within first_at/last_at), or ``None``."""
        upto = math.floor(now)
        if self.last_at is not None:
            upto = min(upto, self.last_at)
        if self.first_at is not None and upto < self.first_at:
            return None
        if self.every is not None:
            anchor = self.first_at or 0
            return anchor + ((upto - anchor) // self.every) * self.every
        from croniter import croniter

        expr, tz = self._cron_parts()
        start = dt.datetime.fromtimestamp(upto + 1, tz)
        tick = math.floor(croniter(expr, start, second_at_beginning=True).get_prev(float))
        return tick if self._in_window(tick) else None

    def next_tick(self, now: float) -> int | None:
        """The first tick strictly after ``now``, or ``None`` once past ``last_at``."""
        after = math.floor(now)
        if self.first_at is not None and after < self.first_at:
            after = self.first_at - 1
        if self.every is not None:
            anchor = self.first_at or 0
            tick = anchor + ((after - anchor) // self.every + 1) * self.every
        else:
            from croniter import croniter

            expr, tz = self._cron_parts()
            start = dt.datetime.fromtimestamp(after, tz)
            tick = math.floor(croniter(expr, start, second_at_beginning=True).get_next(float))
        return tick if self.last_at is None or tick <= self.last_at else None

    def ticks_between(self, after: int, upto: float, limit: int) -> list[int]:
        """Ticks in ``(after, upto]``, oldest first; at most the ``limit`` most recent."""
        ticks: list[int] = []
        if self.every is not None:
            last = self.latest_tick(upto)
            while last is not None and last > after and len(ticks) < limit:
                ticks.append(last)
                last = last - self.every
                if not self._in_window(last):
                    break
            return sorted(ticks)
        current = after
        while True:
            tick = self.next_tick(current)
            if tick is None or tick > upto:
                break
            ticks.append(tick)
            current = tick
            if len(ticks) > limit:
                ticks.pop(0)
        return ticks

    # config ----------------------------------------------------------------------------
    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> Schedule:
        """Build a schedule from resque-scheduler's config mapping.

        Raises:
            ConfigurationError: a required key is missing or a value is unusable.
        """
        if not isinstance(config, Mapping):
            raise ConfigurationError(f"schedule {name!r} must be a mapping, not {type(config).__name__}")
        cls_name = config.get("class")
        if not isinstance(cls_name, str):
            raise ConfigurationError(f"schedule {name!r} needs a class (string)")
        every_opts: Mapping[str, Any] = {}
        every_raw = config.get("every")
        if isinstance(every_raw, list | tuple):
            if not every_raw or len(every_raw) > 2:
                raise ConfigurationError(
                    f"schedule {name!r}: every must be a duration or [duration, {{opts}}]"
                )
            every_opts = every_raw[1] if len(every_raw) == 2 else {}
            if not isinstance(every_opts, Mapping):
                raise ConfigurationError(f"schedule {name!r}: every options must be a mapping")
            unsupported = sorted(set(every_opts) - {"first_at", "last_at"})
            if unsupported:
                raise ConfigurationError(
                    f"schedule {name!r}: every option(s) {unsupported} are not supported "
                    "(ticks must be the same in every scheduler: use first_at / last_at)"
                )
            every_raw = every_raw[0]
        every: int | None = None
        if every_raw is not None:
            seconds = parse_duration(every_raw)
            if seconds != int(seconds):
                raise ConfigurationError(f"schedule {name!r}: every must be whole seconds, not {every_raw!r}")
            every = int(seconds)
        cron = config.get("cron")
        if cron is not None and not isinstance(cron, str):
            raise ConfigurationError(f"schedule {name!r}: cron must be a string")
        args = config.get("args")
        arglist = () if args is None else tuple(args) if isinstance(args, list | tuple) else (args,)
        queue = config.get("queue")
        first = config.get("first_at", every_opts.get("first_at"))
        last = config.get("last_at", every_opts.get("last_at"))
        return cls(
            name=name,
            class_name=cls_name,
            queue=str(queue) if queue is not None else None,
            args=arglist,
            cron=cron,
            every=every,
            description=str(config.get("description") or ""),
            first_at=_epoch(first, "first_at") if first is not None else None,
            last_at=_epoch(last, "last_at") if last is not None else None,
            persist=bool(config.get("persist", False)),
            config=dict(config),
        )

    def to_config(self) -> dict[str, Any]:
        """The config mapping (resque-scheduler's keys) that rebuilds this schedule."""
        if self.config:
            return dict(self.config)
        data: dict[str, Any] = {"class": self.class_name}
        if self.cron is not None:
            data["cron"] = self.cron
        else:
            data["every"] = f"{self.every}s"
        if self.queue is not None:
            data["queue"] = self.queue
        if self.args:
            data["args"] = list(self.args)
        if self.description:
            data["description"] = self.description
        if self.first_at is not None:
            data["first_at"] = self.first_at
        if self.last_at is not None:
            data["last_at"] = self.last_at
        if self.persist:
            data["persist"] = True
        return data

    def unknown_keys(self) -> list[str]:
        """Config keys pyresque does not use (reported so typos are not silent)."""
        return sorted(k for k in self.config if k not in _KNOWN_KEYS)


def _zone(name: str, schedule: str) -> dt.tzinfo:
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"schedule {schedule!r}: unknown time zone {name!r}") from exc


def parse_schedules(data: Mapping[str, Any]) -> list[Schedule]:
    """Schedules from a mapping name -> config (a schedule file's content).

    Raises:
        ConfigurationError: the mapping or one of its schedules is invalid (the
            message names the schedule).
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"a schedule must be a mapping of name -> config, not {type(data).__name__}")
    return [Schedule.from_config(str(name), config) for name, config in data.items()]


def load_schedule_file(path: str | Path) -> list[Schedule]:
    """Schedules from a YAML (``.yml``/``.yaml``), TOML (``.toml``) or JSON file.

    Raises:
        ConfigurationError: unreadable file, unknown extension, or invalid content.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read schedule file {file}: {exc}") from exc
    suffix = file.suffix.lower()
    try:
        if suffix in (".yml", ".yaml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".toml":
            data = _toml().loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigurationError(f"schedule file {file} must end in .yml, .yaml, .toml or .json")
    except ConfigurationError:
        raise
    except Exception as exc:  # yaml/toml/json parse errors have no common base
        raise ConfigurationError(f"cannot parse schedule file {file}: {exc}") from exc
    return parse_schedules(data)


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    import importlib

    try:  # pragma: no cover - Python 3.10
        return importlib.import_module("tomli")
    except ImportError as exc:  # pragma: no cover
        raise ConfigurationError("TOML schedule files need tomli on Python 3.10: pip install tomli") from exc


def iter_names(schedules: list[Schedule]) -> Iterator[str]:
    """The schedules' names (helper for messages)."""
    return (s.name for s in schedules)
