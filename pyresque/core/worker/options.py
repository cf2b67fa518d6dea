"""How a worker runs: :class:`WorkerOptions` and the execution modes (``MODES``)."""

from __future__ import annotations

import dataclasses

__all__ = ["MODES", "WorkerOptions"]

#: The execution modes: a child per job, a child per N jobs, in the worker process, or
#: ``concurrency`` jobs at once on an event loop (:mod:`pyresque.core.worker.aio`).
MODES = ("fork", "fork-every", "inprocess", "async")


@dataclasses.dataclass(slots=True)
class WorkerOptions:
    """How a worker runs.

    Attributes:
        mode: ``"fork"`` (a child per job), ``"fork-every"`` (a child runs up to
            ``jobs_per_child`` jobs) or ``"inprocess"``.
        jobs_per_child: jobs a child runs before it is replaced (``fork-every``).
        interval: longest idle wait, seconds, before polling again (``INTERVAL``).
        timeout: default job timeout in seconds (a job's ``timeout`` attribute wins).
        burst: stop when every queue is empty.
        graceful_term: seconds ``TERM`` lets the running job finish before it is
            stopped and requeued (``None``: ``TERM`` stops it now, Resque's way).
        term_timeout: seconds between ``SIGTERM`` and ``SIGKILL`` to a child.
        heartbeat_interval: seconds between heartbeats (Ruby: 60).
        prune_interval: a heartbeat older than this (seconds) marks a dead worker (300).
        recover: what happens to a dead worker's job: ``"fail"`` (Resque) or ``"requeue"``.
        max_jobs: stop after this many jobs (``None``: no limit).
        concurrency: jobs at once in ``"async"`` mode (``--concurrency``).
    """

    mode: str = "fork"
    jobs_per_child: int = 100
    interval: float = 5.0
    timeout: float | None = None
    burst: bool = False
    graceful_term: float | None = None
    term_timeout: float = 4.0
    heartbeat_interval: float = 60.0
    prune_interval: float = 300.0
    recover: str = "fail"
    max_jobs: int | None = None
    concurrency: int = 10
