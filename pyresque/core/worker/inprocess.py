"""The in-process executor: jobs run in the worker process itself.

Round trips per successful job: 1 (one RESERVE script records job N done and takes
job N+1). Timeouts by ``SIGALRM``, backed by a hard deadline
(:mod:`pyresque.core.worker.watchdog`) for a job that ignores it; TERM/USR1 interrupt the job by
raising :class:`~pyresque.core.errors.ShutdownRequested` inside it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pyresque.core.errors import ShutdownRequested
from pyresque.core.job import Job
from pyresque.core.reservation import Reservation
from pyresque.core.worker.loop import LoopBase, Pending
from pyresque.core.worker.perform import Outcome, failure_outcome, job_timeout, perform_job
from pyresque.core.worker.proctitle import set_title
from pyresque.core.worker.watchdog import Watchdog

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["InProcessExecutor"]


class InProcessExecutor(LoopBase):
    """Jobs run in the worker process; timeouts by ``SIGALRM``; TERM/USR1 interrupt the job
    by raising :class:`~pyresque.core.errors.ShutdownRequested` inside it."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker)
        self.watchdog = Watchdog(worker)

    def _run(self) -> None:
        w = self.worker
        w.kill_callback = self._interrupt
        pending: Pending | None = None
        while True:
            res = self.next_job(pending)
            pending = None
            if res is None:
                return
            job, outcome, _ = self.run_one(res)
            w.kill_job = False
            if outcome.ok:
                pending = (res.token, job.id if job else None, outcome.result)
            elif w.requeue_interrupted and isinstance(outcome.exception, ShutdownRequested):
                w.with_backend(lambda o=outcome: w.release_held(o.exception, requeue=True))
            else:
                self.fail(outcome.record, job.id if job else None, res.token, job.class_name if job else None)

    def _interrupt(self) -> None:
        if self.in_job:
            raise ShutdownRequested("the job was stopped by a signal")
        self.worker.wake()

    def run(self) -> None:
        """Work until stopped (the watchdog thread ends with it)."""
        try:
            self._run()
        finally:
            self.watchdog.stop()

    def run_one(self, res: Reservation) -> tuple[Job | None, Outcome, float]:
        """Decode, run hooks and perform one reserved job here (watched past its timeout)."""
        w = self.worker
        started = time.monotonic()
        loaded = self.load(res)
        if isinstance(loaded, Outcome):
            self.count(None, loaded, started, queue=res.queue)
            return None, loaded, started
        job = loaded
        set_title(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
        try:
            timeout = job_timeout(w.app.registry.resolve(job.class_name), w.options.timeout)
        except Exception:  # an unknown class fails in perform_job, at once
            timeout = None
        if timeout:
            self.watchdog.arm(job, res.token, timeout)
        try:
            self.in_job = True
            try:
                if w.app.hooks.has("pyresque_before_fork"):
                    w.app.hooks.before_fork(w, job)
                outcome = perform_job(w, job, timeout=w.options.timeout)
            finally:
                self.in_job = False
        except BaseException as exc:  # before_fork failed, or an interrupt landed between steps
            outcome = failure_outcome(w, job, exc)
        finally:
            if timeout:
                self.watchdog.disarm()
        self.count(job, outcome, started)
        return job, outcome, started
