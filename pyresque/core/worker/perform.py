"""Run ONE job in this process: resolve, hooks, set_up / perform / tear_down, outcome.

No Redis I/O here: the caller writes the outcome (one round trip, see the worker).
Every failure, whatever it is (a job's exception, ``SystemExit``, ``KeyboardInterrupt``,
a timeout, an unknown class, wrong arity), ends as an :class:`Outcome` holding a
readable :class:`~pyresque.core.failure.FailureRecord`, unless an ``on_failure``
plugin reports it handled.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["Outcome", "bad_payload_record", "decode_job", "job_timeout", "perform_job", "raw_payload_dict"]

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


@contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    """Raise :class:`JobTimeoutInterrupt` in this (main) thread after ``seconds``."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum: int, frame: object) -> None:
        raise JobTimeoutInterrupt(f"job timed out after {seconds:g}s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _method(obj: Any, *names: str) -> Callable[[], Any] | None:
    for name in names:
        found = getattr(obj, name, None)
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


def _discard(awaitable: Any) -> None:
    """Close a coroutine that will never be awaited (no "never awaited" warning)."""
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def make_runner(target: Any, job: Job) -> Callable[[], Any]:
    """``runner()`` for the perform hook: set_up, perform(*args), tear_down.

    A class is instantiated with no arguments and gets ``args`` (a list, php-resque
    style), ``job`` and ``queue`` attributes; ``setUp``/``tearDown`` are accepted too.
    ``tear_down`` runs whenever ``set_up`` succeeded, even if ``perform`` raised.
    A plain function is called with the args.
    """
    args = job.args
    if not isinstance(target, type):
        return lambda: target(*args)

    def runner() -> Any:
        instance = target()
        try:
            instance.args = list(args)
            instance.job = job
            instance.queue = job.queue
        except AttributeError:  # __slots__ classes: their choice
            pass
        perform = _method(instance, "perform")
        if perform is None:
            raise InvalidJobError(f"job class {job.class_name} has no perform method")
        set_up = _method(instance, "set_up", "setUp")
        tear_down = _method(instance, "tear_down", "tearDown")
        if set_up is not None:
            set_up()
        try:
            result = perform(*args)
        except BaseException:
            if tear_down is not None:
                try:
                    tear_down()
                except Exception:
                    log.exception("tear_down of %s failed after perform failed", job.class_name)
            raise
        if tear_down is not None:
            tear_down()
        return result

    return runner


def perform_job(worker: Worker, job: Job, *, timeout: float | None = None, alarm: bool = True) -> Outcome:
    """Run ``job`` here, hooks included, and say how it ended. Never raises for the
    job's sake; a :class:`~pyresque.core.errors.WorkerInterrupt` for shutdown is
    turned into a failure too (the job did not finish)."""
    app = worker.app
    token = context.enter(job, app, worker.id)
    try:
        return _perform_job(worker, job, timeout, alarm)
    finally:
        context.leave(token)


def _perform_job(worker: Worker, job: Job, timeout: float | None, alarm: bool) -> Outcome:
    app = worker.app
    hooks = app.hooks
    try:
        target = app.registry.resolve(job.class_name)
        seconds = job_timeout(target, timeout) if alarm else None
        with _alarm(seconds):
            if hooks.needs("pyresque_before_perform", app, job, "before_perform"):
                hooks.before_perform(worker, job)
            result = hooks.perform(worker, job, make_runner(target, job))
            if inspect.isawaitable(result):
                _discard(result)
                raise InvalidJobError(
                    f"job {job.class_name} returned {type(result).__name__} (an async job): this "
                    "worker does not run async jobs yet, so it did not run"
                )
            if hooks.needs("pyresque_after_perform", app, job, "after_perform"):
                hooks.after_perform(worker, job, result)
        return Outcome(ok=True, result=result)
    except DontPerform:
        return Outcome(ok=True, skipped=True)
    except BaseException as exc:  # every way a job can end badly becomes a record
        return failure_outcome(worker, job, exc)


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
