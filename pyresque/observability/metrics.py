"""Prometheus metrics of pyresque workers and clients, as a plugin (``pyresque[metrics]``).

Start with :class:`PrometheusMetrics`: register it on the app (``Resque(...,
plugins=[PrometheusMetrics()])``) and it counts, through the hooks:

- ``resque_jobs_processed_total{queue,class,outcome}`` (``outcome``: ``success`` or
  ``failure``), ``resque_jobs_retried_total``, ``resque_jobs_recovered_total{queue}``
  (jobs of dead workers failed by pruning), ``resque_jobs_in_progress``,
  ``resque_job_duration_seconds{queue,class}`` (histogram),
  ``resque_job_wait_seconds{queue}`` (enqueue to start, from the payload's
  ``queue_time``) in the worker;
- ``resque_jobs_enqueued_total{queue,class}`` in the client.

Forked children (``fork``, ``fork-every`` modes, ``COUNT``) count through
prometheus-client's multiprocess mode: give a directory (:class:`MetricsDirectory`
makes and removes one) and every process writes its samples to a memory-mapped file
there, so a child's counts outlive it. Files are named per *worker process*, not per
child: a worker's children run one at a time and take turns on one ``<pid>c`` file
(each reads it back on its first sample), so the directory holds two files of each
kind per worker process however many jobs it forks. :func:`multiprocess_registry`
reads the directory for a scrape; :func:`serve` exposes it over HTTP.

No worker id, pid or argument label exists; class and queue labels are bounded by
:class:`~pyresque.observability.labels.ClassLabels`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from pyresque.core.errors import ConfigurationError, DirtyExit, JobTimeoutError, UnknownJobClass, WorkerLost
from pyresque.hooks import hookimpl
from pyresque.observability.labels import UNKNOWN, ClassLabels

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

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


# -- multiprocess identity -------------------------------------------------------------
class _Identity:
    """Which file this process writes: ``<pid>`` for a worker (or any process), ``<owner
    pid>c`` for a forked child of worker ``owner``. Children of one worker run one at a
    time, so they share one file; ``as_child`` lets the worker write its child's file
    (to zero the in-progress gauge of a child it killed or saw die)."""

    owner: int | None = None
    as_child = False


def _identity() -> str:
    pid = os.getpid()
    owner = _Identity.owner
    if owner is None or (pid == owner and not _Identity.as_child):
        return str(pid)
    return f"{owner}c"

_multiprocess_dir: str | None = None
_setup_lock = threading.Lock()
#: what :func:`enable_multiprocess` replaced: (ValueClass, PROMETHEUS_MULTIPROC_DIR)
_saved: tuple[Any, str | None] | None = None


def enable_multiprocess(directory: str) -> None:
    """Write every metric created from now on in this process (and its forks) to
    ``directory`` (prometheus-client's multiprocess mode, with per-worker files).

    Sets ``PROMETHEUS_MULTIPROC_DIR``, which prometheus-client reads as it opens a file.
    One directory per process: calling again with the same one does nothing.

    Raises:
        ConfigurationError: another directory is already in use in this process, or
            ``directory`` is not a directory.
    """
    global _multiprocess_dir, _saved
    directory = os.path.abspath(directory)
    if not os.path.isdir(directory):
        raise ConfigurationError(f"metrics directory {directory!r} does not exist")
    with _setup_lock:
        if _multiprocess_dir == directory:
            return
        if _multiprocess_dir is not None:
            raise ConfigurationError(
                f"this process already writes metrics to {_multiprocess_dir!r}, not {directory!r}"
            )
        _saved = (values.ValueClass, os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        values.ValueClass = values.MultiProcessValue(process_identifier=_identity)  # type: ignore[no-untyped-call]
        _multiprocess_dir = directory


def disable_multiprocess() -> None:
    """Undo :func:`enable_multiprocess`: close the files, restore the value class and
    ``PROMETHEUS_MULTIPROC_DIR``. Metrics made meanwhile must not be used any more."""
    global _multiprocess_dir, _saved
    with _setup_lock:
        if _saved is None:
            return
        values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]
        value_class, env = _saved
        values.ValueClass = value_class
        if env is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = env
        _multiprocess_dir = None
        _saved = None
        _Identity.owner = None


_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)c?\.db")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _PruningCollector(Collector):
    """The directory's samples, after removing the live gauges of dead worker processes
    (their counters stay: a count never goes back). A file another process is creating
    this instant (shorter than its header) is left for the next scrape."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def collect(self) -> Iterable[Metric]:
        files = []
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.directory):
                path = os.path.join(self.directory, name)
                match = _LIVE_FILE.fullmatch(name)
                if match and not _alive(int(match.group(1))):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(path)
                    continue
                with contextlib.suppress(FileNotFoundError):
                    if name.endswith(".db") and os.path.getsize(path) >= 8:
                        files.append(path)
        return MultiProcessCollector.merge(files, accumulate=True)  # type: ignore[no-untyped-call,no-any-return]


