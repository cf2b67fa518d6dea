"""What keeps the async worker's slots alive however busy or blocked its loop is: a
heartbeat thread (:class:`SlotBeat`) and a loop-lag watchdog (:class:`LagWatch`).

Neither depends on the worker's event loop. :class:`SlotBeat` runs a loop of its own
on a thread, with connections of its own: every lease interval it refreshes the lease
of every slot id (one round trip for all of them), every heartbeat interval it writes
their heartbeats and registers again any id that went missing from ``workers`` (Redis
lost its data, a foreign tool unregistered it). With the lease refresh it reads the
slots' control keys (one MGET, :mod:`pyresque.core.control`) and hands the strongest
command for this process's nonce to ``obey`` (the worker signals itself). So a full
concurrency cap, a slow
Redis reply on the hot connection or a job that blocks the loop (sync code inside an
``async def``) never lets a live worker look dead to a pruner.

:class:`LagWatch` posts a callback to the worker's loop four times a second from a
thread; when one has waited more than ``threshold`` seconds it logs a warning naming
the jobs running then (one of them blocks the loop), and again when the loop runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence

from pyresque.backends.aio.workers import AsyncWorkerRegistry
from pyresque.core import timefmt
from pyresque.core.worker.identity import lease_detail

__all__ = ["LagWatch", "SlotBeat"]

log = logging.getLogger("pyresque.worker")


class SlotBeat:
    """The slots' heartbeat thread (see the module docstring).

    Args:
        ids: the slot ids (read at each beat: the list may be replaced whole).
        nonce: this process's instance (the leases carry it).
        make_registry: builds the thread's own registry (its own connections).
        lease_interval / heartbeat_interval: seconds.
        commands: reads the slots' command (``ids, nonce`` -> ``"quiet"``, ``"stop"`` or
            ``None``; a sync call, one MGET), after each lease refresh; ``None``: none.
        obey: called on this thread with each command read.
    """

    def __init__(
        self,
        ids: Callable[[], Sequence[str]],
        nonce: str,
        make_registry: Callable[[], AsyncWorkerRegistry],
        lease_interval: float,
        heartbeat_interval: float,
        commands: Callable[[Sequence[str], str], str | None] | None = None,
        obey: Callable[[str], None] | None = None,
    ) -> None:
        self._ids = ids
        self._nonce = nonce
        self._make = make_registry
        self._lease_interval = lease_interval
        self._heartbeat_interval = heartbeat_interval
        self._commands = commands
        self._obey = obey
        self._seq = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        #: heartbeats written (for tests and the exit line)
        self.beats = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name="pyresque-slot-beat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits a little for it)."""
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # its loop already closed
                loop.call_soon_threadsafe(wake.set)
        if self._thread is not None:
            self._thread.join(3)
            self._thread = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # pragma: no cover - a bug here must not end the process
            log.exception("the heartbeat thread stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        registry = self._make()
        next_beat = time.monotonic() + self._heartbeat_interval
        clashes: set[str] = set()
        try:
            while not self._stop.is_set():
                try:
                    await self._beat_once(registry, clashes, time.monotonic() >= next_beat)
                    if time.monotonic() >= next_beat:
                        next_beat = time.monotonic() + self._heartbeat_interval
                except Exception as exc:
                    log.warning("heartbeat failed: %s", exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._lease_interval)
        finally:
            await registry.close()

    async def _beat_once(self, registry: AsyncWorkerRegistry, clashes: set[str], full: bool) -> None:
        ids = list(self._ids())
        self._seq += 1
        others = await registry.claim(ids, self._nonce, lease_detail(self._seq), 3 * self._lease_interval)
        for worker_id, other in zip(ids, others, strict=True):
            if other is not None and worker_id not in clashes:
                clashes.add(worker_id)
                log.error("worker id %s is also in use by another live process (%s)", worker_id, other)
        if self._commands is not None and self._obey is not None:
            command = self._commands(ids, self._nonce)
            if command is not None:
                self._obey(command)
        if not full:
            return
        present = await registry.registered(ids)
        missing = [worker_id for worker_id, there in zip(ids, present, strict=True) if not there]
        if missing:
            log.warning(
                "%d slot(s) were no longer registered (%s ...): registering again", len(missing), missing[0]
            )
            await registry.register(missing, timefmt.ruby_time_to_s())
        await registry.heartbeat(ids)
        self.beats += 1


class LagWatch:
    """Logs when the event loop ``loop`` has not run a callback for ``threshold`` seconds.

    Args:
        describe: what is running (called from the watchdog's thread when it logs).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, describe: Callable[[], str], threshold: float = 1.0
    ) -> None:
        self._loop = loop
        self._describe = describe
        self._threshold = threshold
        self._posted: float | None = None
        self._reported = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the longest block seen (seconds)
        self.worst = 0.0

    def start(self) -> None:
        """Start watching."""
        self._thread = threading.Thread(target=self._run, name="pyresque-loop-lag", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def _run(self) -> None:
        period = min(0.25, self._threshold / 2)
        while not self._stop.wait(period):
            posted = self._posted
            if posted is None:
                self._posted = time.monotonic()
                try:
                    self._loop.call_soon_threadsafe(self._seen)
                except RuntimeError:  # the loop is closed
                    return
                continue
            lag = time.monotonic() - posted
            if lag >= self._threshold and not self._reported:
                self._reported = True
                try:
                    running = self._describe()
                except Exception:  # read from another thread: never mind the details
                    running = "?"
                log.warning(
                    "the event loop is blocked (%.1fs so far): a job is running blocking code on it "
                    "(sync I/O or CPU work inside an async def?); running now: %s; heartbeats go on",
                    lag,
                    running,
                )

    def _seen(self) -> None:
        posted = self._posted
        if posted is not None:
            lag = time.monotonic() - posted
            self.worst = max(self.worst, lag)
            if self._reported:
                log.warning("the event loop runs again after being blocked for %.1fs", lag)
        self._reported = False
        self._posted = None
