"""Run ONE job in this process: resolve, hooks, set_up / perform / tear_down, outcome.

Two entry points, one per kind of caller:

- :func:`perform_job` (sync): the fork, fork-every and in-process modes and the test
  kit. A sync job runs as it always did (``SIGALRM`` timeout in the main thread). An
  ``async def`` job runs to completion on this thread's reused event loop
  (:mod:`pyresque.core.worker.eventloop`: the loop strategy, leftover tasks, timeouts)
  inside the sync perform hooks, so ``before_perform``/``around_perform``/
  ``after_perform``/``on_failure`` hooks and pluggy wrappers see it as any job.
- :func:`perform_async` (``await``): the async worker. It runs an async job on the
  running loop (cancelled at its timeout), and a sync job in an executor's thread.

Both set :func:`pyresque.current_job` for the job (:mod:`pyresque.core.context`). The
job's own steps are in :mod:`pyresque.core.worker.jobbody`. Around the whole run (once
the class resolved: ``before_perform`` to ``after_perform``) the ``pyresque_job_started``
implementations start and their finishers end, told the outcome (``None``, a
``DontPerform``, or the failure) before any ``on_failure`` hook: the cheap way for
metrics and tracing to see every job (a pluggy wrapper costs microseconds per job).

No Redis I/O here: the caller writes the outcome (one round trip, see the worker).
Every failure, whatever it is (a job's exception, ``SystemExit``, ``KeyboardInterrupt``,
a timeout, an unknown class, wrong arity), ends as an :class:`Outcome` holding a
readable :class:`~pyresque.core.failure.FailureRecord`, unless an ``on_failure``
plugin reports it handled. A timeout is a failure record in every mode, never a
re-run: an async job's ``CancelledError`` at its deadline becomes
:class:`~pyresque.core.errors.JobTimeoutError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import inspect
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from pyresque.core import context
from pyresque.core.errors import (
    DecodeError,
    DontPerform,
    InvalidJobError,
    JobTimeoutError,
    JobTimeoutInterrupt,
)
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.worker.eventloop import ASYNC_TIMEOUT_GRACE, JobLoop, guarded, thread_loop
from pyresque.core.worker.jobbody import PLAIN_RESULTS, async_body, is_async_job, make_runner

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = [
    "Outcome",
    "bad_payload_record",
    "decode_job",
    "failure_outcome",
    "is_async_job",
    "is_bad_payload",
    "job_timeout",
    "make_runner",
    "perform_async",
    "perform_job",
    "raw_payload_dict",
]

log = logging.getLogger("pyresque.worker")


@dataclasses.dataclass(slots=True)
class Outcome:
    """How a job ended.

    Attributes:
        ok: it succeeded or was skipped (counts as processed, not failed).
        skipped: a ``before_perform`` hook or ``set_up`` raised ``DontPerform``.
        result: what ``perform`` returned.
        exception: what failed it.
        record: the failure record to write; ``None`` when a plugin handled the failure.
    """

    ok: bool
    skipped: bool = False
    result: Any = None
    exception: BaseException | None = None
    record: FailureRecord | None = None


def raw_payload_dict(raw: bytes) -> dict[str, Any]:
    """An undecodable payload, kept whole for the failure record: ``{"class": None,
    "raw": <text>}``, or ``"raw_hex"`` when the bytes are not UTF-8."""
    try:
        return {"class": None, "raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"class": None, "raw_hex": raw.hex()}


def bad_payload_record(worker: Worker, raw: bytes, queue: str, exc: BaseException) -> FailureRecord:
    """The failure record for a payload that is not a job (the raw bytes are kept)."""
    return FailureRecord.from_exception(exc, payload=raw_payload_dict(raw), queue=queue, worker=worker.id)


def decode_job(worker: Worker, raw: bytes, queue: str) -> Job:
    """The job in ``raw``. Total: whatever the bytes, a job or one of these two errors
    (which :func:`is_bad_payload` recognises), never an error that would stop a worker.

    Raises:
        DecodeError: not JSON (nor msgpack), or JSON pyresque refuses (NaN, infinities,
            nesting deeper than :data:`~pyresque.serializers.json.MAX_DEPTH` ...).
        InvalidJobError: decodes, but is not a job.
    """
    try:
        return worker.app.decode(raw, queue)
    except RecursionError:  # a custom serializer or hook recursing on a deep payload
        raise DecodeError("payload is nested too deeply to decode", bytes(raw)) from None


def job_timeout(target: Any, default: float | None) -> float | None:
    """The job's own ``timeout`` attribute (seconds, ``0``/``None`` = none), else ``default``."""
    value = getattr(target, "timeout", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value > 0 else None
    return default


class _Alarm:
    """Raise :class:`JobTimeoutInterrupt` in this (main) thread ``seconds`` after entry.

    Off thread, or without ``seconds``, it arms nothing (``deadline`` still says when
    an async job is cancelled). :meth:`defer` moves the signal past the deadline, for
    the time an async job runs: its loop cancels it at the deadline, and the signal
    only comes for a job that blocks the loop.
    """

    __slots__ = ("armed", "deadline", "previous", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds if seconds else None
        self.armed = bool(seconds) and threading.current_thread() is threading.main_thread()
        self.previous: Any = None

    def _expired(self, signum: int, frame: object) -> None:
        raise JobTimeoutInterrupt(f"job timed out after {self.seconds:g}s")

    def __enter__(self) -> _Alarm:
        if self.armed:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds or 0)
        return self

    def defer(self, extra: float) -> None:
        """Re-arm the signal for ``extra`` seconds past the deadline."""
        if self.armed and self.deadline is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self.deadline + extra - time.monotonic(), 0.001))

    def __exit__(self, *exc_info: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def perform_job(
    worker: Worker,
    job: Job,
    *,
    timeout: float | None = None,
    alarm: bool = True,
    loop: JobLoop | None = None,
) -> Outcome:
    """Run ``job`` here, hooks included, and say how it ended (the sync entry point).

    Sync jobs run as they are; an async job (or an awaitable a job returned) runs to
    completion on ``loop`` (this thread's :func:`~pyresque.core.worker.eventloop.thread_loop`
    by default) inside the perform hooks. ``alarm=False`` enforces no timeout at all.
    Never raises for the job's sake; a :class:`~pyresque.core.errors.WorkerInterrupt`
    for shutdown is turned into a failure too (the job did not finish)."""
    token = context.enter(job, worker.app, worker.id)
    try:
        return _perform_job(worker, job, timeout, alarm, loop)
    finally:
        context.leave(token)


def _perform_job(
    worker: Worker, job: Job, timeout: float | None, alarm: bool, loop: JobLoop | None
) -> Outcome:
    app = worker.app
    hooks = app.hooks
    try:
        target = app.registry.resolve(job.class_name)
        finishers = hooks.job_started(worker, job)
    except BaseException as exc:
        return failure_outcome(worker, job, exc)
    try:
        with _Alarm(job_timeout(target, timeout) if alarm else None) as timer:

            def awaiting(awaitable: Awaitable[Any]) -> Any:
                timer.defer(ASYNC_TIMEOUT_GRACE)
                return (loop or thread_loop()).run(guarded(awaitable, timer.deadline, timer.seconds))

            if hooks.needs("pyresque_before_perform", app, job, "before_perform"):
                hooks.before_perform(worker, job)
            result = hooks.perform(worker, job, make_runner(target, job, awaiting))
            if type(result) not in PLAIN_RESULTS and inspect.isawaitable(result):  # from a wrapper
                result = awaiting(result)
            if hooks.needs("pyresque_after_perform", app, job, "after_perform"):
                hooks.after_perform(worker, job, result)
    except BaseException as exc:  # every way a job can end badly becomes a record
        return _ended(worker, job, finishers, exc)
    if finishers:
        try:
            hooks.finish_job(finishers, None)
        except BaseException as exc:  # an interrupt landed in a finisher: the job did not end well
            return failure_outcome(worker, job, exc)
    return Outcome(ok=True, result=result)


def _ended(
    worker: Worker, job: Job, finishers: list[Callable[[BaseException | None], None]], exc: BaseException
) -> Outcome:
    """The outcome of a job that raised ``exc`` (``DontPerform``: skipped), its finishers told first."""
    if finishers:
        try:
            worker.app.hooks.finish_job(finishers, exc)
        except BaseException as late:  # an interrupt in a finisher
            if isinstance(exc, DontPerform):
                exc = late
    if isinstance(exc, DontPerform):
        return Outcome(ok=True, skipped=True)
    return failure_outcome(worker, job, exc)


async def perform_async(
    worker: Worker,
    job: Job,
    *,
    timeout: float | None = None,
    executor: Executor | None = None,
    timeouts: bool = True,
) -> Outcome:
    """Run ``job`` on the running loop, hooks included, and say how it ended (the entry
    point of the async worker; call it in a task of its own, one per job).

    An async job is awaited here, cancelled at its timeout (a failure record, see
    :func:`~pyresque.core.worker.eventloop.guarded`); no timer signal: a job that blocks
    the loop is the caller's watchdog's to see. Sync hooks run on the loop's thread,
    except the perform hooks when something wraps the job (``around_perform``, a
    ``pyresque_perform`` wrapper): those run in ``executor``'s thread (the loop's default
    without one) around a job that still runs on this loop. A sync job runs whole in
    ``executor`` through :func:`perform_job` (no timer signal off the main thread).
    A cancellation of the caller's task (``task.cancel()``) propagates; a
    ``CancelledError`` the job raised by itself is its failure. ``timeouts=False``
    enforces none (the test kit's ``adrain``). Tasks the job leaves running are not
    touched here (the loop is shared): ending them is the caller's choice."""
    loop = asyncio.get_running_loop()
    try:
        target = worker.app.registry.resolve(job.class_name)
    except BaseException as exc:
        with context.entered(job, worker.app, worker.id):
            return failure_outcome(worker, job, exc)
    if not is_async_job(target):
        call = functools.partial(perform_job, worker, job, timeout=timeout, alarm=timeouts)
        return await loop.run_in_executor(executor, contextvars.copy_context().run, call)
    token = context.enter(job, worker.app, worker.id)
    try:
        seconds = job_timeout(target, timeout) if timeouts else None
        return await _perform_async(worker, job, target, seconds, executor)
    finally:
        context.leave(token)


async def _perform_async(
    worker: Worker, job: Job, target: Any, seconds: float | None, executor: Executor | None
) -> Outcome:
    app = worker.app
    hooks = app.hooks
    deadline = time.monotonic() + seconds if seconds else None
    try:
        finishers = hooks.job_started(worker, job)
    except BaseException as exc:
        return failure_outcome(worker, job, exc)
    try:
        if hooks.needs("pyresque_before_perform", app, job, "before_perform"):
            hooks.before_perform(worker, job)
        if hooks.needs("pyresque_perform", app, job, "around_perform"):
            result = await _through_wrappers(worker, job, target, deadline, seconds, executor)
        else:
            result = await guarded(async_body(target, job), deadline, seconds)
        if hooks.needs("pyresque_after_perform", app, job, "after_perform"):
            hooks.after_perform(worker, job, result)
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        cancelling = getattr(task, "cancelling", None)  # Python 3.11+
        if cancelling is None or cancelling():
            hooks.finish_job(finishers, exc)
            raise  # the caller cancelled this job (always assumed on 3.10): theirs to record
        return _ended(worker, job, finishers, exc)
    except BaseException as exc:
        return _ended(worker, job, finishers, exc)
    if finishers:
        try:
            hooks.finish_job(finishers, None)
        except BaseException as exc:
            return failure_outcome(worker, job, exc)
    return Outcome(ok=True, result=result)


async def _through_wrappers(
    worker: Worker,
    job: Job,
    target: Any,
    deadline: float | None,
    seconds: float | None,
    executor: Executor | None,
) -> Any:
    """The sync perform wrappers in a thread, around the job awaited on this loop."""
    loop = asyncio.get_running_loop()
    inner: list[concurrent.futures.Future[Any]] = []

    def awaiting(awaitable: Awaitable[Any]) -> Any:
        future = asyncio.run_coroutine_threadsafe(guarded(awaitable, deadline, seconds), loop)
        inner.append(future)
        return future.result()

    call = functools.partial(worker.app.hooks.perform, worker, job, make_runner(target, job, awaiting))
    try:
        result = await loop.run_in_executor(executor, contextvars.copy_context().run, call)
    except asyncio.CancelledError:
        for future in inner:
            future.cancel()
        raise
    if inspect.isawaitable(result):
        result = await guarded(result, deadline, seconds)
    return result


def failure_outcome(worker: Worker, job: Job, exc: BaseException) -> Outcome:
    """Run ``on_failure`` hooks and build the record (``None`` if a plugin handled it)."""
    if isinstance(exc, JobTimeoutInterrupt):
        timeout_exc = JobTimeoutError(str(exc))
        timeout_exc.__traceback__ = exc.__traceback__
        exc = timeout_exc
    handled = False
    try:
        handled = worker.app.hooks.on_failure(worker, job, exc)
    except Exception:
        log.exception("an on_failure hook raised for %s; the failure is recorded regardless", job.class_name)
    record = None
    if not handled:
        record = FailureRecord.from_exception(
            exc, payload=job.to_payload(), queue=job.queue, worker=worker.id
        )
    return Outcome(ok=False, exception=exc, record=record)


def is_bad_payload(exc: BaseException) -> bool:
    """Whether ``exc`` says the payload itself is unusable."""
    return isinstance(exc, DecodeError | InvalidJobError)
