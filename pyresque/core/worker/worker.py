"""The worker: registration, heartbeat, signals -> intents, the reserve loop.

``Worker(app, ["high", "low"]).work()`` runs until told to stop (or, with
``burst=True``, until the queues are empty). How each job runs is the executor's
business, picked by :func:`make_executor`: fork per job (Resque's default), fork every
N jobs (:mod:`pyresque.core.worker.fork`), or in-process
(:mod:`pyresque.core.worker.inprocess`).

Over shards (a ``ShardedBackend``) the same worker reserves across them in
queue-priority order through a registry of its own (``worker.registry``, see
:mod:`pyresque.core.worker.sharding` and ``docs/sharded-workers.md``).

Identity: the id is Resque's ``host:pid:queues``. A live worker process also holds a
short lease on its id (refreshed by the heartbeat thread), so a worker that finds its
id held by another live process (containers sharing a hostname, each running as pid 1)
takes a unique one, ``host-<tag>:pid:queues``, instead of sharing its records.

Signals (Resque's, :mod:`pyresque.core.worker.signals`): ``QUIT`` finish the job, then
exit; ``TERM``/``INT`` stop the job now (its failure is recorded), then exit; ``USR1``
stop the job now, keep working; ``USR2`` pause; ``CONT`` resume (or quiet/stop through
Redis, :mod:`pyresque.core.worker.remote`).

What it says (:mod:`pyresque.core.worker.voice`): a start line, a line per failed job,
a stop line with its counts and why it stopped; a dirty exit is logged once, in plain
words. Companions (:mod:`pyresque.core.worker.companion`: the scheduler of
``--with-scheduler``) run in sibling processes it starts, restarts and stops.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pyresque.core import timefmt
from pyresque.core.errors import ConfigurationError, DirtyExit, PyresqueError
from pyresque.core.reservation import Held
from pyresque.core.worker.companion import Companion
from pyresque.core.worker.ctrl_c import CtrlCNotice
from pyresque.core.worker.fork import ForkExecutor
from pyresque.core.worker.heartbeat import Heartbeat
from pyresque.core.worker.identity import claim_id, lease_detail
from pyresque.core.worker.inprocess import InProcessExecutor
from pyresque.core.worker.options import MODES, WorkerOptions
from pyresque.core.worker.proctitle import get_title, restore_title, set_title
from pyresque.core.worker.pruning import recover_record
from pyresque.core.worker.queue_select import QueueSelector
from pyresque.core.worker.remote import RemoteControl
from pyresque.core.worker.resilience import with_backend
from pyresque.core.worker.sharding import ShardedRemote, glob_order, prune, queue_names, worker_registry
from pyresque.core.worker.signals import WorkerSignals
from pyresque.core.worker.voice import exception_text, start_line, stop_line

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["Worker", "WorkerOptions", "make_executor"]

log = logging.getLogger("pyresque.worker")


class _Wake(Exception):
    """Raised by a signal handler to cut an idle wait short."""


class Worker:
    """A Resque worker.

    Args:
        app: the app whose backend, registry and hooks it uses (``worker.app``).
        queues: queue names or patterns in priority order (``*``, globs, ``!excluded``).
        options: a :class:`WorkerOptions`, or keyword overrides of its fields.
        companions: processes to run beside the worker while it works (the CLI's
            ``--with-scheduler`` passes the scheduler), see
            :mod:`pyresque.core.worker.companion`.

    Attributes:
        app: the :class:`~pyresque.Resque` app.
        id: ``host:pid:queues``, as every Resque implementation spells it.
        stop_reason: why it stopped (``QUIT``, ``TERM``, ``INT``, ``burst: ...``).
        exit_logged: a dirty exit was logged (a caller need not say it again, but
            should exit non-zero: ``pyresque worker`` exits 1).
    """

    def __init__(
        self,
        app: Resque,
        queues: list[str] | tuple[str, ...] | str,
        options: WorkerOptions | None = None,
        *,
        companions: Iterable[Companion] = (),
        **overrides: Any,
    ) -> None:
        if isinstance(queues, str):
            queues = [q for q in queues.split(",")]
        self.app = app
        self.selector = QueueSelector(list(queues))
        self.options = dataclasses.replace(options or WorkerOptions(), **overrides)
        if self.options.mode not in MODES:
            raise ConfigurationError(f"unknown worker mode {self.options.mode!r}; known: {', '.join(MODES)}")
        if self.options.recover not in ("fail", "requeue"):
            raise ConfigurationError("recover must be 'fail' or 'requeue'")
        if self.options.mode != "inprocess" and app.backend.process_local:
            raise ConfigurationError(
                "a fakeredis app lives in one process: only mode='inprocess' can work with it"
            )
        companions = list(companions)
        if companions and app.backend.process_local:
            raise ConfigurationError(
                "a fakeredis app lives in one process: a scheduler beside the worker (another "
                "process) cannot share it; use a Redis server"
            )
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.id = f"{self.hostname}:{self.pid}:{self.selector}"
        #: this process's instance (the lease on its id carries it)
        self.nonce = os.urandom(6).hex()
        self._lease_seq = 0
        self.processed = 0
        self.failed = 0
        #: outcomes not written because the job was no longer held (pruned meanwhile)
        self.unheld = 0
        #: whether the last :meth:`with_backend` step ran more than once
        self.step_repeated = False
        #: where pruning's bounded SCAN for unregistered workers' records resumes
        self.orphan_cursor = 0
        # intents set by signals, read by the loop and the executors
        self.shutdown = False  # stop taking jobs
        self.kill_job = False  # stop the running job now
        self.paused = False
        self.graceful_deadline: float | None = None
        self._idle = False
        self._queues: list[str] = self.selector.resolve() if not self.selector.dynamic else []
        self._queues_at = 0.0
        #: what it writes through: the backend's registry, or its own over shards
        self.registry = worker_registry(self)
        self.heartbeat = Heartbeat(self)
        sharded = hasattr(self.registry, "lanes")
        self.remote = ShardedRemote(self) if sharded else RemoteControl(self)  # quiet/stop, paused queues
        self.queue_order = glob_order(self)  # how a pattern's matches are ordered
        self.signals = WorkerSignals(self)
        self._registered = False
        self.companions = list(companions)
        self.stop_reason: str | None = None
        self.exit_logged = False
        #: the pid an operator sends QUIT to (a supervisor's, when there is one)
        self.control_pid: int | None = None
        #: what the first Ctrl-C on a terminal prints (armed in :meth:`work`)
        self.ctrl_c = CtrlCNotice(self, enabled=False)
        #: set by the executor: how to stop the running job from a signal handler
        self.kill_callback: Callable[[], None] | None = None
        #: in-process graceful TERM: the interrupted job is requeued, not failed
        self.requeue_interrupted = False

    # -- queues ----------------------------------------------------------------------
    def queues(self, *, refresh: bool = False) -> list[str]:
        """The concrete queues to poll now, in priority order, not paused (see remote)."""
        if self.selector.dynamic and (refresh or time.monotonic() - self._queues_at > 5.0):
            self._queues = self.selector.resolve(queue_names(self), order=self.queue_order)
            self._queues_at = time.monotonic()
        return self.remote.unpaused(self._queues)

    def wait_for_jobs(self) -> None:
        """Idle: block until a job may be there (or ``interval``), unless told to stop."""
        queues = self.queues()
        timeout = min(self.options.interval, 1.0)
        self._idle = True
        try:
            if self.shutdown or self.kill_job:
                return
            self.registry.wait_for_jobs(queues, timeout)
        except _Wake:
            pass
        finally:
            self._idle = False

    # -- lifecycle -------------------------------------------------------------------
    def work(self) -> None:
        """Register, prune dead workers, run jobs until stopped, unregister. Blocks.
        The process title and signal handlers it changed are put back when it returns.
        Logs a start line, and a stop line saying why it stopped (an error that ends
        it is logged there, once, and re-raised)."""
        main = threading.current_thread() is threading.main_thread()
        if main:
            self.install_signals()
            self.ctrl_c = CtrlCNotice(self)
        previous_title = get_title()
        set_title("Starting")
        error: BaseException | None = None
        try:
            self.with_backend(self.register)
            self.with_backend(lambda: prune(self))
            self.app.hooks.before_first_fork(self)
            for companion in self.companions:  # before any thread of ours: a clean fork
                companion.start(self)
            self.start_heartbeat()
            extras = [f"with the {c.name} (process {c.pid})" for c in self.companions]
            log.info("%s", start_line(self, extras))
            make_executor(self).run()
        except BaseException as exc:
            error = exc
            raise
        finally:
            for companion in self.companions:
                companion.stop()
            self.stop_heartbeat()
            try:
                self._exit(error)
            finally:
                close = getattr(self.registry, "close", None)  # over shards: its own connections
                if callable(close):
                    close()
                restore_title(previous_title)
                if main:
                    self.restore_signals()

    @property
    def lease_interval(self) -> float:
        """Seconds between refreshes of the id's lease (it expires after three)."""
        return min(5.0, max(0.2, self.options.heartbeat_interval / 4))

    def register(self) -> None:
        """Claim the id (a unique one if a live process holds it), then write this
        worker's records (workers set, started, heartbeat). Round trips: 4 or more."""
        claim_id(self)
        self.registry.register(self.id, timefmt.ruby_time_to_s())
        self._registered = True

    def refresh_lease(self) -> str | None:
        """Refresh the lease on our id; the other owner's value if another process has it."""
        self._lease_seq += 1
        ttl = 3 * self.lease_interval
        return self.registry.claim(self.id, self.nonce, lease_detail(self._lease_seq), ttl)

    def _exit(self, error: BaseException | None = None) -> None:
        try:
            self.app.hooks.worker_exit(self)
        except Exception:
            log.exception("a worker_exit hook raised")
        if not self._registered:
            return
        lost: BaseException | None = None
        for attempt in range(3):
            try:
                self.release_held(DirtyExit("Job still being processed when the worker exited"))
                self.registry.unregister(self.id, self.nonce)
                lost = None
                break
            except self.app.backend.connection_errors as exc:
                lost = exc  # logged once, in the stop line
                time.sleep(0.5 * (attempt + 1))
        self.ctrl_c.finish()
        trace = False
        if error is None:
            line = stop_line(self, self.stop_reason or "the executor returned")
        else:
            why, trace = self.describe_error(error)
            line = stop_line(self, why)
        if lost is not None:
            line += (
                "; its records stay in Redis until a live worker prunes them (cannot unregister: "
                f"the backend is unreachable: {exception_text(lost)})"
            )
        if error is None and lost is None:
            log.info("%s", line)
        else:
            log.error("%s", line, exc_info=error if trace else None)
            self.exit_logged = True

    def describe_error(self, exc: BaseException) -> tuple[str, bool]:
        """Why ``exc`` stopped the worker, in plain words, and whether its traceback
        is worth showing (only for an unexpected error: a bug, or a hook's)."""
        backend = self.app.backend
        explain = getattr(backend, "permanent_error", None)
        seen: BaseException | None = exc
        while callable(explain) and seen is not None:
            permanent = explain(seen)
            if permanent is not None:
                return str(permanent), False
            seen = seen.__cause__
        if isinstance(exc, backend.connection_errors):
            return f"the backend {backend.describe()} is unreachable: {exception_text(exc)}", False
        if isinstance(exc, PyresqueError):
            return exception_text(exc), False
        if isinstance(exc, KeyboardInterrupt):
            return "KeyboardInterrupt", False
        return f"an unexpected error: {exception_text(exc)}", True

    def release_held(self, exc: BaseException, *, requeue: bool = False, quiet: bool = False) -> bool:
        """Fail (or requeue) whatever job ``worker:<id>`` still holds. Round trips: 1-2.
        ``quiet``: the caller logs it (no line of pruning's own)."""
        held = self.registry.held(self.id)
        if held is None:
            return False
        return recover_record(self, self.id, held, exc, requeue=requeue, quiet=quiet)

    def handle_held(self, held: Held) -> None:
        """The reserve found an unfinished job under our id: a previous runner died."""
        exc = DirtyExit("the process running the job died")
        recover_record(self, self.id, held.record, exc, requeue=self.options.recover == "requeue")

    # -- backend resilience (pyresque.core.worker.resilience) -------------------------
    def with_backend(self, step: Any) -> Any:
        """Run ``step()``, retrying with backoff while the backend is unreachable (see
        :func:`~pyresque.core.worker.resilience.with_backend`)."""
        return with_backend(self, step)

    # -- heartbeat (pyresque.core.worker.heartbeat) ----------------------------------
    def start_heartbeat(self) -> None:
        """Refresh ``workers:heartbeat`` every ``heartbeat_interval`` on a thread."""
        self.heartbeat.start()

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread."""
        self.heartbeat.stop()

    # -- signals (pyresque.core.worker.signals) --------------------------------------
    def install_signals(self) -> None:
        """QUIT, TERM, INT, USR1, USR2, CONT -> intents (this process only); undone by
        :meth:`restore_signals` when the worker stops."""
        self.signals.install()

    def restore_signals(self) -> None:
        """Put back the handlers and wake-up fd that were there before :meth:`work`."""
        self.signals.restore()

    @property
    def wakeup_fd(self) -> int | None:
        """A fd that becomes readable when a signal arrives (for select loops)."""
        return self.signals.wakeup_r

    def drain_wakeup(self) -> None:
        """Empty the signal wake-up pipe."""
        self.signals.drain()

    def wake(self) -> None:
        """Cut an idle wait short (from a signal handler)."""
        if self._idle:
            raise _Wake()

    def request_shutdown(self, *, kill: bool = False) -> None:
        """Stop taking jobs; with ``kill``, stop the running one too."""
        first = not self.shutdown
        self.shutdown = True
        if self.stop_reason is None:
            self.stop_reason = "asked to stop"
        if first:
            try:
                self.app.hooks.shutdown(self)
            except Exception:
                log.exception("a shutdown hook raised")
        if kill:
            self.kill_job = True
            self.on_kill_job()
        self.wake()

    def on_kill_job(self) -> None:
        """Stop the running job the executor's way (interrupt it, or kill the child)."""
        if self.kill_callback is not None:
            self.kill_callback()
        else:
            self.wake()

    def graceful_expired(self) -> None:
        """In-process graceful TERM: the deadline passed, interrupt the job to requeue it."""
        self.requeue_interrupted = True
        self.kill_job = True
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    def __repr__(self) -> str:
        return f"Worker({self.id!r}, mode={self.options.mode!r})"


def make_executor(worker: Worker) -> InProcessExecutor | ForkExecutor:
    """The executor for ``worker.options.mode``."""
    mode = worker.options.mode
    if mode == "inprocess":
        return InProcessExecutor(worker)
    if mode == "async":
        raise ConfigurationError("mode='async' is run by AsyncWorker (pyresque.core.worker.aio), not Worker")
    return ForkExecutor(worker, 1 if mode == "fork" else max(1, worker.options.jobs_per_child))
