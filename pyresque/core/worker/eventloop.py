"""The event loop that ``async def`` jobs run on, for the sync worker modes.

:class:`JobLoop` runs one job's coroutine to completion from sync code (the perform
hooks, ``before_perform``/``around_perform``/``after_perform``, stay sync around it).
The strategy, in every sync mode (fork per job, fork every N, in-process, the test kit):

- **One loop per process and thread, reused across jobs** (:func:`thread_loop`): a
  fresh ``asyncio.run`` per job costs about 120 us, a reused loop about 10 us. The loop
  remembers the pid that made it: a loop inherited through ``fork`` is never run, the
  child makes its own (the parent's is left alone, not closed: its file descriptors
  are the parent's too). It is never installed as the thread's current loop
  (``asyncio.set_event_loop``), so a test runner's or an application's loop is not
  disturbed; inside the job, ``asyncio.get_running_loop()`` is this one.
- **A job ends with its tasks**: tasks it leaves running are cancelled when it returns
  (one WARNING names them) and given :data:`LEFTOVER_GRACE` seconds to finish, so
  nothing of job N runs during job N+1. A loop whose tasks will not end, or that an
  interrupt (a signal raising in the loop itself, not in the job's code) left in an
  unknown state, is closed and replaced for the next job.
- **Timeouts** (:func:`guarded`): at the deadline the job's task is cancelled
  (``call_at`` + ``Task.cancel``), which the job sees as ``CancelledError`` at its current
  ``await``; it ends as :class:`~pyresque.core.errors.JobTimeoutError`, a failure
  record, also when the job swallowed the cancellation and returned. A job that blocks
  the loop (sync code that never awaits) gets the sync timer signal
  :data:`ASYNC_TIMEOUT_GRACE` seconds later (set by the caller, see ``perform.py``),
  and the worker's hard kill after that, as for sync jobs.
- **Called while another loop runs in this thread** (``drain()`` from an async test):
  the coroutine runs on a fresh loop in a helper thread and this thread waits; the
  job's context variables go with it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

from pyresque.core.errors import JobTimeoutError

__all__ = ["ASYNC_TIMEOUT_GRACE", "LEFTOVER_GRACE", "JobLoop", "guarded", "thread_loop"]

log = logging.getLogger("pyresque.worker")

T = TypeVar("T")

#: Seconds past an async job's deadline before the sync timer signal interrupts a job
#: that blocks its loop (the cancellation at the deadline could not reach it).
ASYNC_TIMEOUT_GRACE = 1.0
#: Seconds the tasks a job left running (or a cancelled job) get to finish once cancelled.
LEFTOVER_GRACE = 0.5


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _coroutine(awaitable: Awaitable[T]) -> Coroutine[Any, Any, T]:
    if asyncio.iscoroutine(awaitable):
        return awaitable
    return _awaited(awaitable)


async def guarded(awaitable: Awaitable[T], deadline: float | None, seconds: float | None) -> T:
    """Await ``awaitable`` in the current task, which is cancelled at ``deadline``
    (``time.monotonic()`` seconds, the clock of asyncio's loops) when one is given.

    Raises:
        JobTimeoutError: the deadline passed, whether the job let the cancellation end
            it or caught it and returned (a job's own ``TimeoutError`` is left as it is).
        CancelledError: the task was cancelled by someone else (also at the deadline).
    """
    if deadline is None:
        return await awaitable
    task = asyncio.current_task()
    assert task is not None
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        task.cancel()

    timer = asyncio.get_running_loop().call_at(deadline, expire)
    try:
        result = await awaitable
    except asyncio.CancelledError:
        if not expired or _uncancel(task):
            raise
        raise JobTimeoutError(f"job timed out after {seconds or 0:g}s (cancelled)") from None
    finally:
        timer.cancel()
    if expired and not _uncancel(task):  # it caught the CancelledError and returned
        raise JobTimeoutError(f"job timed out after {seconds or 0:g}s (it caught the cancellation)")
    return result


def _uncancel(task: asyncio.Task[Any]) -> int:
    """Take back our own cancel request (Python 3.11+); the requests left (another
    canceller's), 0 on 3.10, which does not count them."""
    uncancel = getattr(task, "uncancel", None)
    return int(uncancel()) if uncancel is not None else 0


class JobLoop:
    """An event loop for running async jobs from sync code, one job at a time.

    Made lazily on the first async job, in the process and thread that use it.
    :meth:`close` it when done (the thread's default loop is closed at exit).
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def _get(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or self._pid != os.getpid() or loop.is_closed():
            loop = self._loop = asyncio.new_event_loop()
            self._pid = os.getpid()
        return loop

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` to completion here and return its result (or raise its
        exception). Wrap it in :func:`guarded` for a deadline."""
        if _loop_running():  # e.g. drain() inside an async test
            return _run_in_thread(_coroutine(awaitable))
        loop = self._get()
        task = loop.create_task(_coroutine(awaitable))
        try:
            loop.run_until_complete(task)
        except BaseException:
            if not task.done():  # it escaped the loop, not the job: end the job's tasks
                self._abandon(loop)
                raise
            # else the job's own exception (task.result() below raises it), or an
            # interrupt landing once the job had finished, which is too late to matter
        finally:
            if self._loop is loop:
                self._end_leftovers(loop, task)
        return task.result()

    def _end_leftovers(self, loop: asyncio.AbstractEventLoop, main: asyncio.Future[Any]) -> None:
        left = [t for t in asyncio.all_tasks(loop) if t is not main and not t.done()]
        if not left:
            return
        log.warning(
            "the job left %d task(s) running: cancelled (%s)",
            len(left),
            ", ".join(sorted({getattr(t.get_coro(), "__qualname__", "?") for t in left}))[:300],
        )
        self._cancel(loop, left)

    def _cancel(self, loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]]) -> None:
        for t in tasks:
            t.cancel()
        try:
            _, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=LEFTOVER_GRACE))
        except BaseException:
            self._drop(loop)
            raise
        for t in tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: no "exception was never retrieved" later
        if pending:
            log.error("%d task(s) of the job did not end when cancelled; the loop is replaced", len(pending))
            self._drop(loop)

    def _abandon(self, loop: asyncio.AbstractEventLoop) -> None:
        """An interrupt escaped the loop itself: cancel everything, then replace the loop."""
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        try:
            if tasks:
                self._cancel(loop, tasks)
        finally:
            self._drop(loop)

    def _drop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is loop:
            self._loop = None
        if not loop.is_running() and not loop.is_closed():
            loop.close()

    def close(self) -> None:
        """Close the loop (async generators finalised first); a new one is made if needed."""
        loop, self._loop = self._loop, None
        if loop is None or loop.is_closed() or self._pid != os.getpid() or loop.is_running():
            return
        try:
            left = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in left:
                t.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=LEFTOVER_GRACE))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    def __del__(self) -> None:
        loop = self._loop
        if loop is not None and self._pid == os.getpid() and not loop.is_running() and not loop.is_closed():
            loop.close()


