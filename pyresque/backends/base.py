"""The backend interfaces: what pyresque needs from a store, as abstract classes.

The Redis backend (``pyresque.backends.redis``) is the reference implementation and
speaks Resque's wire format; ``pyresque.backends.fake`` runs the same code over
fakeredis. A new backend subclasses these and passes ``tests/contract``.

Values cross this boundary as bytes (already serialized payloads) or as the
dataclasses of ``pyresque.core``; backends never import a job class. The worker
registry's and the delayed store's interfaces have modules of their own
(:mod:`pyresque.backends.workers`, :mod:`pyresque.backends.delayed`), re-exported here.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import Any

from pyresque.backends.delayed import DelayedStore
from pyresque.backends.workers import WorkerRegistry
from pyresque.core.errors import BackendError
from pyresque.core.failure import FailureRecord
from pyresque.core.status import JobStatus, StatusInfo

__all__ = [
    "Backend",
    "Broker",
    "DelayedStore",
    "EnqueueGuard",
    "FailureStore",
    "PushItem",
    "Stats",
    "StatusStore",
    "WorkerRegistry",
]


@dataclasses.dataclass(frozen=True, slots=True)
class EnqueueGuard:
    """What makes a push idempotent: the idempotency ``key``, the ``marker`` value that
    takes it, and how long the key stays taken (``ttl`` seconds).

    A backend stores the marker under the key (pyresque-only; other Resque
    implementations never read it) in the same atomic step as the push, and only if
    the key is free; a repeat while it is taken pushes nothing.
    """

    key: str
    marker: str
    ttl: int


@dataclasses.dataclass(frozen=True, slots=True)
class PushItem:
    """One job to push: its queue, its serialized payload, its id if tracked, and its
    guard if the push is idempotent."""

    queue: str
    data: bytes
    track_id: str | None = None
    guard: EnqueueGuard | None = None


class Broker(abc.ABC):
    """Queues: push, inspect and remove jobs."""

    @abc.abstractmethod
    def push(self, queue: str, data: bytes, *, track_id: str | None = None) -> None:
        """Append a payload to ``queue`` and register the queue; one atomic round trip.

        With ``track_id``, also create the job's WAITING status in the same step.
        """

    @abc.abstractmethod
    def push_once(self, queue: str, data: bytes, guard: EnqueueGuard, *, track_id: str | None = None) -> str:
        """:meth:`push`, unless ``guard.key`` is taken; one atomic round trip.

        If the key is free: take it with ``guard.marker`` for ``guard.ttl`` seconds,
        push, create the status (with ``track_id``), and return ``guard.marker``. If it
        is taken: write nothing and return the marker that holds it. So a repeat after
        a lost reply is a no-op that returns the same marker.
        """

    @abc.abstractmethod
    def push_many(self, items: Sequence[PushItem]) -> list[str | None]:
        """Push many payloads in one round trip (per chunk), in order.

        Items with a ``guard`` are pushed as :meth:`push_once` (each atomic on its own).
        Returns, per item, the marker holding its key (``None`` for unguarded items).
        """

    @abc.abstractmethod
    def queues(self) -> list[str]:
        """Every known queue name, sorted."""

    @abc.abstractmethod
    def size(self, queue: str) -> int:
        """How many jobs wait in ``queue``."""

    @abc.abstractmethod
    def sizes(self, queues: Sequence[str]) -> dict[str, int]:
        """Sizes of several queues in one round trip."""

    @abc.abstractmethod
    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[bytes]:
        """Up to ``count`` payloads from ``start`` (0 = next to run; ``count=-1``: all)."""

    @abc.abstractmethod
    def remove_values(self, queue: str, values: Sequence[bytes]) -> list[bool]:
        """Remove one occurrence of each exact payload; atomic per value.

        Returns, per value, whether it was removed (a worker may have popped it first).
        """

    @abc.abstractmethod
    def clear(self, queue: str) -> int:
        """Remove every job from ``queue`` (the queue stays known). Returns how many."""

    @abc.abstractmethod
    def remove_queue(self, queue: str) -> int:
        """Forget ``queue`` and drop its jobs. Returns how many jobs were dropped."""

    def unregister_empty(self, queues: Sequence[str]) -> list[str]:
        """Forget those of ``queues`` that hold no job; returns the names forgotten.

        Atomic per queue (the emptiness check and the unregistering are one step), so
        a job pushed at the same instant is never left in an unregistered queue by a
        writer that registers and pushes atomically.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot unregister empty queues")

    def register_nonempty(self, queues: Sequence[str]) -> list[str]:
        """Register again those of ``queues`` that hold jobs but are not registered
        (a writer pushed between its own register and push); returns their names."""
        raise NotImplementedError(f"{type(self).__name__} cannot register queues")


