"""The asyncio backend interfaces: :mod:`pyresque.backends.base`'s client half, awaited.

Each abstract class mirrors its sync twin method for method (same names, same
arguments, same values across the boundary: bytes payloads and the dataclasses of
``pyresque.core``), with ``async def``. Only what a *client* needs is here: pushing,
reading and removing queued jobs, statuses, failures, delayed items, counters and
a read-only view of the workers. The async worker's registry lives with the worker.
The Redis implementation is :mod:`pyresque.backends.redis.aio`; start at
:class:`AsyncBackend`.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pyresque.backends.base import FIND_LIMIT, FIND_PAGE, EnqueueGuard, PushItem
from pyresque.core.errors import BackendError
from pyresque.core.failure import FailureRecord
from pyresque.core.status import JobStatus, StatusInfo

__all__ = [
    "AsyncBackend",
    "AsyncBroker",
    "AsyncDelayedStore",
    "AsyncFailureStore",
    "AsyncStats",
    "AsyncStatusStore",
    "AsyncWorkerView",
]


class AsyncBroker(abc.ABC):
    """Queues (:class:`~pyresque.backends.base.Broker`, awaited)."""

    @abc.abstractmethod
    async def push(self, queue: str, data: bytes, *, track_id: str | None = None) -> None:
        """Append a payload and register the queue (+ the WAITING status); one atomic round trip."""

    @abc.abstractmethod
    async def push_once(
        self, queue: str, data: bytes, guard: EnqueueGuard, *, track_id: str | None = None
    ) -> str:
        """:meth:`push` unless ``guard.key`` is taken; returns the marker holding the key."""

    @abc.abstractmethod
    async def push_many(self, items: Sequence[PushItem]) -> list[str | None]:
        """Push many payloads in one round trip per chunk; per item, the marker (or ``None``)."""

    @abc.abstractmethod
    async def queues(self) -> list[str]:
        """Every known queue name, sorted."""

    @abc.abstractmethod
    async def size(self, queue: str) -> int:
        """How many jobs wait in ``queue``."""

    @abc.abstractmethod
    async def sizes(self, queues: Sequence[str]) -> dict[str, int]:
        """Sizes of several queues in one round trip."""

    @abc.abstractmethod
    async def peek(self, queue: str, start: int = 0, count: int = 1) -> list[bytes]:
        """Up to ``count`` payloads from ``start`` (``count=-1``: all)."""

    @abc.abstractmethod
    async def remove_values(self, queue: str, values: Sequence[bytes]) -> list[bool]:
        """Remove one occurrence of each exact payload (atomic per value); per value, whether it was."""

    @abc.abstractmethod
    async def clear(self, queue: str) -> int:
        """Remove every job from ``queue`` (the queue stays known). Returns how many."""

    @abc.abstractmethod
    async def remove_queue(self, queue: str) -> int:
        """Forget ``queue`` and drop its jobs. Returns how many jobs were dropped."""


class AsyncStatusStore(abc.ABC):
    """php-resque job statuses (:class:`~pyresque.backends.base.StatusStore`, awaited)."""

    @abc.abstractmethod
    async def create(self, job_id: str) -> None:
        """Start tracking ``job_id`` as WAITING."""

    @abc.abstractmethod
    async def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """Set the status if the job is tracked; returns whether it was."""

    @abc.abstractmethod
    async def get(self, job_id: str) -> StatusInfo | None:
        """The job's status, or ``None`` when it is not tracked (or expired)."""

    @abc.abstractmethod
    async def remove(self, job_id: str) -> bool:
        """Stop tracking the job. Returns whether it was tracked."""

    async def set_progress(
        self, job_id: str, num: float | None, total: float | None, message: str | None
    ) -> bool:
        """Write a RUNNING job's progress (``num``, ``total``, ``message``); whether written."""
        raise NotImplementedError(f"{type(self).__name__} cannot store progress")

    async def wait(self, job_id: str, timeout: float) -> StatusInfo | None:
        """Wait (on the store, not in a sleep loop) until the job's status is final or
        ``timeout`` seconds passed; the status then: final, not yet final (timed out),
        or ``None`` (not tracked). Several waiters on one job all wake."""
        raise NotImplementedError(f"{type(self).__name__} cannot wait for a status")


