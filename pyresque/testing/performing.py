"""Performing jobs inside the test process: ``drain`` and the ``inline`` mode.

Both use the worker's own single-job code (:func:`pyresque.core.worker.perform.perform_job`:
registry lookup, hooks, ``set_up``/``perform``/``tear_down``, ``on_failure`` and retry
plugins) and its bookkeeping scripts (stats, job statuses, failure records), so a job
behaves here as in a worker. The job always goes through the serializer and the
backend first: what a test performs is what a worker would have read back from Redis,
so arguments production would reject (or change: tuples become lists, dict keys become
strings) do the same here.

``async def`` jobs run too: ``drain`` and ``inline`` run each on an event loop of
their own (one per call, closed at its end), also when called from inside a running
loop (an async test: the job's loop then runs in a helper thread while the test's
waits). ``await adrain(...)`` runs them on the caller's loop instead, for jobs that
use objects bound to it (clients, fixtures made by pytest-asyncio).

Differences from a real worker, on purpose: no fork, no process title, no signal
handlers, and job timeouts are not enforced (a timer signal would fight the test
runner's own; async jobs are not cancelled at theirs either, to behave the same).
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyresque.core import timefmt
from pyresque.core.app import Resque
from pyresque.core.errors import ConfigurationError, DecodeError, InvalidJobError, TooManyJobs
from pyresque.core.job import Job
from pyresque.core.reservation import Held, new_token
from pyresque.core.scheduling.promotion import Promoter
from pyresque.core.worker import Worker
from pyresque.core.worker.eventloop import JobLoop
from pyresque.core.worker.perform import (
    Outcome,
    bad_payload_record,
    is_async_job,
    perform_async,
    perform_job,
)
from pyresque.hooks import hookimpl
from pyresque.testing.recording import SaveWatch

__all__ = ["DEFAULT_MAX_JOBS", "PerformLog", "Performed", "adrain", "drain", "inline"]

#: Jobs ``drain`` or an ``inline`` block may perform before it stops with TooManyJobs.
DEFAULT_MAX_JOBS = 10_000


@dataclasses.dataclass(frozen=True, slots=True)
class Performed:
    """One job performed by the kit.

    Attributes:
        job: the job as the worker decoded it (``None`` for an undecodable payload).
        ok: it succeeded or was skipped.
        skipped: a ``before_perform`` hook raised ``DontPerform``.
        result: what ``perform`` returned.
        exception: what failed it.
        recorded: a failure record was written for this run: by the worker's
            bookkeeping, or by a plugin that handled the failure (the retry plugin
            writes one when it gives up on the job). ``False`` for a success, and for a
            failure a plugin handled without a record (a run the retry plugin retried).
    """

    job: Job | None
    ok: bool
    skipped: bool = False
    result: Any = None
    exception: BaseException | None = None
    recorded: bool = False


class PerformLog:
    """The jobs a ``drain`` call or an ``inline`` block performed, in order."""

    def __init__(self) -> None:
        self.jobs: list[Performed] = []

    @property
    def succeeded(self) -> list[Performed]:
        """Jobs that succeeded (or were skipped)."""
        return [p for p in self.jobs if p.ok]

    @property
    def failed(self) -> list[Performed]:
        """Jobs that failed."""
        return [p for p in self.jobs if not p.ok]

    def class_names(self) -> list[str | None]:
        """The class name of every performed job, in order."""
        return [p.job.class_name if p.job is not None else None for p in self.jobs]

    def __len__(self) -> int:
        return len(self.jobs)

    def __iter__(self) -> Iterator[Performed]:
        return iter(self.jobs)

    def __repr__(self) -> str:
        return f"PerformLog({len(self.succeeded)} ok, {len(self.failed)} failed)"


class _Runner:
    """A worker identity and the bookkeeping around ``perform_job``."""

    def __init__(self, app: Resque, queues: Sequence[str], raise_errors: bool, max_jobs: int) -> None:
        self.app = app
        self.worker = Worker(app, list(queues), mode="inprocess", heartbeat_interval=0)
        self.registry = app.backend.workers
        self.raise_errors = raise_errors
        self.max_jobs = max_jobs
        self.log = PerformLog()
        self.watch = SaveWatch(app)
        self.loop = JobLoop()  # async jobs run here (closed with the runner)

    def __enter__(self) -> _Runner:
        with self.app.connection_guard():
            self.registry.register(self.worker.id, timefmt.ruby_time_to_s())
        self.watch.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.loop.close()
        self.watch.__exit__()
        with self.app.connection_guard():
            self.registry.unregister(self.worker.id)

    def _count(self) -> None:
        if len(self.log) >= self.max_jobs:
            raise TooManyJobs(
                f"performed {self.max_jobs} jobs and more keep coming (a job enqueuing itself "
                "forever?); raise max_jobs if that many are expected"
            )

    def _decode(self, raw: bytes, queue: str) -> tuple[Job | None, Outcome | None]:
        """The job in ``raw``, or the outcome of a payload that is not one."""
        self._count()
        try:
            return self.app.decode(raw, queue), None
        except (DecodeError, InvalidJobError) as exc:
            record = bad_payload_record(self.worker, raw, queue, exc)
            return None, Outcome(ok=False, exception=exc, record=record)

    def perform(self, raw: bytes, queue: str, token: str = "") -> Performed:
        """Decode ``raw`` (read back from ``queue``, reserved with ``token``, or not
        reserved at all when empty), perform it, write its outcome."""
        saved_before = self.watch.saved
        job, outcome = self._decode(raw, queue)
        if outcome is None:
            assert job is not None
            outcome = perform_job(self.worker, job, alarm=False, loop=self.loop)
        return self._finish(job, outcome, token, saved_before)

    async def aperform(self, raw: bytes, queue: str, token: str = "") -> Performed:
        """:meth:`perform`, an async job awaited on the running loop."""
        saved_before = self.watch.saved
        job, outcome = self._decode(raw, queue)
        if outcome is None:
            assert job is not None
            try:
                target = self.app.registry.resolve(job.class_name)
            except Exception:
                target = None  # perform_job records why
            if target is not None and is_async_job(target):
                outcome = await perform_async(self.worker, job, timeouts=False)
            else:
                outcome = perform_job(self.worker, job, alarm=False, loop=self.loop)
        return self._finish(job, outcome, token, saved_before)

    def _finish(self, job: Job | None, outcome: Outcome, token: str, saved_before: int) -> Performed:
        # a plugin that handled the failure may have written the record itself (the retry
        # plugin does when it gives up): that failure is as final as an unhandled one
        recorded = outcome.record is not None or (not outcome.ok and self.watch.saved > saved_before)
        job_id = job.id if job is not None else None
        with self.app.connection_guard():
            if outcome.ok:
                self.registry.done(self.worker.id, job_id, outcome.result, token=token)
            else:
                self.registry.fail(self.worker.id, outcome.record, job_id, token=token)
        done = Performed(
            job=job,
            ok=outcome.ok,
            skipped=outcome.skipped,
            result=outcome.result,
            exception=outcome.exception,
            recorded=recorded,
        )
        self.log.jobs.append(done)
        if self.raise_errors and not outcome.ok and recorded:
            assert outcome.exception is not None
            raise outcome.exception
        return done

    def reserve(self, promoter: Promoter | None, now: float | None) -> tuple[bytes, str, str] | None:
        """Promote due delayed jobs, then reserve the next job (``None``: all done)."""
        worker = self.worker
        if promoter is not None:
            with self.app.connection_guard():
                promoter.promote_due(int(time.time() if now is None else now))
        with self.app.connection_guard():
            reserved = self.registry.reserve(
                worker.id, worker.queues(refresh=True), timefmt.utc_iso_z(), token=new_token()
            ).taken
        if reserved is None:
            return None
        if isinstance(reserved, Held):  # cannot happen: our id holds nothing between jobs
            raise RuntimeError(f"the kit's worker {worker.id} already holds a job")
        return reserved.payload, reserved.queue, reserved.token


def _names(queues: str | Sequence[str] | None) -> list[str]:
    return ["*"] if queues is None else [queues] if isinstance(queues, str) else list(queues)


def drain(
    app: Resque,
    queues: str | Sequence[str] | None = None,
    *,
    include_delayed: bool = True,
    now: float | None = None,
    raise_errors: bool = True,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> PerformLog:
    """Perform every job waiting in ``queues`` (all by default), in-process, until none is left.

    Jobs that jobs enqueue are performed too. With ``include_delayed``, delayed jobs whose
    time has come (at ``now``, the current time by default: pass a later time to travel
    forward) are moved to their queues first, and again whenever the queues run dry.

    Args:
        app: the app (on fakeredis, or any backend you own).
        queues: a queue, a list in priority order (patterns as the worker's), or ``None``.
        include_delayed: also run due delayed jobs.
        now: the time (epoch seconds) deciding which delayed jobs are due.
        raise_errors: re-raise a job's exception (after its failure is recorded, as a
            worker records it); ``False`` records it and goes on. A job the retry
            plugin retries does not raise (its retry runs in this drain); the run it
            gives up on, which gets a failure record, does.
        max_jobs: stop with :class:`~pyresque.core.errors.TooManyJobs` past this many.

    Returns:
        The :class:`PerformLog` of what ran.
    """
    promoter = Promoter(app, name="pyresque-testing") if include_delayed else None
    with _Runner(app, _names(queues), raise_errors, max_jobs) as runner:
        while (reserved := runner.reserve(promoter, now)) is not None:
            runner.perform(*reserved)
        return runner.log


async def adrain(
    app: Resque,
    queues: str | Sequence[str] | None = None,
    *,
    include_delayed: bool = True,
    now: float | None = None,
    raise_errors: bool = True,
    max_jobs: int = DEFAULT_MAX_JOBS,
) -> PerformLog:
    """:func:`drain` for async tests: ``await adrain(app)``.

    The same arguments and the same log; ``async def`` jobs are awaited on the caller's
    running loop (through the async worker's own
    :func:`~pyresque.core.worker.perform.perform_async`), so they may use what the test
    made on it (an ``httpx.AsyncClient``, an async database pool). Sync jobs, and the
    backend calls, run as in ``drain`` (synchronously, on the loop's thread).
    """
    promoter = Promoter(app, name="pyresque-testing") if include_delayed else None
    with _Runner(app, _names(queues), raise_errors, max_jobs) as runner:
        while (reserved := runner.reserve(promoter, now)) is not None:
            await runner.aperform(*reserved)
        return runner.log


class _InlinePlugin:
    """Performs each job right after ``enqueue`` wrote it (jobs enqueued by a running job
    wait until it finishes, then run in order: no recursion, as under a real worker)."""

    def __init__(self, runner: _Runner) -> None:
        self.runner = runner
        self.pending: collections.deque[tuple[bytes, str, str]] = collections.deque()
        self.running = False

    @hookimpl
    def pyresque_after_enqueue(self, app: Resque, job: Job) -> None:
        """Queue the job for performing; perform everything pending unless already doing so."""
        if app is not self.runner.app:
            return
        self.pending.append((app.encode(job), job.queue, job.class_name))
        if self.running:
            return
        self.running = True
        try:
            while self.pending:
                raw, queue, class_name = self.pending.popleft()
                # take back the exact bytes written; a job left pending by an error stays queued
                with app.connection_guard():
                    (removed,) = app.backend.broker.remove_values(queue, [raw])
                if not removed:
                    raise RuntimeError(f"inline mode: the job {class_name} just enqueued is not in {queue!r}")
                self.runner.perform(raw, queue)
        finally:
            self.running = False
            self.pending.clear()


@contextmanager
def inline(
    app: Resque, *, raise_errors: bool = True, max_jobs: int = DEFAULT_MAX_JOBS
) -> Iterator[PerformLog]:
    """Within the block, ``app.enqueue`` performs each job at once, after writing it.

    The job is written to its queue, taken back (the exact bytes) and decoded before it
    runs, so it sees what a worker would. A failing job's exception propagates from
    ``enqueue`` (``raise_errors=False``: it is only recorded, as a worker would).
    Jobs a job enqueues run as soon as it finished, in order (if it fails and raises,
    they stay in their queues). Delayed jobs (``enqueue_at`` in
    the future) stay delayed: run them with :func:`drain` and ``now=``.

    Yields:
        The :class:`PerformLog`, filled as jobs run.

    Raises:
        ConfigurationError: the app is already in inline mode.
    """
    if any(isinstance(p, _InlinePlugin) for p in app.hooks.pm.get_plugins()):
        raise ConfigurationError("this app is already in inline mode (inline() blocks do not nest)")
    with _Runner(app, ["*"], raise_errors, max_jobs) as runner:
        plugin = _InlinePlugin(runner)
        app.hooks.register(plugin)
        try:
            yield runner.log
        finally:
            app.hooks.unregister(plugin)
