"""The backend interfaces: what pyresque needs from a store, as abstract classes.

The Redis backend (``pyresque.backends.redis``) is the reference implementation and
speaks Resque's wire format; ``pyresque.backends.fake`` runs the same code over
fakeredis. A new backend subclasses these and passes ``tests/contract``.

Values cross this boundary as bytes (already serialized payloads) or as the
dataclasses of ``pyresque.core``; backends never import a job class.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import Step
from pyresque.core.status import JobStatus, StatusInfo

if TYPE_CHECKING:
    from pyresque.core.delayed_item import DelayedMove

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

    @abc.abstractmethod
    def remove(self, job_id: str) -> bool:
        """Stop tracking the job. Returns whether it was tracked."""


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


class WorkerRegistry(abc.ABC):
    """The ``workers`` set and what each worker is doing (read side for clients)."""

    @abc.abstractmethod
    def all(self) -> list[str]:
        """Every registered worker id, sorted."""

    @abc.abstractmethod
    def working(self) -> dict[str, dict[str, Any]]:
        """Worker id -> decoded ``worker:<id>`` record, for workers busy with a job."""

    @abc.abstractmethod
    def heartbeats(self) -> dict[str, str]:
        """Worker id -> last heartbeat as written (ISO-8601)."""

    # write side: used by the worker ---------------------------------------------------
    @abc.abstractmethod
    def register(self, worker_id: str, started: str) -> None:
        """Add the worker to ``workers``, write ``worker:<id>:started`` and a heartbeat."""

    @abc.abstractmethod
    def unregister(self, worker_id: str, nonce: str = "") -> bool:
        """Remove every record of the worker (its lease only if ``nonce`` owns it, or
        whoever owns it when ``nonce`` is empty). Returns ``False`` (and removes nothing)
        while ``worker:<id>`` still holds a job: recover it first."""

    @abc.abstractmethod
    def claim(self, worker_id: str, nonce: str, detail: str, ttl: float) -> str | None:
        """Take or refresh the lease on ``worker_id`` for the process ``nonce`` (value
        ``<nonce>:<detail>``, expires after ``ttl`` seconds unless refreshed). Returns
        ``None`` when the lease is ours, or the value another process holds it with."""

    @abc.abstractmethod
    def drop_lease(self, worker_id: str, expected: str) -> bool:
        """Delete the lease on ``worker_id`` if its value is still ``expected``."""

    @abc.abstractmethod
    def leases(self, worker_ids: Sequence[str]) -> list[str | None]:
        """The lease of each id, ``None`` where no live pyresque process owns it."""

    @abc.abstractmethod
    def scan_records(self, cursor: int, count: int) -> tuple[int, list[tuple[str, bytes]]]:
        """One bounded step over every ``worker:<id>`` job record, registered or not:
        (next cursor, 0 when done; [(worker id, raw record)])."""

    @abc.abstractmethod
    def heartbeat(self, worker_id: str) -> float:
        """Write the worker's heartbeat with the server's clock; returns that time (epoch s)."""

    @abc.abstractmethod
    def server_time(self) -> float:
        """The backend server's clock (epoch seconds)."""

    @abc.abstractmethod
    def reserve(
        self,
        worker_id: str,
        queues: Sequence[str],
        run_at: str,
        *,
        token: str,
        done_job_id: str | None = None,
        done_result: Any = None,
        done_token: str = "",
        finish_previous: bool = False,
        take: bool = True,
    ) -> Step:
        """Atomically pop the first job in ``queues`` (priority order) and record it under
        ``worker:<id>`` with ``token``; with ``finish_previous``, first mark the previous
        job (reserved with ``done_token``) done, as :meth:`done`, in the same step.
        Re-registers a worker missing from ``workers`` when it takes a job. Safe to
        repeat with the same arguments after a lost reply (see :class:`Step`)."""

    @abc.abstractmethod
    def done(self, worker_id: str, job_id: str | None, result: Any = None, *, token: str = "") -> bool:
        """The held job succeeded: clear ``worker:<id>``, count processed, status COMPLETE.
        Only while the record is still the reservation ``token`` (any, when empty);
        returns whether it was."""

    @abc.abstractmethod
    def fail(
        self,
        worker_id: str,
        record: FailureRecord | None,
        job_id: str | None,
        *,
        token: str = "",
        pooled: bool = False,
    ) -> bool:
        """The held job failed: write ``record`` (``None``: a plugin handled it), count
        processed and failed, status FAILED, clear ``worker:<id>``, atomically; only while
        the record is still the reservation ``token`` (any, when empty). Returns whether
        it wrote. ``pooled``: called from a thread other than the worker's loop."""

    @abc.abstractmethod
    def held(self, worker_id: str) -> bytes | None:
        """The raw ``worker:<id>`` record, or ``None`` when the worker is idle."""

    @abc.abstractmethod
    def recover(
        self,
        worker_id: str,
        expected: bytes,
        *,
        mode: str,
        record: FailureRecord | None,
        queue: str,
        payload: bytes,
        job_id: str | None,
    ) -> bool:
        """Release a (dead) worker's job if its record is still ``expected``: ``mode``
        ``"fail"`` writes ``record``, ``"handled"`` only counts, ``"requeue"`` pushes
        ``payload`` back to the front of ``queue``. Returns whether it acted."""

    @abc.abstractmethod
    def acquire_prune_lock(self, owner: str, ttl: int) -> bool:
        """Take ``pruning_dead_workers_in_progress`` (SET NX EX) if nobody holds it."""

    @abc.abstractmethod
    def release_prune_lock(self, owner: str) -> None:
        """Give the pruning lock back if ``owner`` still holds it (so the next worker
        starting can prune at once instead of waiting out the lock's TTL)."""

    @abc.abstractmethod
    def paused_all(self) -> bool:
        """Whether ``pause-all-workers`` says ``true`` (Ruby >= 2.3)."""

    @abc.abstractmethod
    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Block up to ``timeout`` seconds until a job may be waiting in ``queues``
        (returns early when one arrives); never takes a job."""

    def warm_up(self) -> None:  # noqa: B027 - optional, a no-op unless a backend needs it
        """Open this process's connection ahead of its first job (a forked spare child)."""