def multiprocess_registry(directory: str) -> CollectorRegistry:
    """A registry whose scrape sums every process's samples in ``directory``."""
    registry = CollectorRegistry()
    registry.register(_PruningCollector(directory))
    return registry


class MetricsDirectory:
    """A multiprocess directory this process owns: made on entry (a fresh temporary one
    unless ``path`` is given, which is emptied of old ``*.db`` files), enabled with
    :func:`enable_multiprocess`, and on exit disabled (:func:`disable_multiprocess`)
    and removed (or emptied). Create the plugins inside it."""

    def __init__(self, path: str | None = None) -> None:
        self.given = path
        self.path = ""

    def __enter__(self) -> MetricsDirectory:
        if self.given is None:
            self.path = tempfile.mkdtemp(prefix="pyresque-metrics-")
        else:
            self.path = os.path.abspath(self.given)
            os.makedirs(self.path, exist_ok=True)
            self._wipe()
        enable_multiprocess(self.path)
        return self

    def _wipe(self) -> None:
        for name in os.listdir(self.path):
            if name.endswith(".db"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(self.path, name))

    def __exit__(self, *exc_info: object) -> None:
        disable_multiprocess()
        if self.given is None:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            self._wipe()


def serve(port: int, registry: CollectorRegistry, addr: str = "0.0.0.0") -> Callable[[], None]:
    """Serve ``registry`` on ``http://addr:port/metrics`` from a daemon thread; returns
    a function that stops the server."""
    from prometheus_client import start_http_server

    server, thread = start_http_server(port, addr=addr, registry=registry)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(2)

    return stop


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
            "resque_job_duration_seconds", "Time a job's perform took (set_up to tear_down)",
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
        """This process is a worker: its forked children write its ``<pid>c`` file."""
        if self.multiprocess:
            _Identity.owner = os.getpid()

    def _children(self, job: Job) -> tuple[Any, Any, Any]:
        """The (wait, duration, success) children of ``job``'s labels, cached: a
        ``labels()`` lookup costs more than the observation."""
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

    @hookimpl(wrapper=True)
    def pyresque_perform(self, job: Job) -> Generator[None, Any, Any]:
        """Time the job and count it in progress; observe its wait from ``queue_time``."""
        wait, duration, _ = self._children(job)
        started = time.time()
        enqueued = job.extra.get("queue_time")
        if isinstance(enqueued, int | float) and not isinstance(enqueued, bool):
            waited = started - float(enqueued)
            if 0 <= waited < _MAX_WAIT:
                wait.observe(waited)
        clock = time.perf_counter()
        self.in_progress.inc()
        try:
            return (yield)
        finally:
            self.in_progress.dec()
            duration.observe(time.perf_counter() - clock)

    @hookimpl(trylast=True)
    def pyresque_after_perform(self, job: Job) -> None:
        """Count a success (last of the ``after_perform`` hooks: none of them failed it)."""
        self._children(job)[2].inc()

    @hookimpl(trylast=True)
    def pyresque_on_failure(self, worker: Worker, job: Job, exception: BaseException) -> None:
        """Count a failure, a retry (after the retry plugin ran) and a recovery."""
        name = UNKNOWN if isinstance(exception, UnknownJobClass) else job.class_name
        queue = self.queues(job.queue)
        self.processed.labels(queue, self.classes(name), "failure").inc()
        if isinstance(exception, WorkerLost):
            self.recovered.labels(queue).inc()
        if _retried(worker.app, job):
            self.retried.inc()
        if (
            self.multiprocess
            and os.getpid() == _Identity.owner
            and isinstance(exception, DirtyExit | JobTimeoutError)
            and getattr(getattr(worker, "options", None), "mode", "") in ("fork", "fork-every")
        ):
            self._zero_child_gauge()

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
