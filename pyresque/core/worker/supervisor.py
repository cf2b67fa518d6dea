"""``COUNT=n``: a parent that runs n workers, restarts any that dies, forwards signals."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyresque.core.worker.proctitle import set_title
from pyresque.core.worker.voice import exception_text

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["Supervisor"]

log = logging.getLogger("pyresque.worker")

_FORWARDED = (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)
_STOPPING = (signal.SIGQUIT, signal.SIGTERM, signal.SIGINT)
#: A worker's exit code after a quiet/stop through Redis: the supervisor lets it go.
STOPPED_THROUGH_REDIS = 3


class Supervisor:
    """Runs ``count`` workers, each built by ``build()`` in its own forked process.

    A worker that exits while the supervisor is not stopping is restarted (unless it was
    quieted or stopped through Redis: exit code ``STOPPED_THROUGH_REDIS``) (at most one
    restart per slot per second, so a crashing setup never spins). QUIT/TERM/INT are
    forwarded and the supervisor exits once every worker has; USR1/USR2/CONT are
    forwarded as they are.
    """

    def __init__(self, build: Callable[[], Worker], count: int) -> None:
        self.build = build
        self.count = count
        self.children: dict[int, int] = {}  # pid -> slot
        self.started_at: dict[int, float] = {}  # slot -> last start
        self.stopping = False

    def _forward(self, signum: int, frame: object) -> None:
        if signum in _STOPPING:
            self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def spawn(self, slot: int) -> None:
        """Fork one worker for ``slot``."""
        wait = self.started_at.get(slot, 0.0) + 1.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.started_at[slot] = time.monotonic()
        pid = os.fork()
        if pid == 0:
            code = 1
            worker: Worker | None = None
            try:
                for sig in _FORWARDED:
                    signal.signal(sig, signal.SIG_DFL)
                worker = self.build()
                worker.control_pid = os.getppid()  # QUIT goes to the supervisor
                worker.work()
                code = STOPPED_THROUGH_REDIS if worker.remote.obeyed else 0
            except BaseException as exc:
                if worker is None or not worker.exit_logged:  # else its stop line said it
                    log.error("worker process crashed: %s", exception_text(exc), exc_info=exc)
            finally:
                os._exit(code)
        self.children[pid] = slot
        log.info("supervisor started worker pid %d (slot %d)", pid, slot)

    def run(self) -> None:
        """Start the workers and supervise them until told to stop."""
        for sig in _FORWARDED:
            signal.signal(sig, self._forward)
        set_title(f"Supervising {self.count} workers")
        for slot in range(self.count):
            self.spawn(slot)
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid not in self.children:
                continue
            slot = self.children.pop(pid)
            if os.waitstatus_to_exitcode(status) == STOPPED_THROUGH_REDIS:
                log.info("worker pid %d was quieted or stopped through Redis; not restarting it", pid)
            elif not self.stopping:
                log.warning("worker pid %d exited (status %d); restarting", pid, status)
                self.spawn(slot)
