"""The in-process executor: jobs run in the worker process itself.

Round trips per successful job: 1 (one RESERVE script records job N done and takes
job N+1). Timeouts by ``SIGALRM``; TERM/USR1 interrupt the job by raising
:class:`~pyresque.core.errors.ShutdownRequested` inside it.
"""

from __future__ import annotations

import time
from typing import Any

from pyresque.core import timefmt
from pyresque.core.errors import ShutdownRequested
from pyresque.core.job import Job
from pyresque.core.loop import LoopBase
from pyresque.core.perform import Outcome, failure_outcome, perform_job
from pyresque.core.proctitle import set_title
from pyresque.core.reservation import Held, Reservation

__all__ = ["InProcessExecutor"]


class InProcessExecutor(LoopBase):
    """Jobs run in the worker process; timeouts by ``SIGALRM``; TERM/USR1 interrupt the job
    by raising :class:`~pyresque.core.errors.ShutdownRequested` inside it."""

    def run(self) -> None:
        """Work until stopped."""
        w = self.worker
        w.kill_callback = self._interrupt
        pending: tuple[str | None, Any] | None = None
        while True:
            if w.paused and not w.shutdown:
                if pending is not None:
                    w.with_backend(lambda p=pending: self.backend.done(w.id, p[0], p[1]))
                    pending = None
                self.pause()
                continue
            take = not w.shutdown and not self.limit_reached()
            if not take and pending is None:
                return
            if take and self.paused_by_key():
                if pending is not None:
                    w.with_backend(lambda p=pending: self.backend.done(w.id, p[0], p[1]))
                    pending = None
                self.wait_paused_by_key()
                continue
            p = pending
            res = w.with_backend(
                lambda p=p, take=take: self.backend.reserve(
                    w.id,
                    w.queues(),
                    timefmt.utc_iso_z(),
                    finish_previous=p is not None,
                    done_job_id=p[0] if p else None,
                    done_result=p[1] if p else None,
                    take=take,
                )
            )
            pending = None
            if not take:
                return
            if res is None:
                if not self.idle():
                    return
                continue
            if isinstance(res, Held):
                w.with_backend(lambda res=res: w.handle_held(res))
                continue
            job, outcome, _ = self.run_one(res)
            w.kill_job = False
            if outcome.ok:
                pending = (job.id if job else None, outcome.result)
            elif w.requeue_interrupted and isinstance(outcome.exception, ShutdownRequested):
                w.with_backend(lambda o=outcome: w.release_held(o.exception, requeue=True))
            else:
                w.with_backend(
                    lambda o=outcome, j=job: self.backend.fail(w.id, o.record, j.id if j else None)
                )

    def _interrupt(self) -> None:
        if self.in_job:
            raise ShutdownRequested("the job was stopped by a signal")
        self.worker._wake()

    def run_one(self, res: Reservation) -> tuple[Job | None, Outcome, float]:
        """Decode, run hooks and perform one reserved job here."""
        w = self.worker
        started = time.monotonic()
        loaded = self.load(res)
        if isinstance(loaded, Outcome):
            self.count(None, loaded, started)
            return None, loaded, started
        job = loaded
        set_title(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
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
        self.count(job, outcome, started)
        return job, outcome, started
