"""Steps every executor shares: idle waits, pause, decoding, counting, and the
writes of a job's outcome (each safe to repeat after a lost reply: see
:mod:`pyresque.core.reservation`)."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.core import timefmt
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.reservation import NOT_HELD, Held, Reservation, Step, new_token
from pyresque.core.worker.perform import Outcome, bad_payload_record, decode_job, is_bad_payload
from pyresque.core.worker.proctitle import set_title
from pyresque.core.worker.sharding import prune
from pyresque.core.worker.voice import log_job

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["LoopBase", "Pending", "reserve_step"]

#: A success waiting to be written with the next reserve: (token, job id, result).
Pending = tuple[str, str | None, Any]

log = logging.getLogger("pyresque.worker")


def reserve_step(
    worker: Worker, queues: list[str], pending: Pending | None, *, take: bool = True
) -> Callable[[], Step]:
    """The fused "write ``pending``, reserve the next job" step, with its run-at time
    and reservation token drawn once, so that every repeat of it is the same call."""
    run_at = timefmt.utc_iso_z()
    token = new_token()
    backend = worker.registry
    return lambda: backend.reserve(
        worker.id,
        queues,
        run_at,
        token=token,
        finish_previous=pending is not None,
        done_token=pending[0] if pending else "",
        done_job_id=pending[1] if pending else None,
        done_result=pending[2] if pending else None,
        take=take,
    )


class LoopBase:
    """What every executor does around its jobs."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.backend = worker.registry
        self.in_job = False
        self._last_prune = time.monotonic()
        self._pause_checked = 0.0
        self._paused_all = False

    def paused_by_key(self) -> bool:
        """Ruby's ``pause-all-workers`` key says ``true`` (read at most once a second,
        with ``paused-queues`` where the backend is one Redis: no round trip per job)."""
        return self.worker.remote.pause_all(self._read_pause_key)

    def _read_pause_key(self) -> bool:
        now = time.monotonic()
        if now - self._pause_checked >= 1.0:
            self._pause_checked = now
            self._paused_all = bool(self.worker.with_backend(self.backend.paused_all))
        return self._paused_all

    def wait_paused_by_key(self) -> None:
        """Sleep a second (signals cut it short) while ``pause-all-workers`` is set."""
        set_title("Paused (pause-all-workers)")
        fd = self.worker.wakeup_fd
        if fd is not None:
            select.select([fd], [], [], 1.0)
            self.worker.drain_wakeup()
        else:
            time.sleep(1.0)

    def next_job(self, pending: Pending | None) -> Reservation | None:
        """Write ``pending`` (a success) and take the next job, pausing, idling and
        recovering a held record on the way; ``None`` when the worker should stop.
        The loop both executors share."""
        w = self.worker
        while True:
            for companion in w.companions:  # at most one waitpid a second, no Redis
                companion.check(w)
            if w.paused and not w.shutdown:
                self.finish(pending)
                pending = None
                self.before_pause()
                self.pause()
                continue
            if w.shutdown or self.limit_reached():
                if not w.shutdown and w.stop_reason is None:
                    w.stop_reason = f"max_jobs={w.options.max_jobs} reached"
                self.finish(pending)
                return None
            if self.paused_by_key():
                self.finish(pending)
                pending = None
                self.before_pause()
                self.wait_paused_by_key()
                continue
            res = self.reserve(pending).taken
            pending = None
            if res is None:
                if not self.idle():
                    return None
                continue
            if isinstance(res, Held):
                w.with_backend(lambda res=res: w.handle_held(res))
                continue
            return res

    def before_pause(self) -> None:
        """Called before a pause (USR2 or ``pause-all-workers``): nothing by default."""

    def reserve(self, pending: Pending | None, *, take: bool = True) -> Step:
        """Write ``pending`` (a success) and reserve the next job, in one step; retried
        while Redis is away (a repeat with the same token is safe)."""
        w = self.worker
        if not take:
            queues: list[str] = []
        elif w.selector.dynamic:  # patterns read the queues set: a step of its own
            queues = w.with_backend(w.queues)
        else:
            queues = w.queues()
        step: Step = w.with_backend(reserve_step(w, queues, pending, take=take))
        if step.finished == NOT_HELD and not w.step_repeated:
            self.unheld(pending[1] if pending else None, "success")
        return step

    def finish(self, pending: Pending | None) -> None:
        """Write ``pending`` now (no reserve to fuse it with)."""
        if pending is not None:
            self.reserve(pending, take=False)

    def fail(
        self, record: FailureRecord | None, job_id: str | None, token: str, class_name: str | None = None
    ) -> None:
        """Write a failed job's record (and release it); retried while Redis is away.
        After a Ctrl-C on a terminal, say what became of the job (nothing otherwise)."""
        w = self.worker
        written = w.with_backend(lambda: self.backend.fail(w.id, record, job_id, token=token))
        if not written and not w.step_repeated:
            self.unheld(job_id, "failure")
        if w.ctrl_c.pending:
            if record is not None:
                class_name = str(record.payload.get("class") or class_name or "") or None
            w.ctrl_c.job_stopped(class_name, job_id, recorded=record is not None)

    def unheld(self, job_id: str | None, what: str) -> None:
        """The job's outcome was not written: the worker no longer held it (pruned while
        it ran, e.g. paused past the prune interval; its job was recovered then)."""
        w = self.worker
        w.unheld += 1
        log.warning(
            "job id=%s: its %s is not recorded: this worker no longer held the job (it was "
            "pruned while the job ran and the job was recovered then)",
            job_id or "-",
            what,
        )

    def limit_reached(self) -> bool:
        limit = self.worker.options.max_jobs
        return limit is not None and self.worker.processed >= limit

    def idle(self) -> bool:
        """Nothing to do: returns ``False`` when the worker should stop (burst)."""
        w = self.worker
        unreachable = getattr(self.backend, "any_down", None)  # over shards: one is away
        if w.options.burst and not (callable(unreachable) and unreachable()):
            if w.selector.dynamic:
                w.queues(refresh=True)
            if w.stop_reason is None:
                w.stop_reason = "burst: the queues are empty"
            return False
        if w.app.hooks.has("pyresque_queue_empty"):
            try:
                w.app.hooks.queue_empty(w)
            except Exception:
                log.exception("a queue_empty hook raised")
        now = time.monotonic()
        if now - self._last_prune > w.options.heartbeat_interval:
            self._last_prune = now
            w.with_backend(lambda: prune(w))
        set_title(f"Waiting for {','.join(w.queues()) or w.selector}")
        if w.selector.dynamic:
            w.queues(refresh=True)
        w.with_backend(w.wait_for_jobs)
        return True

    def pause(self) -> None:
        """USR2: stop reserving until CONT (or shutdown)."""
        w = self.worker
        try:
            w.app.hooks.before_pause(w)
        except Exception:
            log.exception("a before_pause hook raised")
        set_title("Paused")
        while w.paused and not w.shutdown:
            fd = w.wakeup_fd
            if fd is not None:
                select.select([fd], [], [], 1.0)
                w.drain_wakeup()
            else:
                time.sleep(0.1)
        try:
            w.app.hooks.after_pause(w)
        except Exception:
            log.exception("an after_pause hook raised")

    def load(self, res: Reservation) -> Job | Outcome:
        """The reserved job, or the failure outcome of an unusable payload."""
        try:
            return decode_job(self.worker, res.payload, res.queue)
        except Exception as exc:
            if not is_bad_payload(exc):
                raise
            return Outcome(  # logged by count(): a WARNING line for a failed "job"
                ok=False, exception=exc, record=bad_payload_record(self.worker, res.payload, res.queue, exc)
            )

    def count(self, job: Job | None, outcome: Outcome, started: float, *, queue: str | None = None) -> None:
        """Count a finished job and log its line (WARNING if it failed; INFO, shown with
        ``-v``, otherwise). ``job`` is ``None`` for a payload that was not a job."""
        w = self.worker
        w.processed += 1
        if not outcome.ok:
            w.failed += 1
        log_job(job, outcome, started, queue=queue)
