"""Running one job of the async worker: an async job awaited on the loop, a sync job in
a bounded pool of threads; its timeout and its interruption (TERM, INT, USR1), which
always end in an :class:`~pyresque.core.worker.perform.Outcome` (a failure record),
never in a silent re-run.

- :class:`JobThreads`: the pool for sync jobs (an :class:`~concurrent.futures.Executor`
  of daemon threads, so a job stuck in a thread never holds the process at exit). It
  knows which thread runs which job, to interrupt it: Python cannot stop a thread, so
  an interrupt is an exception raised in that thread at its next bytecode (a job
  blocked inside C, ``time.sleep`` say, sees it only when that call returns).
- :func:`run_job`: :func:`~pyresque.core.worker.perform.perform_async` under a hard
  deadline. An async job is cancelled at its timeout by ``perform_async`` itself; past
  ``timeout + HARD_GRACE`` (a job that ignored the cancellation, a sync job that
  ignored the interrupt) the job is recorded failed (``JobTimeoutError``) and left
  behind: its late outcome is never written, so the job is not run again either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.core.errors import JobTimeoutError, JobTimeoutInterrupt, ShutdownRequested, WorkerInterrupt
from pyresque.core.job import Job
from pyresque.core.worker.perform import Outcome, failure_outcome, is_async_job, job_timeout, perform_async
from pyresque.core.worker.watchdog import HARD_GRACE

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["HARD_GRACE", "JobThreads", "Running", "run_job"]

log = logging.getLogger("pyresque.worker")


class _Stop(ShutdownRequested):
    """Raised in a sync job's thread by TERM/INT/USR1 (a class, as the interpreter needs)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("the job was stopped by a signal",)))


