"""The forking executor: a child per job (``fork``) or per N jobs (``fork-every``).

The parent reserves; a spare child, forked ahead of time, gets each reservation over a
pipe (:mod:`pyresque.core.worker.child`), runs it and hands the outcome back; the parent
watches it for timeouts and signals and kills it when told to.

Round trips per job in every mode (hot path, successful jobs):

- in-process: 1 (one RESERVE script records job N done and takes job N+1);
- fork per job: 1 (the child hands its outcome to the parent over a pipe; the parent
  writes it fused with its next reserve: the child never talks to Redis itself). A
  spare child is forked ahead of time so the fork is off the critical path;
- fork-every-N: 1 (the child fuses done + reserve for its jobs; its last job's outcome
  goes to the parent like fork per job), plus one connection setup per child.

A failed job adds one FAIL script (record + stats + status + release, atomic).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import time
from typing import TYPE_CHECKING

from pyresque.core.errors import DirtyExit, JobTimeoutError
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.reservation import Reservation
from pyresque.core.worker.child import ChildProc, send_job, spawn
from pyresque.core.worker.loop import LoopBase, Pending
from pyresque.core.worker.perform import (
    Outcome,
    failure_outcome,
)
from pyresque.core.worker.proctitle import set_title
from pyresque.core.worker.voice import log_dirty_exit, log_requeued

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["ForkExecutor", "Handoff"]

#: A child's last outcome, handed to the parent: (kind "D"/"F", reservation token,
#: job id, result JSON or failure JSON or "-").
Handoff = tuple[str, str, str | None, str]

log = logging.getLogger("pyresque.worker")


class ForkExecutor(LoopBase):
    """The parent reserves a job and forks a child for it; the child runs it and, with
    ``per_child`` > 1, goes on reserving up to that many jobs itself (fused done +
    reserve), then exits. The parent enforces timeouts and turns a dirty exit into a
    failure (or a requeue, for a graceful TERM past its deadline)."""

    def __init__(self, worker: Worker, per_child: int) -> None:
        super().__init__(worker)
        self.per_child = per_child
        self.child: int | None = None
        self.spare: ChildProc | None = None
        self.exiting: list[int] = []
        #: no before_fork hook: keep a child forked ahead of time (its fork and its
        #: connection happen while the previous child works)
        self.prefork = not worker.app.hooks.has("pyresque_before_fork")

    def run(self) -> None:
        """Work until stopped."""
        try:
            self._run()
        finally:
            self.discard_spare()
            self.reap_exited(block=True)

    def _run(self) -> None:
        w = self.worker
        w.kill_callback = self._kill_child
        pending: Pending | None = None  # a child's success, written with the next reserve
        while True:
            res = self.next_job(pending)
            pending = None
            if res is None:
                return
            started = time.monotonic()
            loaded = self.load(res)
            if isinstance(loaded, Outcome):
                self.count(None, loaded, started, queue=res.queue)
                self.fail(loaded.record, None, res.token)
                continue
            job = loaded
            try:
                if w.app.hooks.has("pyresque_before_fork"):
                    w.app.hooks.before_fork(w, job)
            except Exception as exc:
                outcome = failure_outcome(w, job, exc)
                self.count(job, outcome, started)
                self.fail(outcome.record, job.id, res.token, job.class_name)
                continue
            w.kill_job = False  # a USR1 while idle has no job to stop
            handoff = self.fork(job, res, started)
            if handoff is None:
                continue
            kind, token, job_id, text = handoff
            if kind == "D":
                pending = (token, job_id, json.loads(text))
            else:  # the child logged the failure's line
                record = FailureRecord.from_dict(json.loads(text)) if text != "-" else None
                self.fail(record, job_id, token, job.class_name if self.per_child == 1 else None)

    def before_pause(self) -> None:
        """No spare child waits through a pause."""
        self.discard_spare()

    def _kill_child(self) -> None:
        w = self.worker
        w.wake()

    # -- parent side -----------------------------------------------------------------
    def fork(self, job: Job, res: Reservation, started: float) -> Handoff | None:
        """Run ``job`` in a child (the spare if there is one) and watch it until it exits;
        returns the outcome of its last job, handed over for the parent to write
        (``None`` when it handed none)."""
        w = self.worker
        proc: ChildProc | None = None
        if self.spare is not None:
            spare, self.spare = self.spare, None
            if send_job(spare, res):
                proc = spare
            else:
                self._reap(spare)
        if proc is None:
            proc = spawn(w, self.per_child, job, res.token)
        if self.prefork and not w.shutdown and not w.paused:
            self.spare = spawn(w, self.per_child, None)  # forks while the job runs
        self.child = proc.pid
        set_title(f"Forked {proc.pid} at {int(time.time())}")
        try:
            return self.watch(proc.pid, proc.status_r, job, started)
        finally:
            self.child = None
            os.close(proc.status_r)

    def _reap(self, proc: ChildProc) -> None:
        """Discard a child that never got (or could not take) a job."""
        if proc.job_w is not None:
            os.close(proc.job_w)
            proc.job_w = None
        with contextlib.suppress(ChildProcessError):
            os.waitpid(proc.pid, 0)
        os.close(proc.status_r)

    def idle(self) -> bool:
        """Nothing to do; keep a spare child ready so the next job starts at once."""
        w = self.worker
        if self.prefork and self.spare is None and not w.options.burst and not w.shutdown and not w.paused:
            self.spare = spawn(w, self.per_child, None)
        return super().idle()

    def reap_exited(self, *, block: bool = False) -> None:
        """Collect children that handed over their outcome and are exiting."""
        for pid in list(self.exiting):
            try:
                done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.exiting.remove(pid)

    def discard_spare(self) -> None:
        """Let the spare child go (shutdown, pause)."""
        if self.spare is not None:
            spare, self.spare = self.spare, None
            self._reap(spare)

    def watch(self, pid: int, r: int, job: Job, started: float) -> Handoff | None:
        """Relay signals to the child, enforce deadlines, account for how it ended."""
        w = self.worker
        deadline: float | None = None
        handoff: Handoff | None = None
        reason: str | None = None
        term_sent: float | None = None
        quit_sent: float | None = None
        jobs = 0
        ran = 0  # the child's own count of its jobs (fork-every), sent before its last outcome
        pending: list[bytes] = []
        fds = [r] + ([w.wakeup_fd] if w.wakeup_fd is not None else [])
        while True:
            now = time.monotonic()
            waits = [1.0]
            for t in (deadline, w.graceful_deadline):
                if t is not None:
                    waits.append(max(0.0, t - now))
            if term_sent is not None:
                waits.append(max(0.0, term_sent + w.options.term_timeout - now))
            ready, _, _ = select.select(fds, [], [], min(waits))
            for companion in w.companions:  # a long job does not delay a restart
                companion.check(w)
            if w.wakeup_fd is not None and w.wakeup_fd in ready:
                w.drain_wakeup()
            if r in ready:
                data = os.read(r, 65536)
                if not data:
                    break
                # a long line (a large result or failure) arrives in many reads: keep
                # them apart until its newline comes, so each byte is joined once
                pending.append(data)
                lines: list[bytes] = []
                if b"\n" in data:
                    *lines, rest = b"".join(pending).split(b"\n")
                    pending = [rest] if rest else []
                for line in lines:
                    if line.startswith(b"S"):
                        value = float(line[2:] or 0)
                        deadline = value if value > 0 else None
                        jobs += 1
                    elif line == b"E":
                        deadline = None
                    elif line == b"f":
                        w.failed += 1
                    elif line.startswith(b"n "):
                        ran = int(line[2:])
                    elif line[:1] in (b"D", b"F"):
                        kind, token, job_id, text = line.decode("utf-8").split(" ", 3)
                        handoff = (kind, token, None if job_id == "-" else job_id, text)
                if handoff is not None:
                    break  # the job is over; the child only exits now (reaped later)
            now = time.monotonic()
            if reason is None:
                if w.kill_job:
                    reason = "signal"
                    w.kill_job = False
                    term_sent = now
                    _signal(pid, signal.SIGTERM)
                elif deadline is not None and now >= deadline:
                    reason = "timeout"
                    _signal(pid, signal.SIGKILL)
                elif w.graceful_deadline is not None and now >= w.graceful_deadline:
                    reason = "graceful"
                    _signal(pid, signal.SIGKILL)
            if term_sent is not None and now - term_sent >= w.options.term_timeout:
                _signal(pid, signal.SIGKILL)
                term_sent = None
            if (w.shutdown or w.paused) and (quit_sent is None or now - quit_sent >= 1.0):
                # repeated every second until the child exits: QUIT only ever means
                # "finish, then exit", and a repeat closes any window in which one was lost
                quit_sent = now
                _signal(pid, signal.SIGQUIT)
        w.processed += ran or max(jobs, 1)
        if handoff is not None:
            self.exiting.append(pid)
            self.reap_exited()
            if handoff[0] == "F":
                w.failed += 1
            return handoff
        _, status = os.waitpid(pid, 0)
        if reason == "timeout":
            exc: BaseException = JobTimeoutError("the job ran past its timeout and its process was killed")
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            exc = DirtyExit(f"Child process received unhandled signal {signal.Signals(sig).name}")
        else:
            exc = DirtyExit(f"Child process exited with status {os.WEXITSTATUS(status)}")
        released_now = w.with_backend(lambda: w.release_held(exc, requeue=reason == "graceful", quiet=True))
        if released_now:
            w.failed += 1
            one = job if self.per_child == 1 else None  # fork-every: the child's job may be a later one
            if reason == "graceful":
                log_requeued(one, pid, started)
            else:
                log_dirty_exit(one, pid, exc, started)
                if w.ctrl_c.pending:
                    w.ctrl_c.job_stopped(
                        one.class_name if one else None, one.id if one else None, recorded=True
                    )
        if reason == "graceful":
            w.kill_job = True  # stop: the deadline passed
        return None


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
