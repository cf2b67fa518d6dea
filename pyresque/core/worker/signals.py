"""Resque's signals turned into a worker's intents.

``QUIT`` finish the job, then exit; ``TERM``/``INT`` stop the job now (its failure is
recorded), then exit; ``USR1`` stop the job now, keep working; ``USR2`` pause;
``CONT`` resume. With ``graceful_term``, ``TERM`` lets the job run up to that many
seconds, then stops it and requeues it. The first ``INT`` on a terminal also arms
the Ctrl-C notice (:mod:`pyresque.core.worker.ctrl_c`).

Handlers only set flags (and interrupt an idle wait or an in-process job); a wake-up
pipe (``signal.set_wakeup_fd``) lets select loops notice a signal at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["WorkerSignals"]

log = logging.getLogger("pyresque.worker")


class WorkerSignals:
    """The worker's signal handlers and wake-up pipe (this process only)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.wakeup_r: int | None = None
        self._wakeup_w = -1
        self._previous_wakeup = -1
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """QUIT, TERM, INT, USR1, USR2, CONT -> intents; undone by :meth:`restore`."""
        handlers = {
            signal.SIGQUIT: self._on_quit,
            signal.SIGTERM: self._on_term,
            signal.SIGINT: self._on_int,
            signal.SIGUSR1: self._on_usr1,
            signal.SIGUSR2: self._on_usr2,
            signal.SIGCONT: self._on_cont,
        }
        self._previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        self.wakeup_r, self._wakeup_w = r, w
        self._previous_wakeup = signal.set_wakeup_fd(w, warn_on_full_buffer=False)

    def restore(self) -> None:
        """Put back the handlers and wake-up fd that were there before :meth:`install`."""
        if self.wakeup_r is None:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(self._previous_wakeup)
        for fd in (self.wakeup_r, self._wakeup_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.wakeup_r = None

    def drain(self) -> None:
        """Empty the wake-up pipe."""
        if self.wakeup_r is None:
            return
        try:
            while os.read(self.wakeup_r, 512):
                pass
        except BlockingIOError:
            pass

    # -- handlers --------------------------------------------------------------------
    def _stopping(self, reason: str) -> None:
        if self.worker.stop_reason is None:
            self.worker.stop_reason = reason

    def _on_quit(self, signum: int, frame: object) -> None:
        log.info("QUIT: finishing the current job, then exiting")
        self._stopping("QUIT")
        self.worker.request_shutdown()

    def _on_term(self, signum: int, frame: object) -> None:
        w = self.worker
        self._stopping("TERM")
        if w.options.graceful_term is not None:
            log.info("TERM: finishing within %gs, then requeueing", w.options.graceful_term)
            if w.graceful_deadline is None:
                w.graceful_deadline = time.monotonic() + w.options.graceful_term
                if w.options.mode == "inprocess":
                    timer = threading.Timer(w.options.graceful_term, w.graceful_expired)
                    timer.daemon = True
                    timer.start()
            w.request_shutdown()
            return
        log.info("TERM: stopping the current job now, then exiting")
        w.request_shutdown(kill=True)

    def _on_int(self, signum: int, frame: object) -> None:
        log.info("INT: stopping the current job now, then exiting")
        self._stopping("INT")
        self.worker.ctrl_c.arm()
        self.worker.request_shutdown(kill=True)

    def _on_usr1(self, signum: int, frame: object) -> None:
        log.info("USR1: stopping the current job")
        self.worker.kill_job = True
        self.worker.on_kill_job()

    def _on_usr2(self, signum: int, frame: object) -> None:
        log.info("USR2: pausing")
        self.worker.paused = True
        self.worker.wake()

    def _on_cont(self, signum: int, frame: object) -> None:
        if self.worker.paused:
            log.info("CONT: resuming")
        self.worker.paused = False