class _Timeout(JobTimeoutInterrupt):
    """Raised in a sync job's thread at its timeout."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or ("the job ran past its timeout",)))


class _Call:
    __slots__ = ("fn", "future", "interrupted", "thread")

    def __init__(self, fn: Callable[[], Any], future: concurrent.futures.Future[Any]) -> None:
        self.fn = fn
        self.future = future
        self.thread = 0  # the ident of the thread running it, while it runs
        self.interrupted = False


class JobThreads(concurrent.futures.Executor):
    """At most ``size`` sync jobs at once, each on a daemon thread (started on demand).

    A thread whose job was abandoned (past its hard deadline) no longer counts against
    ``size``: a new thread takes its place, and it ends when its job finally returns.
    """

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._pending = 0
        self._abandoned: set[int] = set()
        self._calls: dict[concurrent.futures.Future[Any], _Call] = {}
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Queue ``fn(*args, **kwargs)`` for the next free thread."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        call = _Call(lambda: fn(*args, **kwargs), future)
        with self._lock:
            if self._closed:
                raise RuntimeError("the job threads are shut down")
            self._calls[future] = call
            self._pending += 1  # submitted and not finished
            if self._pending > self._threads - len(self._abandoned) and (
                self._threads - len(self._abandoned) < self._size
            ):
                self._threads += 1
                threading.Thread(target=self._work, name="pyresque-job", daemon=True).start()
        self._queue.put(call)
        return future

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            call = self._queue.get()
            if call is None:
                break
            with self._lock:
                call.thread = me
            try:
                if call.future.set_running_or_notify_cancel():
                    try:
                        result = call.fn()
                    except BaseException as exc:  # an interrupt that landed outside the job
                        call.future.set_exception(exc)
                    else:
                        call.future.set_result(result)
            finally:
                with self._lock:
                    call.thread = 0  # no interrupt is sent from now on
                    hit = call.interrupted
            if hit:
                _absorb()
            with self._lock:
                self._pending -= 1
                self._calls.pop(call.future, None)
                if me in self._abandoned:
                    self._abandoned.discard(me)
                    self._threads -= 1
                    return
        with self._lock:
            self._threads -= 1

    def interrupt(self, future: concurrent.futures.Future[Any], exc_type: type[BaseException]) -> bool:
        """Raise ``exc_type`` in the thread running ``future``'s call; whether it runs."""
        with self._lock:
            call = self._calls.get(future)
            if call is None or not call.thread:
                return False
            call.interrupted = True
            _raise_in(call.thread, exc_type)
            return True

    def abandon(self, future: concurrent.futures.Future[Any]) -> None:
        """Stop counting ``future``'s thread against the pool's size (it is left to end
        by itself; its result is never used)."""
        with self._lock:
            call = self._calls.get(future)
            if call is not None and call.thread:
                self._abandoned.add(call.thread)
        future.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let the idle threads end (running jobs are not waited for: daemon threads)."""
        with self._lock:
            self._closed = True
            count = self._threads
        for _ in range(count):
            self._queue.put(None)


def _raise_in(thread: int, exc_type: type[BaseException]) -> None:
    """``PyThreadState_SetAsyncExc``: raise ``exc_type`` in ``thread`` at its next bytecode.
    (Never called to clear one: clearing leaves the interpreter's pending flag set, which
    slows every thread down.)"""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread), ctypes.py_object(exc_type))


def _absorb() -> None:
    """Let an interrupt that came after its job ended land here, harmlessly (a loop is a
    point where the interpreter delivers it)."""
    for _ in range(3):
        try:
            for _ in range(1000):
                pass
            return
        except WorkerInterrupt:
            continue


class Running:
    """A job running in a slot: its task, and how to stop it."""

    __slots__ = ("_waiter", "job", "stop_reason", "stopped_at", "sync_future", "task")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.task: asyncio.Task[Outcome] | None = None
        self.sync_future: concurrent.futures.Future[Any] | None = None
        self.stop_reason: BaseException | None = None
        self.stopped_at = 0.0
        self._waiter: asyncio.Future[None] | None = None

    async def wait(self, task: asyncio.Task[Outcome], timeout: float | None) -> None:
        """Until ``task`` ends, a stop comes, or ``timeout`` (one future, no extra task:
        this is every job's path)."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake(_: object = None) -> None:
            if not waiter.done():
                waiter.set_result(None)

        self._waiter = waiter
        task.add_done_callback(wake)
        timer = loop.call_later(timeout, wake) if timeout is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            task.remove_done_callback(wake)
            if timer is not None:
                timer.cancel()

    def stop(self, threads: JobThreads, reason: BaseException) -> None:
        """Stop the job now (TERM/INT/USR1): cancel an async job, interrupt a sync one."""
        if self.stop_reason is not None:
            return
        self.stop_reason = reason
        self.stopped_at = time.monotonic()
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self.sync_future is not None:
            threads.interrupt(self.sync_future, _Stop)
        elif self.task is not None:
            self.task.cancel()


class _Tracked(concurrent.futures.Executor):
    """Hands the future of the one call it gets to ``Running`` (a view on the pool)."""

    def __init__(self, pool: JobThreads, running: Running) -> None:
        self._pool = pool
        self._running = running

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future = self._pool.submit(fn, *args, **kwargs)
        self._running.sync_future = future
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The pool is shut down by its owner."""


async def run_job(
    worker: Worker,
    job: Job,
    running: Running,
    threads: JobThreads,
    default_timeout: float | None,
    stop_grace: float,
) -> Outcome:
    """Run ``job`` (decoded, its slot's ``worker`` view) to an outcome, whatever happens."""
    try:
        target = worker.app.registry.resolve(job.class_name)
        seconds = job_timeout(target, default_timeout)
        sync = not is_async_job(target)
    except Exception:  # an unknown class: perform_async records it at once
        seconds, sync = None, False
    task = asyncio.ensure_future(
        perform_async(worker, job, timeout=default_timeout, executor=_Tracked(threads, running))
    )
    running.task = task
    if running.stop_reason is not None:  # stopped before its task existed
        task.cancel()
    started = time.monotonic()
    timed_out_at: float | None = None
    try:
        while not task.done():
            now = time.monotonic()
            left: float | None = None
            if running.stop_reason is not None:  # TERM/INT/USR1: bounded from the stop
                left = running.stopped_at + stop_grace - now
                if left <= 0:
                    return _left_behind(worker, job, threads, running, task, running.stop_reason)
            elif seconds is not None and timed_out_at is None:
                # an async job is cancelled by perform_async at its timeout; ours comes later
                left = started + seconds + (0.0 if sync else HARD_GRACE) - now
                if left <= 0:
                    _timed_out(threads, running, sync, task)
                    timed_out_at = now
                    continue
            elif seconds is not None and timed_out_at is not None:
                left = timed_out_at + HARD_GRACE - now
                if left <= 0:
                    why = JobTimeoutError(
                        f"the job ran past its {seconds:g}s timeout and did not stop; it was recorded "
                        "failed and left running"
                    )
                    return _left_behind(worker, job, threads, running, task, why)
            await running.wait(task, left)
    except asyncio.CancelledError:  # the worker itself is being torn down
        task.cancel()
        raise
    try:
        return task.result()
    except asyncio.CancelledError:  # cancelled by a stop: recorded failed, never re-run
        reason = running.stop_reason or JobTimeoutError(f"the job ran past its {seconds or 0:g}s timeout")
        return failure_outcome(worker, job, reason)
    except BaseException as exc:  # pragma: no cover - perform_async returns outcomes
        return failure_outcome(worker, job, exc)


def _timed_out(threads: JobThreads, running: Running, sync: bool, task: asyncio.Task[Outcome]) -> None:
    if sync and running.sync_future is not None:
        threads.interrupt(running.sync_future, _Timeout)
    else:
        task.cancel()


def _left_behind(
    worker: Worker,
    job: Job,
    threads: JobThreads,
    running: Running,
    task: asyncio.Task[Outcome],
    reason: BaseException,
) -> Outcome:
    """The job would not stop: record it failed and leave it (its result is dropped)."""
    log.error(
        "job %s id=%s did not stop (%s); recorded failed, left running on its own",
        job.class_name,
        job.id or "-",
        reason,
    )
    if running.sync_future is not None:
        threads.abandon(running.sync_future)
    task.cancel()
    task.add_done_callback(_swallow)
    return failure_outcome(worker, job, reason)


def _swallow(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(BaseException):
        task.result()
