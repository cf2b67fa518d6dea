"""The forked child: runs its job (and, in fork-every mode, up to N jobs), then exits.

A child talks to its parent over a pipe, one line per message:

- ``S <deadline>``: a job started; the parent SIGKILLs the child past that monotonic
  deadline (sent only when a timeout applies; ``S 0`` clears it);
- ``E``: the child is idle (no deadline);
- ``n <count>``: how many jobs this child ran (when more than one), before its last
  outcome or, when it wrote every outcome itself, before it exits;
- ``f``: a job that is not its last failed (``fork-every``: the child wrote its record;
  the parent only counts it);
- ``D <token> <id> <result JSON>`` / ``F <token> <id> <failure JSON>``: the outcome of
  its last job (``token``: its reservation), handed over for the parent to write, fused
  with its next reserve.

A *spare* child is forked ahead of time (fork per job, no ``before_fork`` hook): it
waits on a second pipe for its job (framed: :mod:`pyresque.core.worker.childpipe`),
so the fork is off the job's critical path.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import time
from typing import TYPE_CHECKING, Any

from pyresque.core.errors import ShutdownRequested, UnknownJobClass
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.reservation import NOT_HELD, Reservation, Step
from pyresque.core.status_result import status_result_json
from pyresque.core.worker.childpipe import ChildProc, die_with_parent, load_libc, read_job, send_job
from pyresque.core.worker.loop import Pending, reserve_step
from pyresque.core.worker.perform import (
    Outcome,
    bad_payload_record,
    decode_job,
    failure_outcome,
    is_bad_payload,
    job_timeout,
    perform_job,
)
from pyresque.core.worker.proctitle import set_title
from pyresque.core.worker.voice import exception_text, log_job
from pyresque.serializers.json import dumps_text

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["ChildProc", "TIMEOUT_GRACE", "send_job", "spawn"]

log = logging.getLogger("pyresque.worker")

#: Extra seconds the parent gives a child past its job's timeout before SIGKILL.
TIMEOUT_GRACE = 2.0

_CHILD_SIGNALS = {
    signal.SIGQUIT,
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGUSR1,
    signal.SIGUSR2,
    signal.SIGCONT,
}


def spawn(worker: Worker, per_child: int, job: Job | None, token: str = "") -> ChildProc:
    """Fork a child for ``job`` (reserved with ``token``), or a spare waiting for one
    (``job=None``)."""
    load_libc()
    gc.freeze()  # the child then touches (and copies) fewer pages
    r, wfd = os.pipe()
    jr, jw = os.pipe() if job is None else (-1, -1)
    # Signals are blocked across the fork: one sent to the new child before it has its
    # own handlers would otherwise run the parent's handler in the child (and be lost
    # when setup() resets the worker's flags). Pending ones arrive once unblocked.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _CHILD_SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        raise
    if pid == 0:  # child
        code = 1
        try:
            os.close(r)
            if jw >= 0:
                os.close(jw)
            child = Child(worker, wfd, per_child)
            child.setup()
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
            first = (job, token) if job is not None else child.wait_for_job(jr)
            code = child.run(*first) if first is not None else 0
        except BaseException as exc:
            _log_crash(worker, exc)
        finally:
            os._exit(code)
    signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    os.close(wfd)
    if jr >= 0:
        os.close(jr)
    return ChildProc(pid, r, jw if jw >= 0 else None)


def _log_crash(worker: Worker, exc: BaseException) -> None:
    """One line for a child that ends by an error (a traceback only for an unexpected one)."""
    if isinstance(exc, worker.app.backend.connection_errors):
        log.error("child %d of %s stopped: the backend is unreachable (%s)", os.getpid(), worker.id, exc)
    else:
        log.error("child %d of %s crashed: %s", os.getpid(), worker.id, exception_text(exc), exc_info=exc)


def result_json(result: Any) -> str:
    """A job's return value as status JSON (see :mod:`pyresque.core.status_result`)."""
    return status_result_json(result)


class _ChildWake(Exception):
    """Raised by a child's signal handler to cut its idle wait short."""


