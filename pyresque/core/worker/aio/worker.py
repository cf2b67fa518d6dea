"""The async worker: ``pyresque worker --mode async --concurrency N``.

:class:`AsyncWorker` is a :class:`~pyresque.core.worker.worker.Worker` whose
:meth:`~AsyncWorker.work` runs one event loop: N slots (N worker ids, see
:mod:`~pyresque.core.worker.aio.slots`), their heartbeats and leases on a thread of
their own (:mod:`~pyresque.core.worker.aio.beat`), and the rounds that take jobs.

Its life: claim the N ids (leases; a live twin elsewhere makes it take
``host-<tag>``, as :mod:`~pyresque.core.worker.identity` does), register them, prune
dead workers, run rounds until told to stop, then write every outcome still owed,
release whatever a slot still holds and unregister the N ids.

Signals (Resque's, per job): ``QUIT`` finishes every running job, then exits;
``TERM``/``INT`` stop them now (each recorded failed), then exit (with
``graceful_term``: they may run that long, then are stopped and requeued); ``USR1``
stops the running jobs and keeps working; ``USR2`` pauses (running jobs finish, no new
ones), ``CONT`` resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from pyresque.backends.aio.workers import AsyncWorkerRegistry, open_worker_registry
from pyresque.core import timefmt
from pyresque.core.errors import ConfigurationError, DirtyExit, ShutdownRequested
from pyresque.core.worker.aio.beat import LagWatch, SlotBeat
from pyresque.core.worker.aio.slots import Dispatcher, Slot
from pyresque.core.worker.identity import lease_detail, lease_namespace, pid_namespace
from pyresque.core.worker.options import WorkerOptions
from pyresque.core.worker.proctitle import get_title, restore_title, set_title
from pyresque.core.worker.pruning import prune_dead_workers, recover_record
from pyresque.core.worker.worker import Worker

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["AsyncWorker"]

log = logging.getLogger("pyresque.worker")

_SIGNALS = ("SIGQUIT", "SIGTERM", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGCONT")


class AsyncWorker(Worker):
    """Up to ``options.concurrency`` jobs at once on one event loop (see the module
    docstring). Same arguments as :class:`~pyresque.core.worker.worker.Worker`;
    ``mode`` is ``"async"``."""

    def __init__(
        self,
        app: Resque,
        queues: list[str] | tuple[str, ...] | str,
        options: WorkerOptions | None = None,
        **overrides: Any,
    ) -> None:
        overrides.setdefault("mode", "async")
        super().__init__(app, queues, options, **overrides)
        if self.options.mode != "async":
            raise ConfigurationError("AsyncWorker runs mode='async'")
        self.concurrency = max(1, int(self.options.concurrency))
        self.slots: list[Slot] = []
        self.dispatcher: Dispatcher | None = None
        self.lag: LagWatch | None = None
        self.beat: SlotBeat | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._signals_ours = False
        self.stop_reason: str | None = getattr(self, "stop_reason", None)

    def slot_ids(self) -> list[str]:
        """The N worker ids (``host:pid:queues:<n>``)."""
        return [s.id for s in self.slots]

    def queues(self, *, refresh: bool = False) -> list[str]:
        """The concrete queues to poll now, without the paused ones as last read (the
        dispatcher reads them with ``pause-all-workers`` once a second, on a thread: no
        read here, which the loop calls)."""
        if self.selector.dynamic and (refresh or time.monotonic() - self._queues_at > 5.0):
            self._queues = self.selector.resolve(self.app.backend.broker.queues())
            self._queues_at = time.monotonic()
        paused = self.remote.paused
        return [q for q in self._queues if q not in paused] if paused else self._queues

    # -- lifecycle -------------------------------------------------------------------
    def work(self) -> None:
        """Register the N slots, run jobs until stopped, unregister. Blocks."""
        previous = get_title()
        set_title("Starting")
        companions = list(getattr(self, "companions", ()))
        for companion in companions:  # forked before any thread or loop of ours
            companion.start(self)
        try:
            asyncio.run(self._main())
        finally:
            for companion in companions:
                companion.stop()
            restore_title(previous)

    async def _main(self) -> None:
        registry = open_worker_registry(self.app.backend)
        loop = asyncio.get_running_loop()
        self._loop = loop
        installed = self._install_signals(loop)
        error: BaseException | None = None
        try:
            await registry.prepare()
            await self._claim(registry)
            self.slots = [Slot(self, i) for i in range(self.concurrency)]
            await registry.register(self.slot_ids(), timefmt.ruby_time_to_s())
            self._registered = True
            await asyncio.to_thread(self.with_backend, lambda: prune_dead_workers(self))
            self.app.hooks.before_first_fork(self)
            self.beat = SlotBeat(
                self.slot_ids,
                self.nonce,
                lambda: open_worker_registry(self.app.backend),
                self.lease_interval,
                self.options.heartbeat_interval,
                commands=self.remote.reader.strongest if self.remote.reader.available else None,
                obey=self._obey,
            )
            self._signals_ours = bool(installed)
            self.beat.start()
            self.dispatcher = Dispatcher(self, registry, self.slots)
            self.lag = LagWatch(loop, self._describe_running)
            self.lag.start()
            log.info(
                "worker %s started (async mode, %d slots: %s ... %s)",
                self.id,
                self.concurrency,
                self.slots[0].id,
                self.slots[-1].id,
            )
            await self._run(self.dispatcher)
        except BaseException as exc:
            error = exc
            raise
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self._exit_async(registry, error)

    async def _run(self, d: Dispatcher) -> None:
        """Rounds until told to stop, then the drain (see the module docstring)."""
        while not self.shutdown:
            d.event.clear()
            if self.kill_job:  # USR1: the running jobs were stopped; carry on
                self.kill_job = False
            if self.paused or await d.paused_by_key():
                await self._pause(d)
                continue
            if not d.free or (self.options.max_jobs is not None and d.taken >= self.options.max_jobs):
                if not d.busy():
                    self.stop_reason = self.stop_reason or f"max jobs ({self.options.max_jobs})"
                    break
                await d.round(take=False)
                await d.wait_event()
                continue
            empty = await d.round(take=True)
            d.title()
            if not empty:
                continue
            if self.options.burst:
                if not d.busy() and not any(s.done or s.failed for s in d.free):
                    self.stop_reason = self.stop_reason or "burst: the queues are empty"
                    break
                await d.wait_event()
                continue
            await d.idle()
        await self._drain(d)

    async def _drain(self, d: Dispatcher) -> None:
        """Stopping: wait for the running jobs (QUIT), or stop them (TERM), writing each
        outcome as it comes; past a graceful TERM's deadline, stop and requeue them."""
        set_title(f"Finishing {len(d.busy())} jobs (shutting down)")
        while True:
            d.event.clear()
            deadline = self.graceful_deadline
            if deadline is not None and time.monotonic() >= deadline and d.busy():
                self.requeue_interrupted = True
                d.stop_all(ShutdownRequested("graceful TERM deadline passed: the job is requeued"))
            await d.requeue_stopped()
            if any(s.done or s.failed for s in d.free):
                await d.round(take=False)
                continue  # jobs that ended during that round trip owe theirs too
            if not d.busy():
                return
            left = None if deadline is None else max(0.05, deadline - time.monotonic())
            await d.wait_event(left)

    async def _pause(self, d: Dispatcher) -> None:
        """USR2 or ``pause-all-workers``: the running jobs go on, no new ones."""
        try:
            self.app.hooks.before_pause(self)
        except Exception:
            log.exception("a before_pause hook raised")
        set_title("Paused")
        while not self.shutdown and (self.paused or await d.paused_by_key()):
            d.event.clear()
            if any(s.done or s.failed for s in d.free):
                await d.round(take=False)
            await d.wait_event(1.0)
        try:
            self.app.hooks.after_pause(self)
        except Exception:
            log.exception("an after_pause hook raised")

    # -- identity --------------------------------------------------------------------
    async def _claim(self, registry: AsyncWorkerRegistry) -> None:
        """Own the N ids (leases), or take ``host-<tag>`` if a live twin holds them."""

        def ids() -> list[str]:
            return [f"{self.id}:{i}" for i in range(self.concurrency)]

        others = await self._refresh(registry, ids())
        if not any(others):
            return
        ours = pid_namespace()
        for worker_id, other in zip(ids(), others, strict=True):
            if other is not None and ours and lease_namespace(other) == ours:
                await registry.drop_lease(worker_id, other)  # our pid, our namespace: that process is gone
        deadline = time.monotonic() + 4 * self.lease_interval
        first = await self._refresh(registry, ids())
        while any(first) and time.monotonic() < deadline and not self.shutdown:
            await asyncio.sleep(min(0.25, self.lease_interval / 2))
            now = await self._refresh(registry, ids())
            if not any(now):
                return
            if any(o is not None and o != f for o, f in zip(now, first, strict=True)):
                break  # refreshed meanwhile: a live twin
        if not any(first):
            return
        taken = self.id
        self.hostname = f"{socket.gethostname()}-{self.nonce[:6]}"
        self.id = f"{self.hostname}:{self.pid}:{self.selector}"
        log.warning("worker id %s is in use by another live worker; this worker runs as %s", taken, self.id)
        if any(await self._refresh(registry, ids())):  # pragma: no cover - a fresh random tag
            raise ConfigurationError(f"cannot find free worker ids (tried {self.id})")

    async def _refresh(self, registry: AsyncWorkerRegistry, ids: list[str]) -> list[str | None]:
        self._lease_seq += 1
        return await registry.claim(ids, self.nonce, lease_detail(self._lease_seq), 3 * self.lease_interval)

    # -- signals -----------------------------------------------------------------------
    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        if threading.current_thread() is not threading.main_thread():
            return []
        handlers = {
            signal.SIGQUIT: self._quit,
            signal.SIGTERM: self._term,
            signal.SIGINT: self._int,
            signal.SIGUSR1: self._usr1,
            signal.SIGUSR2: self._usr2,
            signal.SIGCONT: self._cont,
        }
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        return list(handlers)

    def _wake_loop(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.event.set()

    def _stopping(self, reason: str, *, kill: bool) -> None:
        self.stop_reason = self.stop_reason or reason
        first = not self.shutdown
        self.shutdown = True
        if first:
            try:
                self.app.hooks.shutdown(self)
            except Exception:
                log.exception("a shutdown hook raised")
        if kill and self.dispatcher is not None:
            self.kill_job = True
            self.dispatcher.stop_all()
        self._wake_loop()

    def _quit(self) -> None:
        log.info("QUIT: finishing the running jobs, then exiting")
        self._stopping("QUIT", kill=False)

    def _term(self) -> None:
        if self.options.graceful_term is not None and self.graceful_deadline is None:
            log.info("TERM: finishing within %gs, then requeueing", self.options.graceful_term)
            self.graceful_deadline = time.monotonic() + self.options.graceful_term
            self._stopping("TERM", kill=False)
            return
        log.info("TERM: stopping the running jobs now, then exiting")
        self._stopping("TERM", kill=True)

    def _int(self) -> None:
        log.info("INT: stopping the running jobs now, then exiting")
        self._stopping("INT", kill=True)

    def _usr1(self) -> None:
        log.info("USR1: stopping the running jobs")
        if self.dispatcher is not None:
            self.kill_job = True
            self.dispatcher.stop_all()
        self._wake_loop()

    def _usr2(self) -> None:
        log.info("USR2: pausing (the running jobs finish, no new ones)")
        self.paused = True
        self._wake_loop()

    def _cont(self) -> None:
        if self.paused:
            log.info("CONT: resuming")
        self.paused = False
        self._wake_loop()

    def _obey(self, command: str) -> None:
        """A command through Redis (the heartbeat thread): ``quiet`` as QUIT, ``stop`` as
        TERM, each once (a ``stop`` after a ``quiet`` still stops the running jobs)."""
        remote = self.remote
        if command == remote.obeyed or remote.obeyed == "stop":
            return
        remote.obeyed = command
        if self.stop_reason is None:
            self.stop_reason = f"{command} (through Redis)"
        what = "finishing the running jobs, then exiting" if command == "quiet" else "stopping them now"
        log.info("%s through Redis: %s", command, what)
        if self._signals_ours:  # the signal path does it all, on the loop
            os.kill(os.getpid(), signal.SIGQUIT if command == "quiet" else signal.SIGTERM)
            return
        loop = self._loop  # a worker run in a thread: the same handlers, posted to its loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(self._quit if command == "quiet" else self._term)

    def _describe_running(self) -> str:
        d = self.dispatcher
        names = [s.running.job.class_name for s in (d.running() if d else []) if s.running is not None]
        return ", ".join(sorted(set(names))[:10]) or "nothing"

    # -- exit ------------------------------------------------------------------------
    async def _exit_async(self, registry: AsyncWorkerRegistry, error: BaseException | None) -> None:
        if self.lag is not None:
            self.lag.stop()
        if self.beat is not None:
            self.beat.stop()  # first: it would register a slot again once unregistered
        d = self.dispatcher
        if d is not None:
            for task in list(d.tasks):
                task.cancel()
            await asyncio.gather(*d.tasks, return_exceptions=True)
            await d.close()
        try:
            self.app.hooks.worker_exit(self)
        except Exception:
            log.exception("a worker_exit hook raised")
        lost: BaseException | None = None
        if self._registered:
            lost = await self._unregister(registry)
        await registry.close()
        unheld = f", {self.unheld} outcomes not written (job no longer held)" if self.unheld else ""
        line = (
            f"worker {self.id} stopped ({self.stop_reason or 'done'}): {self.processed} processed, "
            f"{self.failed} failed{unheld}"
        )
        if lost is not None:
            line += f"; its records stay in Redis until a live worker prunes them ({lost})"
        if self.lag is not None and self.lag.worst >= 1.0:
            line += f"; the event loop was blocked for up to {self.lag.worst:.1f}s"
        (log.info if error is None and lost is None else log.error)("%s", line)

    async def _unregister(self, registry: AsyncWorkerRegistry) -> BaseException | None:
        """Release what each slot holds (a job whose outcome could not be written) and
        unregister the N ids."""
        exc = DirtyExit("Job still being processed when the worker exited")
        lost: BaseException | None = None
        for slot in self.slots:
            for attempt in range(3):
                try:
                    if not await registry.unregister(slot.id, self.nonce):
                        held = await registry.held(slot.id)
                        if held is not None:
                            await asyncio.to_thread(recover_record, self, slot.id, held, exc)
                        await registry.unregister(slot.id, self.nonce)
                    lost = None
                    break
                except registry.connection_errors as error:
                    lost = error
                    await asyncio.sleep(0.5 * (attempt + 1))
        return lost
