"""Prometheus metrics of pyresque workers and clients, as a plugin (``pyresque[metrics]``).

Start with :class:`PrometheusMetrics`: register it on the app (``Resque(...,
plugins=[PrometheusMetrics()])``) and it counts, through the hooks:

- ``resque_jobs_processed_total{queue,class,outcome}`` (``outcome``: ``success``,
  ``failure`` or ``skipped``: a ``before_perform`` hook or ``set_up`` raised
  ``DontPerform``), ``resque_jobs_retried_total``, ``resque_jobs_recovered_total{queue}``
  (jobs of dead workers released by pruning, requeued or failed, each counted once),
  ``resque_jobs_in_progress``, ``resque_job_duration_seconds{queue,class}``
  (histogram), ``resque_job_wait_seconds{queue}`` (enqueue to start, from the
  payload's ``queue_time``) in the worker, timed around the job by the cheap
  ``pyresque_job_started`` hook (no pluggy wrapper);
- ``resque_jobs_enqueued_total{queue,class}`` in the client.

Forked children (``fork``, ``fork-every`` modes, ``COUNT``) count through
prometheus-client's multiprocess mode: give a directory (:class:`MetricsDirectory`
makes and removes one) and every process writes its samples to a memory-mapped file
there, so a child's counts outlive it; the directory holds two files of each kind per
worker process however many jobs it forks (:mod:`pyresque.observability.multiprocess`).
:func:`multiprocess_registry` reads the directory for a scrape; :func:`serve` exposes
it over HTTP (both re-exported here).

No worker id, pid or argument label exists; class and queue labels are bounded by
:class:`~pyresque.observability.labels.ClassLabels`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pyresque.core.errors import DirtyExit, DontPerform, JobTimeoutError, UnknownJobClass, WorkerLost
from pyresque.hooks import hookimpl
from pyresque.observability.labels import UNKNOWN, ClassLabels
from pyresque.observability.multiprocess import (
    MetricsDirectory,
    _Identity,
    disable_multiprocess,
    enable_multiprocess,
    multiprocess_registry,
    serve,
)

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

log = logging.getLogger(__name__)

__all__ = [
    "DURATION_BUCKETS",
    "WAIT_BUCKETS",
    "MetricsDirectory",
    "PrometheusMetrics",
    "disable_multiprocess",
    "enable_multiprocess",
    "multiprocess_registry",
    "serve",
]

#: Buckets of ``resque_job_duration_seconds`` (10 ms to an hour).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
#: Buckets of ``resque_job_wait_seconds`` (10 ms to a day).
WAIT_BUCKETS = (0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
#: A ``queue_time`` further from now than this is not a wait (a clock gone wrong, or a lie).
_MAX_WAIT = 365 * 86400.0


# -- the plugin --------------------------------------------------------------------------
class PrometheusMetrics:
    """The metrics plugin (see the module docstring for what it counts).

    Args:
        registry: where the metrics are registered in single-process use (a fresh
            private registry by default, so two apps never clash; pass
            ``prometheus_client.REGISTRY`` to serve them with your other metrics).
            Ignored in multiprocess mode: scrape :func:`multiprocess_registry`.
        multiprocess_dir: a directory for multiprocess mode (needed for the ``fork``
            and ``fork-every`` modes and ``COUNT``, where jobs run in children);
            ``None``: single-process, right for ``inprocess`` and ``async`` workers and
            for clients.
        class_limit: distinct ``class`` (and ``queue``) label values kept; further
            ones read ``other``.

    Attributes:
        registry: the registry holding the metrics (``None`` in multiprocess mode).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        multiprocess_dir: str | None = None,
        class_limit: int = 200,
    ) -> None:
        self.multiprocess = multiprocess_dir is not None
        if multiprocess_dir is not None:
            enable_multiprocess(multiprocess_dir)
            self.registry: CollectorRegistry | None = None
        else:
            self.registry = registry if registry is not None else CollectorRegistry()
        reg: Any = self.registry
        self.classes = ClassLabels(class_limit)
        self.queues = ClassLabels(class_limit)
        self.processed = Counter(
            "resque_jobs_processed", "Jobs run to an end, by outcome", ["queue", "class", "outcome"],
            registry=reg,
        )
        self.retried = Counter(
            "resque_jobs_retried", "Failed runs the retry plugin re-scheduled", registry=reg
        )
        self.recovered = Counter(
            "resque_jobs_recovered", "Jobs of dead workers released by pruning", ["queue"], registry=reg
        )
        self.in_progress = Gauge(
            "resque_jobs_in_progress", "Jobs running now", registry=reg, multiprocess_mode="livesum"
        )
        self.duration = Histogram(
            "resque_job_duration_seconds", "Time a job took to run (its perform hooks included)",
            ["queue", "class"], buckets=DURATION_BUCKETS, registry=reg,
        )
        self.wait = Histogram(
            "resque_job_wait_seconds", "Time from enqueue (queue_time) to start", ["queue"],
            buckets=WAIT_BUCKETS, registry=reg,
        )
        self._cache: dict[tuple[str, str], tuple[Any, Any, Any]] = {}
        self.enqueued = Counter(
            "resque_jobs_enqueued", "Jobs enqueued by this client", ["queue", "class"], registry=reg
        )

    # client ---------------------------------------------------------------------------
    @hookimpl
    def pyresque_after_enqueue(self, job: Job) -> None:
        """Count the enqueue."""
        self.enqueued.labels(self.queues(job.queue), self.classes(job.class_name)).inc()

    # worker ---------------------------------------------------------------------------
    @hookimpl
    def pyresque_before_first_fork(self, worker: Worker) -> None:
        """This process is a worker: its forked children write its ``<pid>c`` file.
        Without a directory, a forking worker's children count in vain: a WARNING says so."""
        if self.multiprocess:
            _Identity.owner = os.getpid()
        elif getattr(getattr(worker, "options", None), "mode", "") in ("fork", "fork-every"):
            log.warning(
                "PrometheusMetrics without multiprocess_dir in %s mode: jobs run in forked "
                "children and their samples are lost (give multiprocess_dir, or use --metrics-port)",
                worker.options.mode,
            )

    def _children(self, job: Job) -> tuple[Any, Any, Any]:
        """The (wait, duration, success) children of ``job``'s labels, bound once per
        (queue, class): a ``labels()`` lookup costs more than the observation."""
        key = (job.queue, job.class_name)
        found = self._cache.get(key)
        if found is None:
            queue, name = self.queues(job.queue), self.classes(job.class_name)
            found = (
                self.wait.labels(queue),
                self.duration.labels(queue, name),
                self.processed.labels(queue, name, "success"),
            )
            if len(self._cache) < 4 * self.classes.limit:
                self._cache[key] = found
        return found

    @hookimpl
    def pyresque_job_started(self, job: Job) -> Callable[[BaseException | None], None]:
        """Observe the job's wait from ``queue_time`` and count it in progress; the
        finisher times it and counts a success or a skip (failures: ``on_failure``)."""
        wait, duration, success = self._children(job)
        enqueued = job.extra.get("queue_time")
        if isinstance(enqueued, int | float) and not isinstance(enqueued, bool):
            waited = time.time() - float(enqueued)
            if 0 <= waited < _MAX_WAIT:
                wait.observe(waited)
        in_progress = self.in_progress
        in_progress.inc()
        clock = time.perf_counter()

        def finish(exception: BaseException | None) -> None:
            duration.observe(time.perf_counter() - clock)
            in_progress.dec()
            if exception is None:
                success.inc()
            elif isinstance(exception, DontPerform):  # rare: its series is made on first use
                self.processed.labels(self.queues(job.queue), self.classes(job.class_name), "skipped").inc()

        return finish

    @hookimpl(trylast=True)
    def pyresque_on_failure(self, worker: Worker, job: Job, exception: BaseException) -> None:
        """Count a failure and a retry (after the retry plugin ran)."""
        name = UNKNOWN if isinstance(exception, UnknownJobClass) else job.class_name
        queue = self.queues(job.queue)
        self.processed.labels(queue, self.classes(name), "failure").inc()
        if _retried(worker.app, job):
            self.retried.inc()
        if (
            self.multiprocess
            and os.getpid() == _Identity.owner
            and isinstance(exception, DirtyExit | JobTimeoutError)
            and getattr(getattr(worker, "options", None), "mode", "") in ("fork", "fork-every")
        ):
            self._zero_child_gauge()

    @hookimpl
    def pyresque_after_recover(self, queue: str, exception: BaseException) -> None:
        """Count a dead worker's job that pruning released, requeued or failed (once)."""
        if isinstance(exception, WorkerLost):
            self.recovered.labels(self.queues(queue)).inc()

    def _zero_child_gauge(self) -> None:
        """The child that ran the job is gone: its in-progress count is 0 (it could not
        say so itself). Writes the child's file from the worker, once per dirty exit."""
        _Identity.as_child = True
        try:
            self.in_progress.set(0)
        finally:
            _Identity.as_child = False  # the next sample goes back to this process's file

    @hookimpl
    def pyresque_worker_exit(self) -> None:
        """Nothing runs any more in this worker."""
        if self.multiprocess and os.getpid() == _Identity.owner:
            self._zero_child_gauge()


def _retried(app: Resque, job: Job) -> bool:
    """Whether the retry plugin (which ran before this plugin's ``on_failure``) put the
    job back: its attempt counter survives a retry and is deleted when it gives up.
    One round trip, only for jobs under a retry policy. A retried job that another
    worker already ran to success in between reads as not retried."""
    plugin = app.plugins.retry
    if plugin is None:
        return False
    try:
        if plugin.policy_for(app, job) is None:
            return False
        return plugin.attempts(app, job) is not None
    except Exception:  # metrics never fail a job's bookkeeping
        return False
