"""Job status tracking in php-resque's format.

``job:<id>:status`` holds ``{"status":N,"updated":<epoch>,"started":<epoch>,"result":...}``
(the resque/php-resque shape; chrisboulton's readers ignore ``result``). Statuses are
written only for jobs enqueued with ``track_status=True``: every update is a no-op
when the key does not exist, and finished statuses expire after 24 hours.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from typing import Any

__all__ = ["STATUS_TTL", "JobStatus", "StatusInfo"]

#: Seconds a finished (failed or complete) status is kept, as php-resque.
STATUS_TTL = 86400


class JobStatus(enum.IntEnum):
    """php-resque's status numbers."""

    WAITING = 1
    RUNNING = 2
    FAILED = 3
    COMPLETE = 4

    @property
    def finished(self) -> bool:
        """Whether the job is done, one way or the other."""
        return self in (JobStatus.FAILED, JobStatus.COMPLETE)


@dataclasses.dataclass(frozen=True, slots=True)
class StatusInfo:
    """A tracked job's status as read back.

    Attributes:
        status: the state.
        updated: when the status was last written.
        started: when tracking began (php-resque sets it at enqueue), if known.
        result: what ``perform`` returned, for complete jobs (JSON-able), else ``None``.
        scheduled_at: for a delayed job not yet moved to its queue (WAITING), when it is
            due (pyresque's ``scheduled_at`` field).
        num, total, message: the progress a running job reported (resque-status's
            names; ``None`` when it reported none). Final statuses carry no progress.
    """

    status: JobStatus
    updated: dt.datetime
    started: dt.datetime | None = None
    result: Any = None
    scheduled_at: dt.datetime | None = None
    num: float | None = None
    total: float | None = None
    message: str | None = None

    @property
    def percent(self) -> float | None:
        """``100 * num / total`` when both are known and ``total`` is positive, else ``None``."""
        if self.num is None or not self.total or self.total <= 0:
            return None
        return 100.0 * self.num / self.total

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusInfo:
        """Read php-resque's status JSON (either fork's shape, pyresque's extra fields).

        Raises:
            ValueError, TypeError, KeyError: the dict is not a status.
        """
        message = data.get("message")
        return cls(
            status=JobStatus(int(data["status"])),
            updated=dt.datetime.fromtimestamp(float(data.get("updated", 0)), dt.timezone.utc),
            started=_time(data.get("started")),
            result=data.get("result"),
            scheduled_at=_time(data.get("scheduled_at")),
            num=_number(data.get("num")),
            total=_number(data.get("total")),
            message=message if isinstance(message, str) else None,
        )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _time(value: object) -> dt.datetime | None:
    number = _number(value)
    if number is None:
        return None
    try:
        return dt.datetime.fromtimestamp(float(number), dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
