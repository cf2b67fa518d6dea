"""How a worker runs its jobs: in-process, fork per job, or fork every N jobs.

Round trips per job (hot path, successful jobs):

- in-process: 1 (one RESERVE script records job N done and takes job N+1);
- fork per job: 1 (the child hands its outcome to the parent over a pipe; the parent
  writes it fused with its next reserve: the child never talks to Redis itself);
- fork-every-N: 1 (the child fuses done + reserve for its jobs; its last job's outcome
  goes to the parent like fork per job), plus one connection setup per child.

A failed job adds one FAIL script (record + stats + status + release, atomic).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import logging
import os
import select
import signal
import time
from typing import TYPE_CHECKING, Any

from pyresque.core import timefmt
from pyresque.core.errors import DirtyExit, EncodeError, JobTimeoutError, ShutdownRequested, UnknownJobClass
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.perform import (
    Outcome,
    bad_payload_record,
    decode_job,
    failure_outcome,
    is_bad_payload,
    job_timeout,
    perform_job,
)
from pyresque.core.proctitle import set_title
from pyresque.core.reservation import Held, Reservation
from pyresque.serializers.json import dumps_text

if TYPE_CHECKING:
    from pyresque.core.worker import Worker

__all__ = ["ForkExecutor", "InProcessExecutor", "make_executor"]

log = logging.getLogger("pyresque.worker")

#: Extra seconds the parent gives a child past its job's timeout before SIGKILL.
TIMEOUT_GRACE = 2.0


def make_executor(worker: Worker) -> InProcessExecutor | ForkExecutor:
    """The executor for ``worker.options.mode``."""
    mode = worker.options.mode
    if mode == "inprocess":
        return InProcessExecutor(worker)
    return ForkExecutor(worker, 1 if mode == "fork" else max(1, worker.options.jobs_per_child))


class _Base:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.backend = worker.app.backend.workers
        self.in_job = False
        self._last_prune = time.monotonic()

    def limit_reached(self) -> bool:
        limit = self.worker.options.max_jobs
        return limit is not None and self.worker.processed >= limit

    def idle(self) -> bool:
        """Nothing to do: returns ``False`` when the worker should stop (burst)."""
        w = self.worker
        if w.options.burst:
            if w.selector.dynamic:
                w.queues(refresh=True)
            return False
        if w.app.hooks.has("pyresque_queue_empty"):
            try:
                w.app.hooks.queue_empty(w)
            except Exception:
                log.exception("a queue_empty hook raised")
        now = time.monotonic()
        if now - self._last_prune > w.options.heartbeat_interval:
            from pyresque.core.pruning import prune_dead_workers

            self._last_prune = now
            w.with_backend(lambda: prune_dead_workers(w))
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
            log.error("unusable payload from %s: %s", res.queue, exc)
            return Outcome(
                ok=False, exception=exc, record=bad_payload_record(self.worker, res.payload, res.queue, exc)
            )

    def count(self, job: Job | None, outcome: Outcome, started: float) -> None:
        w = self.worker
        w.processed += 1
        if not outcome.ok:
            w.failed += 1
        if log.isEnabledFor(logging.INFO):
            what = (
                "skipped"
                if outcome.skipped
                else "done"
                if outcome.ok
                else f"failed: {outcome.exception!r:.200}"
            )
            log.info(
                "%s %s id=%s %.1fms %s",
                job.queue if job else "?",
                job.class_name if job else "?",
                job.id if job else "-",
                (time.monotonic() - started) * 1000,
                what,
            )


class InProcessExecutor(_Base):
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


class ForkExecutor(_Base):
    """The parent reserves a job and forks a child for it; the child runs it and, with
    ``per_child`` > 1, goes on reserving up to that many jobs itself (fused done +
    reserve), then exits. The parent enforces timeouts and turns a dirty exit into a
    failure (or a requeue, for a graceful TERM past its deadline)."""

    def __init__(self, worker: Worker, per_child: int) -> None:
        super().__init__(worker)
        self.per_child = per_child
        self.child: int | None = None

    def run(self) -> None:
        """Work until stopped."""
        w = self.worker
        w.kill_callback = self._kill_child
        pending: tuple[str | None, Any] | None = None  # a child's success, written with the next reserve
        while True:
            if w.paused and not w.shutdown:
                self._flush(pending)
                pending = None
                self.pause()
                continue
            take = not w.shutdown and not self.limit_reached()
            if not take:
                self._flush(pending)
                return
            p = pending
            res = w.with_backend(
                lambda p=p: self.backend.reserve(
                    w.id,
                    w.queues(),
                    timefmt.utc_iso_z(),
                    finish_previous=p is not None,
                    done_job_id=p[0] if p else None,
                    done_result=p[1] if p else None,
                )
            )
            pending = None
            if res is None:
                if not self.idle():
                    return
                continue
            if isinstance(res, Held):
                w.with_backend(lambda res=res: w.handle_held(res))
                continue
            started = time.monotonic()
            loaded = self.load(res)
            if isinstance(loaded, Outcome):
                self.count(None, loaded, started)
                w.with_backend(lambda o=loaded: self.backend.fail(w.id, o.record, None))
                continue
            job = loaded
            try:
                if w.app.hooks.has("pyresque_before_fork"):
                    w.app.hooks.before_fork(w, job)
            except Exception as exc:
                outcome = failure_outcome(w, job, exc)
                self.count(job, outcome, started)
                w.with_backend(lambda o=outcome, j=job: self.backend.fail(w.id, o.record, j.id))
                continue
            w.kill_job = False  # a USR1 while idle has no job to stop
            handoff = self.fork(job, started)
            if handoff is not None and handoff[0] == "D":
                pending = (handoff[1], json.loads(handoff[2]))
            elif handoff is not None:
                record = FailureRecord.from_dict(json.loads(handoff[2])) if handoff[2] != "-" else None
                w.with_backend(lambda rec=record, h=handoff: self.backend.fail(w.id, rec, h[1]))

    def _flush(self, pending: tuple[str | None, Any] | None) -> None:
        """Write a child's success now (no reserve to fuse it with)."""
        if pending is not None:
            w = self.worker
            w.with_backend(lambda: self.backend.done(w.id, pending[0], pending[1]))

    def _kill_child(self) -> None:
        w = self.worker
        w._wake()

    # -- parent side -----------------------------------------------------------------
    def fork(self, job: Job, started: float) -> tuple[str, str | None, str] | None:
        """Fork a child for ``job`` and watch it until it exits; returns the outcome of its
        last job, handed over for the parent to write (``None`` when it handed none)."""
        w = self.worker
        _load_libc()
        gc.freeze()  # the child then touches (and copies) fewer pages
        r, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                os.close(r)
                code = _Child(w, wfd, self.per_child).run(job)
            except BaseException:
                log.exception("child of %s crashed", w.id)
            finally:
                os._exit(code)
        os.close(wfd)
        self.child = pid
        set_title(f"Forked {pid} at {int(time.time())}")
        try:
            return self.watch(pid, r, job, started)
        finally:
            self.child = None
            os.close(r)

    def watch(self, pid: int, r: int, job: Job, started: float) -> tuple[str, str | None, str] | None:
        """Relay signals to the child, enforce deadlines, account for how it ended."""
        w = self.worker
        deadline: float | None = None
        handoff: tuple[str, str | None, str] | None = None
        reason: str | None = None
        term_sent: float | None = None
        quit_sent = False
        jobs = 0
        buf = b""
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
            if w.wakeup_fd is not None and w.wakeup_fd in ready:
                w.drain_wakeup()
            if r in ready:
                data = os.read(r, 4096)
                if not data:
                    break
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.startswith(b"S"):
                        value = float(line[2:] or 0)
                        deadline = value if value > 0 else None
                        jobs += 1
                    elif line == b"E":
                        deadline = None
                    elif line[:1] in (b"D", b"F"):
                        kind, job_id, text = line.decode("utf-8").split(" ", 2)
                        handoff = (kind, None if job_id == "-" else job_id, text)
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
            if (w.shutdown or w.paused) and not quit_sent:
                quit_sent = True
                _signal(pid, signal.SIGQUIT)
        _, status = os.waitpid(pid, 0)
        w.processed += max(jobs, 1)
        if handoff is not None:
            if handoff[0] == "F":
                w.failed += 1
            return handoff
        if reason == "timeout":
            exc: BaseException = JobTimeoutError("the job ran past its timeout and its process was killed")
        elif os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            exc = DirtyExit(f"Child process received unhandled signal {signal.Signals(sig).name}")
        else:
            exc = DirtyExit(f"Child process exited with status {os.WEXITSTATUS(status)}")
        released_now = w.with_backend(lambda: w.release_held(exc, requeue=reason == "graceful"))
        if released_now:
            w.failed += 1
            log.error("job of child %d ended badly: %s", pid, exc)
        if reason == "graceful":
            w.kill_job = True  # stop: the deadline passed
        return None