class Child:
    """The forked process: runs the job (and up to ``per_child - 1`` more)."""

    def __init__(self, worker: Worker, wfd: int, per_child: int) -> None:
        self.worker = worker
        self.wfd = wfd
        self.per_child = per_child
        self.stop = False
        #: a TERM/INT/USR1 that came while no job was running: the next job is failed
        #: before it starts (the parent asked for the job it handed over to be stopped)
        self.killed_by: str | None = None
        self.in_job = False
        self.idle = False
        self.deadline_sent = False
        self.repeated = False
        self.backend = worker.registry

    def _send(self, text: str) -> None:
        view = memoryview(text.encode() + b"\n")
        while view:  # a write to a pipe may be partial (a signal mid-write)
            view = view[os.write(self.wfd, view) :]

    def stopping(self) -> bool:
        """Whether a signal asked this child to stop (read fresh: handlers set it)."""
        return self.stop

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stop = True
        if self.idle:
            raise _ChildWake()

    def _on_kill(self, signum: int, frame: object) -> None:
        self.stop = True
        if self.in_job:
            raise ShutdownRequested(f"the job was stopped by {signal.Signals(signum).name}")
        if self.idle:
            raise _ChildWake()
        self.killed_by = signal.Signals(signum).name

    def setup(self) -> None:
        """Become a child: die with the parent, own signal handlers, no GC."""
        w = self.worker
        gc.disable()  # a short-lived child: collecting would only copy pages
        if not die_with_parent(w.pid):
            os._exit(1)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGQUIT, signal.SIGUSR2):
            signal.signal(sig, self._on_stop)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, self._on_kill)
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        # a parent already told to stop (or pause) before this fork: this child stops too
        self.stop = self.stop or w.shutdown or w.paused
        w.shutdown = w.kill_job = w.paused = False
        w.graceful_deadline = None

    def wait_for_job(self, job_r: int) -> tuple[Job, str] | None:
        """A spare: wait for the job the parent sends, with its reservation token
        (``None``: the parent closed the pipe without one: it discarded this spare).

        No signal cuts this wait short, and a stop inherited at the fork does not skip it:
        the job is reserved before it is written here, and the parent relays QUIT (and
        TERM) to this child right after writing it, often before this child has been
        scheduled to read it. QUIT or USR2 then means: run that job, then exit; TERM,
        INT or USR1: fail it before it starts (:attr:`killed_by`). A spare the parent
        does not use is closed (EOF), or killed with its parent (``PR_SET_PDEATHSIG``)."""
        if self.per_child > 1:  # it will reserve jobs itself: connect now, not on a job's time
            with contextlib.suppress(*self.worker.app.backend.connection_errors):
                self.backend.warm_up()
        try:
            framed = read_job(job_r)
        finally:
            os.close(job_r)
        if framed is None:
            return None
        queue, payload, token = framed
        job = decode_job(self.worker, payload, queue)
        return job, token

    def run(self, job: Job, token: str) -> int:
        """Run jobs; return the exit code (0: every job's outcome was written)."""
        current: tuple[Job, str] | None = (job, token)
        pause_checked = time.monotonic()
        done = 0
        first = True
        while current is not None:
            job, token = current
            outcome = self.perform(job, first)
            first = False
            done += 1
            now = time.monotonic()
            if now - pause_checked >= 1.0:  # Ruby's pause-all-workers: hand back and exit
                pause_checked = now
                paused = self.worker.remote.pause_all(lambda: bool(self.write(self.backend.paused_all)))
                self.stop = self.stop or paused
            last = self.stop or done >= self.per_child
            if last:  # the parent writes it, fused with its next reserve
                self.hand_off(outcome, job, token, done)
                return 0
            if outcome.ok:
                nxt = self.reserve((token, job.id, outcome.result))
            else:
                self.fail(outcome.record, job.id, token)
                self._send("f")
                nxt = self.reserve(None)
            current = self.next_job(nxt)
        if done > 1:  # every outcome is written: only the count goes to the parent
            self._send(f"n {done}")
        return 0

    def reserve(self, pending: Pending | None) -> Reservation | None:
        """Write ``pending`` and reserve the next job (one step, safe to repeat)."""
        w = self.worker
        queues = self.write(w.queues)  # patterns read the queues set
        step: Step = self.write(reserve_step(w, queues, pending))
        if step.finished == NOT_HELD and not self.repeated:
            job_id = pending[1] if pending else None
            log.warning("job id=%s: its success is not recorded: the worker no longer held it", job_id or "-")
        # a Held record cannot come back here: the parent deals with those before forking
        return step.taken if isinstance(step.taken, Reservation) else None

    def fail(self, record: FailureRecord | None, job_id: str | None, token: str) -> None:
        """Write a failed job's record and release it (safe to repeat)."""
        w = self.worker
        written = self.write(lambda: self.backend.fail(w.id, record, job_id, token=token))
        if not written and not self.repeated:
            log.warning("job id=%s: its failure is not recorded: the worker no longer held it", job_id or "-")

    def hand_off(self, outcome: Outcome, job: Job, token: str, done: int = 1) -> None:
        """Send the last job's outcome to the parent: ``D <token> <id> <result JSON>`` or
        ``F <token> <id> <failure JSON>`` (compact JSON never holds a raw newline),
        after ``n <jobs run>`` when this child ran more than one."""
        job_id = job.id or "-"
        count = f"n {done}\n" if done > 1 else ""
        if outcome.ok:
            self._send(f"{count}D {token} {job_id} {result_json(outcome.result)}")
        else:
            record = dumps_text(outcome.record.to_dict()) if outcome.record is not None else "-"
            self._send(f"{count}F {token} {job_id} {record}")

    def next_job(self, nxt: Reservation | None) -> tuple[Job, str] | None:
        """Decode the next reserved job, failing unusable payloads on the way; when the
        queues are empty, wait for a job here (an idle child starts a job as fast as an
        in-process worker), up to one heartbeat interval, then exit."""
        w = self.worker
        idle_since: float | None = None
        while True:
            if nxt is not None:
                try:
                    return decode_job(w, nxt.payload, nxt.queue), nxt.token
                except Exception as exc:
                    if not is_bad_payload(exc):
                        raise
                    record = bad_payload_record(w, nxt.payload, nxt.queue, exc)
                    bad = Outcome(ok=False, exception=exc, record=record)
                    log_job(None, bad, time.monotonic(), queue=nxt.queue)
                    self.fail(record, None, nxt.token)
            elif self.stop or w.options.burst:
                return None
            else:
                now = time.monotonic()
                if idle_since is None:
                    idle_since = now
                    if self.deadline_sent:
                        self._send("E")
                        self.deadline_sent = False
                    set_title(f"Waiting for {','.join(w.queues()) or w.selector}")
                elif now - idle_since > min(w.options.heartbeat_interval or 60.0, 60.0):
                    return None  # let the parent prune and fork afresh
                self.idle = True
                try:
                    if self.stopping():  # a signal between the check above and here
                        return None
                    self.write(lambda: w.wait_for_jobs())
                except _ChildWake:
                    return None
                finally:
                    self.idle = False
            nxt = self.reserve(None)

    def write(self, step: Any) -> Any:
        """A backend write, retried with backoff for up to a minute while Redis is away
        (every step passed here is safe to repeat; ``repeated`` says whether it was)."""
        delay = 0.1
        give_up = time.monotonic() + 60
        self.repeated = False
        while True:
            try:
                return step()
            except self.worker.app.backend.connection_errors:
                self.repeated = True
                if time.monotonic() > give_up:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def perform(self, job: Job, first: bool) -> Outcome:
        w = self.worker
        set_title(f"Processing {job.queue} since {int(time.time())} [{job.class_name}]")
        try:
            timeout = job_timeout(w.app.registry.resolve(job.class_name), w.options.timeout)
        except UnknownJobClass:
            timeout = w.options.timeout
        if timeout or self.deadline_sent:  # the parent enforces it (no message when there is none)
            self._send(f"S {time.monotonic() + timeout + TIMEOUT_GRACE if timeout else 0}")
            self.deadline_sent = bool(timeout)
        started = time.monotonic()
        try:
            self.in_job = True
            try:
                if self.killed_by is not None:  # stopped before it started: recorded, not run
                    raise ShutdownRequested(f"the job was stopped by {self.killed_by} before it started")
                if first and w.app.hooks.has("pyresque_after_fork"):
                    w.app.hooks.after_fork(w, job)
                outcome = perform_job(w, job, timeout=w.options.timeout)
            finally:
                self.in_job = False
        except BaseException as exc:
            outcome = failure_outcome(w, job, exc)
        log_job(job, outcome, started)
        return outcome