class DelayedStore(abc.ABC):
    """resque-scheduler's delayed queue, the scheduler's leader lock and its schedules."""

    @abc.abstractmethod
    def schedule(self, timestamp: int, item: bytes) -> None:
        """Add ``item`` (a serialized ``{"class","args","queue"}``) due at ``timestamp``."""

    @abc.abstractmethod
    def count(self) -> int:
        """How many delayed items in all."""

    @abc.abstractmethod
    def timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """The timestamps that hold items, ascending."""

    @abc.abstractmethod
    def items_at(self, timestamp: int, start: int = 0, count: int = -1) -> list[bytes]:
        """The raw items due at ``timestamp`` (positions ``start`` .. ``start+count-1``)."""

    @abc.abstractmethod
    def size_at(self, timestamp: int) -> int:
        """How many items are due at ``timestamp``."""

    @abc.abstractmethod
    def remove(self, item: bytes) -> int:
        """Remove every occurrence of this exact item. Returns how many."""

    @abc.abstractmethod
    def scheduled_at(self, item: bytes) -> list[int]:
        """The timestamps at which this exact item is scheduled."""

    @abc.abstractmethod
    def clear(self) -> int:
        """Drop every delayed item. Returns how many."""

    # promotion -------------------------------------------------------------------------
    @abc.abstractmethod
    def due_timestamps(self, now: int, limit: int = 1) -> list[int]:
        """Up to ``limit`` timestamps ``<= now`` that hold items, oldest first."""

    @abc.abstractmethod
    def promote(self, timestamp: int, moves: Sequence[DelayedMove]) -> list[bool]:
        """Move items of ``timestamp`` to their queue (or the failure store), each atomically.

        An item is moved only if this call removed it from the delayed list, so
        concurrent callers never move one item twice. Drops the timestamp once its
        list is empty. Returns, per move, whether this call moved the item.
        """

    @abc.abstractmethod
    def remove_items(self, timestamp: int, items: Sequence[bytes]) -> int:
        """Remove one copy of each item from ``timestamp``'s list, atomically; tidy.

        Returns how many were removed (an item already gone counts 0).
        """

    @abc.abstractmethod
    def tidy(self, timestamp: int) -> bool:
        """Drop ``timestamp`` from the schedule if it holds no item. Returns whether it did."""

    # leader lock -----------------------------------------------------------------------
    @abc.abstractmethod
    def leader_acquire(self, value: str, ttl: int, lock_prefix: str = "", style: str = "ruby") -> int:
        """Take the scheduler lock, or refresh its TTL if ``value`` holds it; atomic.

        ``style`` picks the key: ``"ruby"`` (resque-scheduler's master lock, with
        ``lock_prefix``) or ``"node"`` (node-resque's leader lock).

        Returns 2 when ``value`` just took the lock, 1 when it refreshed it, 0 when
        someone else holds it.
        """

    @abc.abstractmethod
    def leader_release(self, value: str, lock_prefix: str = "", style: str = "ruby") -> bool:
        """Delete the lock only if ``value`` holds it. Returns whether it did."""

    @abc.abstractmethod
    def leader(self, lock_prefix: str = "", style: str = "ruby") -> tuple[str | None, int]:
        """Who holds the lock (``None``: nobody) and its remaining TTL in seconds."""

    # recurring schedules ---------------------------------------------------------------
    @abc.abstractmethod
    def enqueue_tick(self, name: str, tick: int, queue: str, payload: bytes, enqueued_at: str) -> bool:
        """Push ``payload`` for schedule ``name``'s tick unless that tick or a later one was.

        Atomic: among any number of callers, one tick is pushed at most once.
        ``enqueued_at`` is recorded as resque-scheduler's ``last_enqueued_at``.
        """

    @abc.abstractmethod
    def last_ticks(self) -> dict[str, int]:
        """Schedule name -> the last tick enqueued (epoch seconds)."""

    @abc.abstractmethod
    def recurring_state(self) -> tuple[dict[str, int], dict[str, str]]:
        """:meth:`last_ticks` and resque-scheduler's ``last_enqueued_at`` texts, together."""

    @abc.abstractmethod
    def schedule_configs(self) -> dict[str, bytes]:
        """Persistent (dynamic) schedules: name -> JSON config, resque-scheduler's format."""

    @abc.abstractmethod
    def set_schedule_config(self, name: str, config: bytes) -> None:
        """Store a persistent schedule and flag it as changed."""

    @abc.abstractmethod
    def remove_schedule_config(self, name: str) -> bool:
        """Delete a persistent schedule (flagged as changed). Returns whether it existed."""

    @abc.abstractmethod
    def take_schedules_changed(self) -> list[str]:
        """Names flagged as changed since the last call, clearing the flags."""


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