def result_json(result: Any) -> str:
    """A job's return value as JSON for its status; ``null`` when JSON cannot carry it."""
    try:
        return dumps_text(result)
    except EncodeError:
        return "null"


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


_prctl: Any = None


def _load_libc() -> None:
    """Look ``prctl`` up once, in the parent (a child should not pay for it)."""
    global _prctl
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            _prctl = False


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel SIGKILLs this child if the parent dies (no orphaned job runner)."""
    if not _prctl:
        return
    _prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


class _ChildWake(Exception):
    """Raised by a child's signal handler to cut its idle wait short."""


class _Child:
    """The forked process: runs the job (and up to ``per_child - 1`` more)."""

    def __init__(self, worker: Worker, wfd: int, per_child: int) -> None:
        self.worker = worker
        self.wfd = wfd
        self.per_child = per_child
        self.stop = False
        self.in_job = False
        self.idle = False
        self.deadline_sent = False
        self.backend = worker.app.backend.workers

    def _send(self, text: str) -> None:
        os.write(self.wfd, text.encode() + b"\n")

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

    def run(self, job: Job) -> int:
        """Run jobs; return the exit code (0: every job's outcome was written)."""
        w = self.worker
        gc.disable()  # a short-lived child: collecting would only copy pages
        _die_with_parent(w.pid)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGQUIT, signal.SIGUSR2):
            signal.signal(sig, self._on_stop)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, self._on_kill)
        signal.signal(signal.SIGCONT, signal.SIG_DFL)
        w.shutdown = w.kill_job = w.paused = False
        w.graceful_deadline = None
        current: Job | None = job
        done = 0
        first = True
        while current is not None:
            outcome = self.perform(current, first)
            first = False
            done += 1
            last = self.stop or done >= self.per_child
            if last:  # the parent writes it, fused with its next reserve
                self.hand_off(outcome, current)
                return 0
            if outcome.ok:
                nxt = self.write(
                    lambda o=outcome, j=current: self.backend.reserve(
                        w.id,
                        w.queues(),
                        timefmt.utc_iso_z(),
                        finish_previous=True,
                        done_job_id=j.id,
                        done_result=o.result,
                    )
                )
            else:
                self.write(lambda o=outcome, j=current: self.backend.fail(w.id, o.record, j.id))
                nxt = self.write(lambda: self.backend.reserve(w.id, w.queues(), timefmt.utc_iso_z()))
            current = self.next_job(nxt)
        return 0

    def hand_off(self, outcome: Outcome, job: Job) -> None:
        """Send the last job's outcome to the parent: ``D <id> <result JSON>`` or
        ``F <id> <failure JSON>`` (compact JSON never holds a raw newline)."""
        job_id = job.id or "-"
        if outcome.ok:
            self._send(f"D {job_id} {result_json(outcome.result)}")
        else:
            record = dumps_text(outcome.record.to_dict()) if outcome.record is not None else "-"
            self._send(f"F {job_id} {record}")

    def next_job(self, nxt: Any) -> Job | None:
        """Decode the next reserved job, failing unusable payloads on the way; when the
        queues are empty, wait for a job here (an idle child starts a job as fast as an
        in-process worker), up to one heartbeat interval, then exit."""
        w = self.worker
        idle_since: float | None = None
        while True:
            if isinstance(nxt, Reservation):
                try:
                    return decode_job(w, nxt.payload, nxt.queue)
                except Exception as exc:
                    if not is_bad_payload(exc):
                        raise
                    record = bad_payload_record(w, nxt.payload, nxt.queue, exc)
                    self.write(lambda rec=record: self.backend.fail(w.id, rec, None))
            elif nxt is not None or self.stop or w.options.burst:
                return None  # (a Held record cannot happen here: the parent deals with it)
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
            nxt = self.write(lambda: self.backend.reserve(w.id, w.queues(), timefmt.utc_iso_z()))

    def write(self, step: Any) -> Any:
        """A backend write, retried with backoff for up to a minute while Redis is away."""
        delay = 0.1
        give_up = time.monotonic() + 60
        while True:
            try:
                return step()
            except self.worker.app.backend.connection_errors:
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
                if first and w.app.hooks.has("pyresque_after_fork"):
                    w.app.hooks.after_fork(w, job)
                outcome = perform_job(w, job, timeout=w.options.timeout)
            finally:
                self.in_job = False
        except BaseException as exc:
            outcome = failure_outcome(w, job, exc)
        if log.isEnabledFor(logging.INFO):
            what = "done" if outcome.ok else f"failed: {outcome.exception!r:.200}"
            log.info(
                "%s %s id=%s %.1fms %s",
                job.queue,
                job.class_name,
                job.id or "-",
                (time.monotonic() - started) * 1000,
                what,
            )
        return outcome