class AsyncFailureStore(abc.ABC):
    """Failed jobs, with Ruby Resque's management semantics (awaited)."""

    @abc.abstractmethod
    async def save(self, record: FailureRecord) -> None:
        """Record a failure."""

    @abc.abstractmethod
    async def count(self, queue: str | None = None) -> int:
        """How many failures (of ``queue``'s jobs, when given)."""

    @abc.abstractmethod
    async def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """Failures ``start`` .. ``start+count-1`` (oldest first); unreadable ones included."""

    async def find(self, job_id: str, *, limit: int | None = FIND_LIMIT) -> list[tuple[int, FailureRecord]]:
        """The failures of the job with this id as ``(index, record)``, oldest first; reads
        only the ``limit`` most recent entries, newest first, in pages of ``FIND_PAGE``."""
        total = await self.count()
        floor = 0 if limit is None else max(0, total - max(0, limit))
        found: list[tuple[int, FailureRecord]] = []
        stop = total
        while stop > floor:
            start = max(floor, stop - FIND_PAGE)
            page = await self.all(start, stop - start)
            found.extend((start + i, r) for i, r in enumerate(page) if r.payload.get("id") == job_id)
            stop = start
        return sorted(found, key=lambda pair: pair[0])

    @abc.abstractmethod
    async def requeue(self, index: int, queue: str | None = None) -> None:
        """Push failure ``index``'s payload back to its queue (or ``queue``); the entry
        stays and gains ``retried_at``.

        Raises:
            FailureNotFound: no entry at ``index``, or it changed concurrently.
        """

    @abc.abstractmethod
    async def remove(self, index: int) -> None:
        """Delete failure ``index``.

        Raises:
            FailureNotFound: no entry at ``index``.
        """

    @abc.abstractmethod
    async def clear(self) -> int:
        """Delete every failure. Returns how many there were."""

    @abc.abstractmethod
    async def requeue_all(self) -> int:
        """Requeue every failure (entries stay, marked retried). Returns how many."""

    @abc.abstractmethod
    async def requeue_queue(self, queue: str) -> int:
        """Requeue the failures of jobs from ``queue``. Returns how many."""

    @abc.abstractmethod
    async def remove_queue(self, queue: str) -> int:
        """Delete the failures of jobs from ``queue``. Returns how many."""

    @abc.abstractmethod
    async def clear_retried(self) -> int:
        """Delete the failures that were already requeued. Returns how many."""


class AsyncDelayedStore(abc.ABC):
    """resque-scheduler's delayed queue, the client's half (awaited)."""

    @abc.abstractmethod
    async def schedule(
        self, timestamp: int, item: bytes, *, job_id: str | None = None, track: bool = False
    ) -> bool | None:
        """Add ``item`` (a serialized delayed item) due at ``timestamp``; with ``job_id``
        index it for :meth:`remove_by_id`, with ``track`` also create its WAITING status,
        atomically. Returns whether a scheduler holds the leader lock (``None``: unknown)."""

    @abc.abstractmethod
    async def remove_by_id(self, job_id: str) -> int:
        """Remove the delayed item carrying ``job_id`` (and its WAITING status); how many."""

    @abc.abstractmethod
    async def remove_items(self, timestamp: int, items: Sequence[bytes]) -> int:
        """Remove one copy of each item from ``timestamp``'s list, atomically; how many."""

    async def iter_items(self, batch: int = 500) -> AsyncIterator[tuple[int, list[bytes]]]:
        """Every ``(timestamp, raw items)`` in due order (this default: one timestamp
        per round trip)."""
        for ts in await self.timestamps():
            yield ts, await self.items_at(ts)

    @abc.abstractmethod
    async def count(self) -> int:
        """How many delayed items in all."""

    @abc.abstractmethod
    async def timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """The timestamps that hold items, ascending."""

    @abc.abstractmethod
    async def items_at(self, timestamp: int, start: int = 0, count: int = -1) -> list[bytes]:
        """The raw items due at ``timestamp``."""

    @abc.abstractmethod
    async def size_at(self, timestamp: int) -> int:
        """How many items are due at ``timestamp``."""

    @abc.abstractmethod
    async def remove(self, item: bytes) -> int:
        """Remove every occurrence of this exact item. Returns how many."""

    @abc.abstractmethod
    async def scheduled_at(self, item: bytes) -> list[int]:
        """The timestamps at which this exact item is scheduled."""

    @abc.abstractmethod
    async def clear(self) -> int:
        """Drop every delayed item. Returns how many."""


class AsyncStats(abc.ABC):
    """Counters (``stat:processed`` ...), awaited."""

    @abc.abstractmethod
    async def get(self, name: str) -> int:
        """The counter's value (0 when unset)."""


class AsyncWorkerView(abc.ABC):
    """The registered workers, read-only (what ``info`` shows)."""

    @abc.abstractmethod
    async def all(self) -> list[str]:
        """Every registered worker id, sorted."""

    @abc.abstractmethod
    async def working(self) -> dict[str, dict[str, Any]]:
        """Worker id -> the record of the job it runs, for busy workers."""


class AsyncBackend(abc.ABC):
    """A bundle of the async stores one app uses, over one connection pool."""

    #: Exceptions that mean "the connection failed".
    connection_errors: tuple[type[BaseException], ...] = ()
    #: Where failures go when that is not the store :attr:`failures` reads (the twin of
    #: a sync backend whose failures go to another store), else ``None``.
    failures_elsewhere: str | None = None

    broker: AsyncBroker
    statuses: AsyncStatusStore
    failures: AsyncFailureStore
    delayed: AsyncDelayedStore
    stats: AsyncStats
    workers: AsyncWorkerView

    @abc.abstractmethod
    async def ping(self) -> None:
        """Check the backend is reachable.

        Raises:
            BackendConnectionError: it is not (the message names the server).
            BackendError: a permanent problem (a refused password ...).
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the backend points, safe to log (no password)."""

    def permanent_error(self, exc: BaseException) -> BackendError | None:
        """A one-line error for a failure that retrying cannot mend, else ``None``."""
        return None
