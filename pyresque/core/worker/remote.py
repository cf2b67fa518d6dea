"""A sync worker's side of control through Redis (:mod:`pyresque.core.control`).

:class:`RemoteControl` (``worker.remote``) does two things:

- :meth:`RemoteControl.poll`, called by the heartbeat thread after each lease refresh
  (every :attr:`Worker.lease_interval` seconds, 5 at most), reads
  ``worker:<id>:control`` (one GET, never on a job's path) and obeys it once: ``quiet``
  as QUIT, ``stop`` as TERM. A worker running in the main thread sends itself the
  signal, so the handlers do exactly what the signal does (wake an idle wait, kill the
  child, interrupt an in-process job, ``graceful_term``); a worker run in another
  thread (no handlers of its own) sets the same intents directly (its in-process job
  is then not interrupted: ``stop`` waits for it like ``quiet``).
- :meth:`RemoteControl.unpaused` filters the queues a worker reserves from: the queues
  in ``paused-queues`` are dropped. The paused set and ``pause-all-workers`` are read
  together (one pipelined round trip) at most once a second, so the per-job path costs
  nothing more: the reserve script is the same call with fewer queue names.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyresque.core.control import ControlReader

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["RemoteControl"]

log = logging.getLogger("pyresque.worker")

#: Seconds between reads of the paused queues (and ``pause-all-workers``).
PAUSE_READ_INTERVAL = 1.0


class RemoteControl:
    """Commands and paused queues of one worker, read from Redis."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.reader = ControlReader(worker.app.backend)
        #: the command obeyed (``"quiet"``, ``"stop"``) or ``None``
        self.obeyed: str | None = None
        self.paused_all = False
        self.paused: frozenset[str] = frozenset()
        self._read_at = -PAUSE_READ_INTERVAL

    # -- commands (the heartbeat thread) -----------------------------------------------
    def poll(self) -> str | None:
        """Read this worker's command and obey it if it is new; the command read.
        Round trips: 1. Connection errors go to the caller (the heartbeat logs them)."""
        w = self.worker
        command = self.reader.command(w.id, w.nonce)
        if command is not None and command != self.obeyed and self.obeyed != "stop":
            self.obey(command)
        return command

    def obey(self, command: str) -> None:
        """``quiet``: finish the job, then exit; ``stop``: stop the job now, then exit."""
        w = self.worker
        self.obeyed = command
        if w.stop_reason is None:
            w.stop_reason = f"{command} (through Redis)"
        log.info(
            "%s through Redis: %s",
            command,
            "finishing the current job, then exiting" if command == "quiet" else "stopping the job now",
        )
        if w.signals.wakeup_r is not None:  # our handlers: the signal does it all
            os.kill(os.getpid(), signal.SIGQUIT if command == "quiet" else signal.SIGTERM)
            return
        kill = command == "stop" and w.options.mode != "inprocess"
        try:  # a worker in a thread: set its intents (a wake-up meant for it is not ours)
            w.request_shutdown(kill=kill)
        except Exception as exc:  # its _Wake, raised here because it was idle
            if type(exc).__name__ != "_Wake":
                raise

    # -- paused queues (the worker's own thread) ---------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        """Re-read the pause state if it is over a second old (``force``: now). Round
        trips: 0 or 1; a connection error keeps the last state (the reserve that follows
        meets it)."""
        if not self.reader.available:
            return
        now = time.monotonic()
        if not force and now - self._read_at < PAUSE_READ_INTERVAL:
            return
        self._read_at = now
        try:
            self.paused_all, self.paused = self.reader.pause_state()
        except self.worker.app.backend.connection_errors:
            log.debug("could not read the paused queues; keeping the last state")

    def pause_all(self, fallback: Callable[[], bool]) -> bool:
        """``pause-all-workers`` as last read with the paused queues (re-read if over a
        second old); ``fallback()`` reads it where there is no single Redis to ask."""
        if not self.reader.available:
            return fallback()
        self.refresh()
        return self.paused_all

    def unpaused(self, queues: list[str]) -> list[str]:
        """``queues`` without the paused ones (the same list when none is paused)."""
        self.refresh()
        if not self.paused:
            return queues
        return [q for q in queues if q not in self.paused]
