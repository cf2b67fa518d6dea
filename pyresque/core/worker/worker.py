"""The worker: registration, heartbeat, signals -> intents, the reserve loop.

``Worker(app, ["high", "low"]).work()`` runs until told to stop (or, with
``burst=True``, until the queues are empty). How each job runs is the executor's
business, picked by :func:`make_executor`: fork per job (Resque's default), fork every
N jobs (:mod:`pyresque.core.worker.fork`), or in-process
(:mod:`pyresque.core.worker.inprocess`).

Identity: the id is Resque's ``host:pid:queues``. A live worker process also holds a
short lease on its id (refreshed by the heartbeat thread), so a worker that finds its
id held by another live process (containers sharing a hostname, each running as pid 1)
takes a unique one, ``host-<tag>:pid:queues``, instead of sharing its records.

Signals (Resque's): ``QUIT`` finish the job, then exit; ``TERM``/``INT`` stop the job
now (its failure is recorded), then exit; ``USR1`` stop the job now, keep working;
``USR2`` pause; ``CONT`` resume. With ``graceful_term``, ``TERM`` lets the job run
up to that many seconds, then stops it and requeues it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.core import timefmt
from pyresque.core.errors import ConfigurationError, DirtyExit
from pyresque.core.reservation import Held
from pyresque.core.worker.fork import ForkExecutor
from pyresque.core.worker.identity import claim_id, lease_detail
from pyresque.core.worker.inprocess import InProcessExecutor
from pyresque.core.worker.options import MODES, WorkerOptions
from pyresque.core.worker.proctitle import get_title, restore_title, set_title
from pyresque.core.worker.pruning import prune_dead_workers, recover_record
from pyresque.core.worker.queue_select import QueueSelector

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

    Attributes:
        app: the :class:`~pyresque.Resque` app.
        id: ``host:pid:queues``, as every Resque implementation spells it.
    """

    def __init__(
        self,
        app: Resque,
        queues: list[str] | tuple[str, ...] | str,
        options: WorkerOptions | None = None,
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
        self._heartbeat_stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._wakeup_r: int | None = None
        self._wakeup_w = -1
        self._previous_wakeup = -1
        self._previous_handlers: dict[int, Any] = {}
        self._registered = False
        #: set by the executor: how to stop the running job from a signal handler
        self.kill_callback: Callable[[], None] | None = None
        #: in-process graceful TERM: the interrupted job is requeued, not failed
        self.requeue_interrupted = False

    # -- queues ----------------------------------------------------------------------
    def queues(self, *, refresh: bool = False) -> list[str]:
        """The concrete queues to poll now, in priority order (re-read for patterns)."""
        if self.selector.dynamic and (refresh or time.monotonic() - self._queues_at > 5.0):
            self._queues = self.selector.resolve(self.app.backend.broker.queues())
            self._queues_at = time.monotonic()
        return self._queues

    def wait_for_jobs(self) -> None:
        """Idle: block until a job may be there (or ``interval``), unless told to stop."""
        queues = self.queues()
        timeout = min(self.options.interval, 1.0)
        self._idle = True
        try:
            if self.shutdown or self.kill_job:
                return
            self.app.backend.workers.wait_for_jobs(queues, timeout)
        except _Wake:
            pass
        finally:
            self._idle = False

    # -- lifecycle -------------------------------------------------------------------
    def work(self) -> None:
        """Register, prune dead workers, run jobs until stopped, unregister. Blocks.
        The process title and signal handlers it changed are put back when it returns."""
        if threading.current_thread() is threading.main_thread():
            self.install_signals()
        previous_title = get_title()
        set_title("Starting")
        try:
            self.with_backend(self.register)
            self.with_backend(lambda: prune_dead_workers(self))
            self.app.hooks.before_first_fork(self)
            self.start_heartbeat()
            log.info("worker %s started (%s mode)", self.id, self.options.mode)
            make_executor(self).run()
        finally:
            self.stop_heartbeat()
            try:
                self._exit()
            finally:
                restore_title(previous_title)
                if threading.current_thread() is threading.main_thread():
                    self.restore_signals()

    @property
    def lease_interval(self) -> float:
        """Seconds between refreshes of the id's lease (it expires after three)."""
        return min(5.0, max(0.2, self.options.heartbeat_interval / 4))

    def register(self) -> None:
        """Claim the id (a unique one if a live process holds it), then write this
        worker's records (workers set, started, heartbeat). Round trips: 4 or more."""
        claim_id(self)
        workers = self.app.backend.workers
        workers.register(self.id, timefmt.ruby_time_to_s())
        self._registered = True

    def refresh_lease(self) -> str | None:
        """Refresh the lease on our id; the other owner's value if another process has it."""
        self._lease_seq += 1
        ttl = 3 * self.lease_interval
        return self.app.backend.workers.claim(self.id, self.nonce, lease_detail(self._lease_seq), ttl)

    def _exit(self) -> None:
        try:
            self.app.hooks.worker_exit(self)
        except Exception:
            log.exception("a worker_exit hook raised")
        if not self._registered:
            return
        for attempt in range(3):
            try:
                self.release_held(DirtyExit("Job still being processed when the worker exited"))
                self.app.backend.workers.unregister(self.id, self.nonce)
                break
            except self.app.backend.connection_errors as exc:
                log.error("cannot unregister %s (%s); retrying", self.id, exc)
                time.sleep(0.5 * (attempt + 1))
        unheld = f", {self.unheld} outcomes not written (job no longer held)" if self.unheld else ""
        log.info("worker %s stopped: %d processed, %d failed%s", self.id, self.processed, self.failed, unheld)

    def release_held(self, exc: BaseException, *, requeue: bool = False) -> bool:
        """Fail (or requeue) whatever job ``worker:<id>`` still holds. Round trips: 1-2."""
        held = self.app.backend.workers.held(self.id)
        if held is None:
            return False
        return recover_record(self, self.id, held, exc, requeue=requeue)

    def handle_held(self, held: Held) -> None:
        """The reserve found an unfinished job under our id: a previous runner died."""
        exc = DirtyExit("the process running the job died")
        recover_record(self, self.id, held.record, exc, requeue=self.options.recover == "requeue")

    # -- backend resilience ----------------------------------------------------------
    def with_backend(self, step: Any) -> Any:
        """Run ``step()``, retrying with backoff (0.1 s doubling to 5 s) while the backend
        is unreachable; gives up (re-raises) once the worker is told to stop: a job whose
        outcome could not be written stays held under the worker, for pruning to recover.

        A step may be repeated after its reply was lost (it may have run): every step
        passed here must be safe to repeat (see ``worker_scripts``); ``step_repeated``
        says afterwards whether it was. What the backend's ``permanent_error`` names (a
        refused password, no such database, not Redis) is raised at once, never retried."""
        delay = 0.1
        failing = False
        explain = getattr(self.app.backend, "permanent_error", None)
        while True:
            try:
                result = step()
                self.step_repeated = failing
                if failing:
                    log.warning("backend %s reachable again", self.app.backend.describe())
                return result
            except Exception as exc:
                cause = exc.__cause__  # the app wraps the driver's error: ask about both
                permanent = (explain(exc) or (cause and explain(cause))) if callable(explain) else None
                if permanent:
                    raise permanent from exc
                if not isinstance(exc, self.app.backend.connection_errors):
                    raise
                if not failing:
                    log.error(
                        "backend %s unreachable (%s); retrying with backoff", self.app.backend.describe(), exc
                    )
                failing = True
                if self.shutdown:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- heartbeat -------------------------------------------------------------------
    def start_heartbeat(self) -> None:
        """Refresh ``workers:heartbeat`` every ``heartbeat_interval`` on a thread."""
        if self.options.heartbeat_interval <= 0:
            return
        self._heartbeat_stop.clear()
        self._heartbeat = threading.Thread(target=self._beat, name="pyresque-heartbeat", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        registry = self.app.backend.workers
        next_beat = time.monotonic() + self.options.heartbeat_interval
        clash_logged = False
        while not self._heartbeat_stop.wait(self.lease_interval):
            try:
                other = self.refresh_lease()
                if other is not None and not clash_logged:
                    clash_logged = True
                    log.error("worker id %s is also in use by another live process (%s)", self.id, other)
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + self.options.heartbeat_interval
                if self.id not in registry.all():  # pruned by mistake, or Redis lost its data
                    log.warning("worker %s was no longer registered: registering again", self.id)
                    registry.register(self.id, timefmt.ruby_time_to_s())
                else:
                    registry.heartbeat(self.id)
            except Exception as exc:
                log.warning("heartbeat failed: %s", exc)

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread."""
        self._heartbeat_stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join(2)
            self._heartbeat = None

    # -- signals ---------------------------------------------------------------------
    def install_signals(self) -> None:
        """QUIT, TERM, INT, USR1, USR2, CONT -> intents (this process only); undone by
        :meth:`restore_signals` when the worker stops."""
        handlers = {
            signal.SIGQUIT: self._on_quit,
            signal.SIGTERM: self._on_term,
            signal.SIGINT: self._on_int,
            signal.SIGUSR1: self._on_usr1,
            signal.SIGUSR2: self._on_usr2,
            signal.SIGCONT: self._on_cont,
        }
        self._previous_handlers = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self._wakeup_r, self._wakeup_w = r, w
        self._previous_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def restore_signals(self) -> None:
        """Put back the handlers and wake-up fd that were there before :meth:`work`."""
        if self._wakeup_r is None:
            return
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_wakeup)
        for fd in (self._wakeup_r, self._wakeup_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wakeup_r = None

    @property
    def wakeup_fd(self) -> int | None:
        """A fd that becomes readable when a signal arrives (for select loops)."""
        return self._wakeup_r

    def drain_wakeup(self) -> None:
        """Empty the signal wake-up pipe."""
        if self._wakeup_r is None:
            return
        try:
            while os.read(self._wakeup_r, 512):
                pass
        except BlockingIOError:
            pass

    def _wake(self) -> None:
        if self._idle:
            raise _Wake()

    def _on_quit(self, signum: int, frame: object) -> None:
        log.info("QUIT: finishing the current job, then exiting")
        self.request_shutdown()

    def _on_term(self, signum: int, frame: object) -> None:
        if self.options.graceful_term is not None:
            log.info("TERM: finishing within %gs, then requeueing", self.options.graceful_term)
            if self.graceful_deadline is None:
                self.graceful_deadline = time.monotonic() + self.options.graceful_term
                if self.options.mode == "inprocess":
                    timer = threading.Timer(self.options.graceful_term, self._graceful_expired)
                    timer.daemon = True
                    timer.start()
            self.request_shutdown()
            return
        log.info("TERM: stopping the current job now, then exiting")
        self.request_shutdown(kill=True)

    def _on_int(self, signum: int, frame: object) -> None:
        log.info("INT: stopping the current job now, then exiting")
        self.request_shutdown(kill=True)

    def _on_usr1(self, signum: int, frame: object) -> None:
        log.info("USR1: stopping the current job")
        self.kill_job = True
        self.on_kill_job()

    def _on_usr2(self, signum: int, frame: object) -> None:
        log.info("USR2: pausing")
        self.paused = True
        self._wake()

    def _on_cont(self, signum: int, frame: object) -> None:
        if self.paused:
            log.info("CONT: resuming")
        self.paused = False

    def request_shutdown(self, *, kill: bool = False) -> None:
        """Stop taking jobs; with ``kill``, stop the running one too."""
        first = not self.shutdown
        self.shutdown = True
        if first:
            try:
                self.app.hooks.shutdown(self)
            except Exception:
                log.exception("a shutdown hook raised")
        if kill:
            self.kill_job = True
            self.on_kill_job()
        self._wake()

    def on_kill_job(self) -> None:
        """Stop the running job the executor's way (interrupt it, or kill the child)."""
        if self.kill_callback is not None:
            self.kill_callback()
        else:
            self._wake()

    def _graceful_expired(self) -> None:
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
    return ForkExecutor(worker, 1 if mode == "fork" else max(1, worker.options.jobs_per_child))
