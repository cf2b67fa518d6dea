"""What a worker's backend hands back when it reserves a job."""

from __future__ import annotations

import dataclasses

__all__ = ["Held", "Reservation"]


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    """A job taken from ``queue`` and recorded under the worker, atomically.

    Attributes:
        queue: the queue it came from.
        payload: the raw payload bytes exactly as they were queued.
    """

    queue: str
    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """The worker's record still holds an unfinished job, so nothing was reserved.

    Attributes:
        record: the raw ``worker:<id>`` value (JSON with ``queue``, ``run_at``, ``payload``).
    """

    record: bytes
