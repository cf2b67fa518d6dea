"""Resque's overview numbers (``Resque.info``): :class:`Info` and :func:`overview`."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyresque.backends.base import Backend

__all__ = ["Info", "overview"]


@dataclasses.dataclass(frozen=True, slots=True)
class Info:
    """Resque's overview numbers (``Resque.info``), as resque-web shows them.

    Attributes:
        pending: jobs waiting in all queues.
        processed: jobs finished (``stat:processed``).
        failed: entries in the failure store (Ruby counts ``LLEN failed``).
        queues: number of known queues.
        workers: registered workers.
        working: workers busy with a job.
        servers: where the backend points (no password).
    """

    pending: int
    processed: int
    failed: int
    queues: int
    workers: int
    working: int
    servers: list[str]


def overview(backend: Backend) -> Info:
    """The numbers of :class:`Info`, read from ``backend`` (4 to 6 round trips)."""
    names = backend.broker.queues()
    sizes = backend.broker.sizes(names) if names else {}
    workers = backend.workers.all()
    working = backend.workers.working() if workers else {}
    return Info(
        pending=sum(sizes.values()),
        processed=backend.stats.get("processed"),
        failed=backend.failures.count(),
        queues=len(names),
        workers=len(workers),
        working=len(working),
        servers=[backend.describe()],
    )
