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
    """

    status: JobStatus
    updated: dt.datetime
    started: dt.datetime | None = None
    result: Any = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StatusInfo:
        """Read php-resque's status JSON (either fork's shape)."""
        started = data.get("started")
        return cls(
            status=JobStatus(int(data["status"])),
            updated=dt.datetime.fromtimestamp(float(data.get("updated", 0)), dt.timezone.utc),
            started=(
                dt.datetime.fromtimestamp(float(started), dt.timezone.utc)
                if isinstance(started, int | float)
                else None
            ),
            result=data.get("result"),
        )
