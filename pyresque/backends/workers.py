"""The interface of the worker registry: ``workers``, ``worker:<id>`` and what each
worker holds, with the steps a worker takes on them (reserve, done, fail, recover,
claim its id). The Redis implementation is :mod:`pyresque.backends.redis.workers`;
what a repeat of each step after a lost reply does is written beside its script in
:mod:`pyresque.backends.redis.worker_scripts`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import Step

__all__ = ["WorkerRegistry"]


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
