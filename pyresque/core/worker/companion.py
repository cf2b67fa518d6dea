"""A process the worker runs beside itself: ``pyresque worker --with-scheduler``.

The worker forks a :class:`Companion` (the scheduler, built by the CLI: the worker
runtime never imports scheduling) when it starts, restarts it when it dies (at most
once per :data:`RESTART_DELAY`), and stops it with TERM when the worker stops.

Why a sibling process and not a thread (fork mode forks a child per job):

- A thread in the worker would be copied, mid-step, into every job child forked
  while it runs. Whatever lock it held at that instant (redis-py's connection pool,
  a logging handler, the import lock, or a lock in a user's ``before_enqueue`` /
  ``before_delayed_enqueue`` hook, which the scheduler runs) stays locked forever in
  the child, and the job deadlocks. A separate process shares no lock with the job
  children: they are forked from the worker, never from the scheduler.
- The companion itself is forked from the worker's main thread, at start before the
  heartbeat thread exists. A restart happens with the heartbeat thread running: the
  companion then touches only what a job child touches too (logging, whose locks the
  logging module re-initialises in a forked child, and redis-py, which builds a fresh
  connection pool when it sees a new pid, under a lock no parent thread takes).
- A scheduler stuck on a slow hook or a large backlog never delays a job, and a
  job's crash or timeout kill never takes the scheduler with it.

The companion dies with the worker: Linux's ``PR_SET_PDEATHSIG`` sends it TERM when
the worker's process ends (even by ``kill -9``), so it releases its leader lock on the
way out and another worker's scheduler takes over at its next poll; elsewhere it
checks its parent each second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from pyresque.core.worker.childpipe import die_with_parent
from pyresque.core.worker.voice import exception_text

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["Companion", "CompanionTask", "RESTART_DELAY"]

log = logging.getLogger("pyresque.worker")

#: Seconds between two starts of a companion that keeps dying.
RESTART_DELAY = 5.0
#: Seconds a stopping companion gets to finish its step before SIGKILL.
STOP_TIMEOUT = 10.0

_SIGNALS = {signal.SIGQUIT, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT}


class CompanionTask(Protocol):
    """What a companion runs: :meth:`run` blocks until :meth:`stop` (called from a
    signal handler) asks it to finish its step and return."""

    def run(self) -> None:
        """Work until stopped."""

    def stop(self) -> None:
        """Ask :meth:`run` to return (safe from a signal handler)."""


class Companion:
    """A supervised sibling process of the worker.

    Args:
        name: what it is, for log lines and the process title (``scheduler``).
        make: builds the task in the new process, given the worker (it may read its id).
    """

    def __init__(self, name: str, make: Callable[[Worker], CompanionTask]) -> None:
        self.name = name
        self.make = make
        self.pid: int | None = None
        self._started_at = 0.0
        self._checked = 0.0

    # -- parent side -----------------------------------------------------------------
    def start(self, worker: Worker) -> None:
        """Fork the companion (signals blocked across the fork, as for a job child)."""
        self._started_at = time.monotonic()
        parent = os.getpid()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            raise
        if pid == 0:
            code = 1
            try:
                code = self._child(worker, parent, previous)
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        self.pid = pid
        log.info("%s running in process %d beside worker %s", self.name, pid, worker.id)

    def check(self, worker: Worker) -> None:
        """Restart the companion if it died (cheap: at most one ``waitpid`` a second;
        no Redis). Called from the worker's loop."""
        now = time.monotonic()
        if now - self._checked < 1.0 or worker.shutdown:
            return
        self._checked = now
        if self.pid is not None:
            try:
                done, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, status = self.pid, 0
            if not done:
                return
            log.warning("the %s process %d %s; starting it again", self.name, self.pid, _how_it_ended(status))
            self.pid = None
        if now - self._started_at >= RESTART_DELAY:
            self.start(worker)

    def stop(self) -> None:
        """TERM the companion and wait for it (SIGKILL after :data:`STOP_TIMEOUT`)."""
        pid, self.pid = self.pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while True:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            if time.monotonic() > deadline:
                log.warning("the %s process %d did not stop in %g s: killed", self.name, pid, STOP_TIMEOUT)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, 0)
                return
            time.sleep(0.02)

    # -- child side ------------------------------------------------------------------
    def _child(self, worker: Worker, parent: int, mask: set[int | signal.Signals]) -> int:
        with contextlib.suppress(ValueError, OSError):
            signal.set_wakeup_fd(-1)
        if not die_with_parent(parent, signal.SIGTERM):  # TERM: it releases its lock
            os.kill(os.getpid(), signal.SIGTERM)  # the worker died before: stop at once
        task = self.make(worker)

        def _stop(signum: int, frame: object) -> None:
            task.stop()

        for sig in (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _stop)
        for sig in (signal.SIGUSR1, signal.SIGUSR2):  # the worker's pause signals: not ours
            signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        _set_title(f"resque-scheduler-pyresque: {self.name} of worker {worker.id}")
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        watcher = threading.Thread(target=_watch_parent, args=(parent, task), daemon=True)
        watcher.start()
        try:
            task.run()
        except Exception as exc:
            log.error("the %s process stopped by an error: %s", self.name, exception_text(exc))
            return 1
        return 0


def _how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _watch_parent(parent: int, task: CompanionTask) -> None:
    """Where there is no ``PR_SET_PDEATHSIG``: stop once the worker is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    task.stop()


def _set_title(text: str) -> None:
    try:
        from setproctitle import setproctitle
    except ImportError:  # pragma: no cover - a dependency
        return
    setproctitle(text)
