"""The time formats Resque writes on the wire, and a lenient reader for them all.

- ``failed_at`` / ``retried_at``: Ruby ``%Y/%m/%d %H:%M:%S %Z`` (``2026/11/23 17:23:27 UTC``).
- ``run_at`` of ``worker:<id>``: UTC ISO-8601 with ``Z`` (``2026-11-23T17:23:27Z``).
- ``worker:<id>:started``: Ruby ``Time#to_s`` (``2026-11-23 17:23:27 +0000``).
- ``workers:heartbeat`` values: ISO-8601 with offset (``2026-11-23T17:23:27+00:00``).
"""

from __future__ import annotations

import datetime as dt
import email.utils

__all__ = [
    "heartbeat_time",
    "parse_any",
    "ruby_failed_at",
    "ruby_time_to_s",
    "utc_iso_z",
]

_UTC = dt.timezone.utc


def _utc(when: dt.datetime | float | None) -> dt.datetime:
    if when is None:
        return dt.datetime.now(_UTC)
    if isinstance(when, int | float):
        return dt.datetime.fromtimestamp(when, _UTC)
    if when.tzinfo is None:
        return when.replace(tzinfo=_UTC)
    return when.astimezone(_UTC)


def ruby_failed_at(when: dt.datetime | float | None = None) -> str:
    """``2026/11/23 17:23:27 UTC``: Ruby Resque's ``failed_at``, always in UTC."""
    return _utc(when).strftime("%Y/%m/%d %H:%M:%S UTC")


def utc_iso_z(when: dt.datetime | float | None = None) -> str:
    """``2026-11-23T17:23:27Z``: Ruby's ``Time.now.utc.iso8601`` (``run_at``)."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%SZ")


def ruby_time_to_s(when: dt.datetime | float | None = None) -> str:
    """``2026-11-23 17:23:27 +0000``: Ruby's ``Time#to_s`` (``worker:<id>:started``)."""
    return _utc(when).strftime("%Y-%m-%d %H:%M:%S +0000")


def heartbeat_time(when: dt.datetime | float | None = None) -> str:
    """``2026-11-23T17:23:27+00:00``: Ruby's ``Time#iso8601`` with an offset (heartbeats)."""
    return _utc(when).strftime("%Y-%m-%dT%H:%M:%S+00:00")


_FORMATS = (
    "%Y/%m/%d %H:%M:%S %Z",  # Ruby failed_at
    "%Y/%m/%d %H:%M:%S",  # Ruby RedisMultiQueue retried_at, pyres
    "%Y-%m-%d %H:%M:%S %z",  # Ruby Time#to_s
    "%a %b %d %H:%M:%S %Z %Y",  # php-resque (chrisboulton)
)


def parse_any(text: str | float | int | None) -> dt.datetime | None:
    """Parse any timestamp the Resque family writes; ``None`` when it cannot.

    Accepts every format above, PHP ``date('c')``, node's ``Date#toString``
    (``Mon Nov 23 2026 17:23:37 GMT+0000 (...)``) and epoch seconds. Naive
    results are taken as UTC.
    """
    if text is None:
        return None
    if isinstance(text, int | float):
        return dt.datetime.fromtimestamp(float(text), _UTC)
    value = text.strip()
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(float(value), _UTC)
    except ValueError:
        pass
    try:
        return _utc(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return _utc(dt.datetime.strptime(value, fmt))
        except ValueError:
            continue
    if " GMT" in value:  # node: "Mon Nov 23 2026 17:23:37 GMT+0000 (Coordinated Universal Time)"
        head = value.split(" (", 1)[0]
        try:
            return dt.datetime.strptime(head, "%a %b %d %Y %H:%M:%S GMT%z").astimezone(_UTC)
        except ValueError:
            pass
    try:
        return _utc(email.utils.parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None