def _loop_running() -> bool:
    """Whether an event loop runs in this thread (its caller's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a fresh loop in a helper thread (this thread's loop is busy
    running its caller, which waits); an interrupt landing here cancels the job."""
    ctx = contextvars.copy_context()
    job_loop = JobLoop()
    outcome: list[tuple[bool, Any]] = []
    task: list[asyncio.Task[Any]] = []
    ready = threading.Event()

    async def main() -> T:
        current = asyncio.current_task()
        assert current is not None
        task.append(current)
        ready.set()
        return await coro

    def thread_main() -> None:
        try:
            outcome.append((True, ctx.run(job_loop.run, main())))
        except BaseException as exc:
            outcome.append((False, exc))
        finally:
            ready.set()
            job_loop.close()

    thread = threading.Thread(target=thread_main, name="pyresque-async-job", daemon=True)
    thread.start()
    try:
        thread.join()
    except BaseException:
        ready.wait(1.0)
        loop = job_loop._loop
        if task and loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # it closed meanwhile
                loop.call_soon_threadsafe(task[0].cancel)
        thread.join(LEFTOVER_GRACE + 1.0)
        raise
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


_local = threading.local()


def thread_loop() -> JobLoop:
    """This thread's :class:`JobLoop` (made on first use; the main thread's is closed at exit)."""
    loop: JobLoop | None = getattr(_local, "loop", None)
    if loop is None:
        loop = _local.loop = JobLoop()
        if threading.current_thread() is threading.main_thread():
            atexit.register(loop.close)
    return loop
