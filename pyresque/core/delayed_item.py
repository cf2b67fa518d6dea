"""Delayed items as resque-scheduler writes them, and what promoting one means.

An item is ``{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}``: compact JSON in
that field order, byte for byte what Ruby's resque-scheduler writes, so that
``timestamps:<item>`` keys and ``remove_delayed`` (an LREM of the exact bytes) match
across languages. Items written by node-resque (``class, queue, args``), php-resque
(PHP-wrapped args, ``\\/`` escapes) and pyres (``first_attempt``) are read as well.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from pyresque.core.errors import ConfigurationError, InvalidJobError
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job, validate_queue_name
from pyresque.serializers.json import dumps_text

__all__ = [
    "MAX_TIMESTAMP",
    "TRACE_ITEM_KEYS",
    "checked_timestamp",
    "DelayedItem",
    "DelayedMove",
    "check_encodable",
    "decode_item",
    "delay_seconds",
    "encode_item",
    "item_id",
    "item_job",
    "now_seconds",
    "to_timestamp",
    "valid_queue",
]


def encode_item(
    class_name: str,
    args: Sequence[Any],
    queue: str,
    job_id: str | None = None,
    trace: Mapping[str, str] | None = None,
) -> bytes:
    """The item bytes resque-scheduler writes: ``{"class","args","queue"}``, compact.

    With ``job_id`` (pyresque's id form), ``"id"`` comes last:
    ``{"class","args","queue","id"}``; the job keeps that id in its queue, and the item
    ends with ``,"id":"<id>"}`` (what removal by id looks for). ``trace`` (the id form
    only): ``traceparent``/``tracestate`` keys written between ``queue`` and ``id``, so
    the job carries its trace context to its queue (:data:`TRACE_ITEM_KEYS`).

    Raises:
        EncodeError: an argument cannot be carried by JSON.
    """
    item: dict[str, Any] = {"class": class_name, "args": list(args), "queue": queue}
    if job_id is not None:
        for key in TRACE_ITEM_KEYS:
            value = trace.get(key) if trace is not None else None
            if isinstance(value, str) and len(value) < 1024:
                item[key] = value
        item["id"] = job_id
    return dumps_text(item).encode("utf-8")


def item_id(raw: bytes, ruby_item: bytes) -> str | None:
    """The id of ``raw`` if it is the id form of ``ruby_item`` (the same class, args and
    queue, in pyresque's bytes, plus an id), else ``None``. No JSON parsing."""
    start = len(ruby_item) - 1
    if not (raw.startswith(ruby_item[:-1]) and raw.endswith(b'"}')):
        return None
    head = _ID_HEAD.match(raw, start)  # the trace keys an id-form item may carry, then the id
    if head is None:
        return None
    found = raw[head.end() : -2].decode("utf-8", "replace")
    return found if found and _PLAIN_ID.fullmatch(found) else None


_PLAIN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
#: What may come between an id-form item's ``queue`` and its id.
_ID_HEAD = re.compile(
    rb',(?:"traceparent":"(?:[^"\\]|\\.)*",)?(?:"tracestate":"(?:[^"\\]|\\.)*",)?"id":"'
)
#: The trace context keys an id-form item may carry (W3C, as a queue payload has them).
TRACE_ITEM_KEYS = ("traceparent", "tracestate")


def decode_item(raw: bytes) -> dict[str, Any]:
    """The item as a dict with a string ``class`` and a list ``args`` (``queue`` optional).

    Raises:
        InvalidJobError: not UTF-8 JSON, not an object, no class, or args not a list.
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJobError(f"delayed item is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidJobError(f"delayed item must be a JSON object, not {type(data).__name__}")
    cls = data.get("class")
    if not isinstance(cls, str) or not cls:
        raise InvalidJobError("delayed item has no job class")
    args = data.get("args", [])
    if not isinstance(args, list):
        raise InvalidJobError(f"delayed item args must be a list, not {type(args).__name__}")
    return data


def to_timestamp(when: dt.datetime | float | int) -> int:
    """Epoch seconds (floored, as Ruby's ``Time#to_i``) of a datetime or a Unix time.

    A naive datetime is taken as UTC (not local time, unlike pyres).

    Raises:
        TypeError: ``when`` is neither a datetime nor a number (a bool is refused).
        ValueError: ``when`` is NaN or infinite.
    """
    if isinstance(when, dt.datetime):
        aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.timezone.utc)
        return math.floor(aware.timestamp())
    if isinstance(when, bool) or not isinstance(when, int | float):
        raise TypeError(f"a time must be a datetime or a Unix timestamp, not {type(when).__name__}")
    if isinstance(when, float) and not math.isfinite(when):
        raise ValueError(f"a time must be finite, not {when!r}")
    return math.floor(when)


#: The last second a delayed job can be set for: 9999-12-31T23:59:59Z (Ruby's
#: ``Time.at`` and Python's ``datetime`` both read it; later ones cannot be shown).
MAX_TIMESTAMP = 253_402_300_799


def checked_timestamp(when: dt.datetime | float | int) -> int:
    """The epoch second of ``when`` (see ``to_timestamp``), refused unless finite and
    not after :data:`MAX_TIMESTAMP`.

    Raises:
        TypeError: ``when`` is neither a datetime nor a number.
        ConfigurationError: NaN, infinite, or after year 9999.
    """
    try:
        timestamp = to_timestamp(when)
    except (ValueError, OverflowError) as exc:
        raise ConfigurationError(f"cannot schedule at {when!r}: {exc}") from exc
    if timestamp > MAX_TIMESTAMP:
        raise ConfigurationError(
            f"cannot schedule at {when!r}: the latest time is {MAX_TIMESTAMP} (9999-12-31T23:59:59Z)"
        )
    return timestamp


def delay_seconds(delay: dt.timedelta | float | int) -> float:
    """Seconds of a ``timedelta`` or a number.

    Raises:
        TypeError: not a number or timedelta (a bool is refused).
        ValueError: NaN or infinite.
    """
    if isinstance(delay, dt.timedelta):
        return delay.total_seconds()
    if isinstance(delay, bool) or not isinstance(delay, int | float):
        raise TypeError(f"a delay must be seconds or a timedelta, not {type(delay).__name__}")
    if not math.isfinite(delay):
        raise ValueError(f"a delay must be finite, not {delay!r}")
    return float(delay)


def now_seconds() -> float:
    """The wall clock (one place, so tests can reason about it)."""
    return time.time()


@dataclasses.dataclass(frozen=True, slots=True)
class DelayedItem:
    """One delayed item as read back: when it is due, the job it holds, the raw bytes.

    ``job`` is ``None`` when the bytes are not a readable item (``raw`` keeps them).
    """

    timestamp: int
    job: Job | None
    raw: bytes


def item_job(raw: bytes, default_queue: str = "") -> Job:
    """The :class:`Job` an item describes (its ``id`` if it carries one; other fields in ``extra``).

    Raises:
        InvalidJobError: the bytes are not a delayed item.
    """
    data = decode_item(raw)
    queue = data.get("queue")
    job_id = data.get("id")
    own = ("class", "args", "queue", "id") if isinstance(job_id, str) else ("class", "args", "queue")
    return Job(
        queue=queue if isinstance(queue, str) else default_queue,
        class_name=data["class"],
        args=tuple(data.get("args", [])),
        id=job_id if isinstance(job_id, str) else None,
        extra={k: v for k, v in data.items() if k not in own},
    )


@dataclasses.dataclass(frozen=True, slots=True)
class DelayedMove:
    """How to promote one due item: to a queue (pushed as is) or to the failure store.

    Exactly one of ``queue`` and ``failure`` is set. ``payload`` is what to push to
    the queue; ``None`` pushes the item bytes unchanged. ``position`` is where the
    item was read in its list (0 = head); the store never looks further for it.
    """

    item: bytes
    queue: str | None = None
    failure: FailureRecord | None = None
    payload: bytes | None = None
    position: int = 0

    def __post_init__(self) -> None:
        if (self.queue is None) == (self.failure is None):
            raise ValueError("a DelayedMove needs exactly one of queue and failure")


def valid_queue(value: object) -> str | None:
    """``value`` if it names a usable queue, else ``None``."""
    try:
        return validate_queue_name(value)
    except InvalidJobError:
        return None


def check_encodable(args: Sequence[Any]) -> None:
    """Raise :class:`~pyresque.EncodeError` early when ``args`` cannot be JSON."""
    dumps_text(list(args))