class StatusStore(abc.ABC):
    """php-resque job statuses (``job:<id>:status``)."""

    @abc.abstractmethod
    def create(self, job_id: str) -> None:
        """Start tracking ``job_id`` as WAITING."""

    @abc.abstractmethod
    def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """Set the status if the job is tracked; finished ones expire in 24 h.

        Returns whether the job was tracked (an untracked job is never written).
        """

    @abc.abstractmethod
    def get(self, job_id: str) -> StatusInfo | None:
        """The job's status, or ``None`` when it is not tracked (or expired)."""

    def wait(self, job_id: str, timeout: float) -> StatusInfo | None:
        """Block (on the store, not in a sleep loop) until the job's status is final or
        ``timeout`` seconds passed; the status then: final, not yet final (timed out),
        or ``None`` (not tracked). Several waiters on one job all wake."""
        raise NotImplementedError(f"{type(self).__name__} cannot wait for a status")

    def set_progress(self, job_id: str, num: float | None, total: float | None, message: str | None) -> bool:
        """Write a RUNNING job's progress into its status (resque-status's ``num``,
        ``total``, ``message``). Returns whether it was written: the job is tracked and
        running (a finished status is never overwritten)."""
        raise NotImplementedError(f"{type(self).__name__} cannot store progress")

    @abc.abstractmethod
    def remove(self, job_id: str) -> bool:
        """Stop tracking the job. Returns whether it was tracked."""


#: How many of the most recent failures :meth:`FailureStore.find` reads by default.
FIND_LIMIT = 10_000
#: How many failures :meth:`FailureStore.find` reads per round trip.
FIND_PAGE = 1_000


class FailureStore(abc.ABC):
    """Failed jobs, with Ruby Resque's management semantics."""

    @abc.abstractmethod
    def save(self, record: FailureRecord) -> None:
        """Record a failure."""

    @abc.abstractmethod
    def count(self, queue: str | None = None) -> int:
        """How many failures (of ``queue``'s jobs, when given)."""

    @abc.abstractmethod
    def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """Failures ``start`` .. ``start+count-1`` (oldest first); unreadable ones included."""

    def find(self, job_id: str, *, limit: int | None = FIND_LIMIT) -> list[tuple[int, FailureRecord]]:
        """The failures of the job with this id, as ``(index, record)``, oldest first.

        A job has one record per failed run that was recorded (a job requeued and
        failed again has two). The scan is bounded: only the ``limit`` most recent
        entries (:data:`FIND_LIMIT` by default; ``None``: every entry) are read, newest
        first, in pages of :data:`FIND_PAGE`: at most ``limit`` entries read, in
        ``1 + limit / FIND_PAGE`` round trips. Indexes are those of :meth:`requeue`
        and :meth:`remove` at the time of the scan (a concurrent removal shifts them).
        """
        total = self.count()
        floor = 0 if limit is None else max(0, total - max(0, limit))
        found: list[tuple[int, FailureRecord]] = []
        stop = total
        while stop > floor:
            start = max(floor, stop - FIND_PAGE)
            page = self.all(start, stop - start)
            found.extend((start + i, r) for i, r in enumerate(page) if r.payload.get("id") == job_id)
            stop = start
        return sorted(found, key=lambda pair: pair[0])

    @abc.abstractmethod
    def requeue(self, index: int, queue: str | None = None) -> None:
        """Push failure ``index``'s payload back to its queue (or ``queue``).

        The entry stays and gains ``retried_at``, as Ruby Resque does.

        Raises:
            FailureNotFound: no entry at ``index``, or it changed concurrently.
        """

    @abc.abstractmethod
    def remove(self, index: int) -> None:
        """Delete failure ``index``.

        Raises:
            FailureNotFound: no entry at ``index``.
        """

    @abc.abstractmethod
    def clear(self) -> int:
        """Delete every failure. Returns how many there were."""

    @abc.abstractmethod
    def requeue_all(self) -> int:
        """Requeue every failure (entries stay, marked retried). Returns how many."""

    @abc.abstractmethod
    def requeue_queue(self, queue: str) -> int:
        """Requeue the failures of jobs from ``queue``. Returns how many."""

    @abc.abstractmethod
    def remove_queue(self, queue: str) -> int:
        """Delete the failures of jobs from ``queue``. Returns how many."""

    @abc.abstractmethod
    def clear_retried(self) -> int:
        """Delete the failures that were already requeued. Returns how many."""


class Stats(abc.ABC):
    """Counters: ``stat:processed``, ``stat:failed`` and per-worker ones."""

    @abc.abstractmethod
    def get(self, name: str) -> int:
        """The counter's value (0 when unset)."""

    @abc.abstractmethod
    def incr(self, name: str, by: int = 1) -> int:
        """Add ``by`` and return the new value."""

    @abc.abstractmethod
    def clear(self, name: str) -> None:
        """Delete the counter."""


class Backend(abc.ABC):
    """A bundle of the stores one app uses, sharing one connection."""

    #: Exceptions that mean "the connection failed" (the worker retries on these).
    connection_errors: tuple[type[BaseException], ...] = ()
    #: Whether the data lives inside this process (fakeredis): a forked child's writes
    #: would be lost, so only an in-process worker can use such a backend.
    process_local: bool = False

    broker: Broker
    statuses: StatusStore
    failures: FailureStore
    stats: Stats
    workers: WorkerRegistry
    delayed: DelayedStore

    @abc.abstractmethod
    def ping(self) -> None:
        """Check the backend is reachable.

        Raises:
            BackendConnectionError: it is not (the message names the server).
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Where the backend points, safe to log (no password)."""

    def permanent_error(self, exc: BaseException) -> BackendError | None:
        """A one-line error for a failure that retrying cannot mend (a refused password,
        no such database, a server of another kind), else ``None`` (retry it)."""
        return None
