"""The async worker's slots: N Resque worker ids in one process, and the steps that
take jobs for them (:class:`Dispatcher`).

A slot is a worker id ``host:pid:queues:<n>`` (``n`` from 0 to N-1) with its own
``worker:<id>`` record, heartbeat and lease: to Ruby's, PHP's and node's views, and to
pyresque's pruning, it is one worker working one job (see docs/async-worker.md).

:class:`Dispatcher` runs on the loop. Each round it sends, in one round trip, the step
of every free slot: the outcome of its last job (a success fused into the reserve, a
failure as a ``FAIL`` first) and the reserve of its next job; each job taken runs in a
task of its own (:func:`~pyresque.core.worker.aio.running.run_job`), and its slot comes
back free with its outcome. A round is the same call when repeated after a lost reply
(tokens drawn once), so the worker repeats it while Redis is away.

Idle: when a round found the queues empty, the free slots wait on one blocking,
non-destructive wait (its own connection); a job finishing meanwhile has its outcome
written at once (the rounds then carry only the slots with an outcome). After the
wait says a job may be there, rounds grow from 1 slot, doubling while every slot of a
round got a job, so a lone job costs one script, not N.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pyresque.backends.aio.workers import AsyncWorkerRegistry, SlotStep
from pyresque.core import timefmt
from pyresque.core.errors import DirtyExit, ShutdownRequested
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.reservation import NOT_HELD, Held, Reservation, new_token
from pyresque.core.worker.aio.running import JobThreads, Running, run_job
from pyresque.core.worker.perform import Outcome, bad_payload_record, decode_job, failure_outcome
from pyresque.core.worker.proctitle import set_title
from pyresque.core.worker.pruning import prune_dead_workers, recover_record

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["Dispatcher", "Slot"]

log = logging.getLogger("pyresque.worker")
#: a line per job: done at INFO, failed at WARNING (the CLI shows failures by default)
jobs_log = logging.getLogger("pyresque.worker.jobs")
T = TypeVar("T")


class Slot:
    """One concurrency slot: a worker id, the job it runs, the outcome it owes."""

    __slots__ = ("done", "failed", "id", "index", "requeue", "running", "view")

    def __init__(self, worker: Worker, index: int) -> None:
        self.index = index
        self.id = f"{worker.id}:{index}"
        #: the worker as hooks and records see it in this slot (its ``id`` is the slot's)
        self.view = copy.copy(worker)
        self.view.id = self.id
        self.done: tuple[str, str | None, Any] | None = None
        self.failed: tuple[str, FailureRecord | None, str | None] | None = None
        self.requeue: BaseException | None = None
        self.running: Running | None = None


class Dispatcher:
    """Takes jobs for the free slots and runs them (see the module docstring)."""

    def __init__(self, worker: Worker, registry: AsyncWorkerRegistry, slots: list[Slot]) -> None:
        self.w = worker
        self.registry = registry
        self.slots = slots
        self.free: list[Slot] = list(slots)
        self.event = asyncio.Event()
        self.threads = JobThreads(len(slots))
        self.taken = 0
        self._window = 1  # slots a round reserves for: 1 after an empty round, doubling
        self._waiter: asyncio.Task[None] | None = None
        self._last_prune = time.monotonic()
        self._pause_checked = 0.0
        self._paused_all = False
        self._title_at = 0.0
        self.tasks: set[asyncio.Task[None]] = set()
        self._stop_at_start: dict[int, BaseException] = {}

    # -- backend -------------------------------------------------------------------
    async def with_backend(self, step: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``await step()``, again with backoff (0.1 s doubling to 5 s) while Redis is
        away (every step is safe to repeat); gives up once the worker stops. Returns the
        result and whether the step was repeated."""
        delay, failing = 0.1, False
        while True:
            try:
                result = await step()
            except self.registry.connection_errors as exc:
                if not failing:
                    log.error(
                        "backend %s unreachable (%s); retrying with backoff",
                        self.w.app.backend.describe(),
                        exc,
                    )
                failing = True
                if self.w.shutdown and not self.busy():
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if failing:
                log.warning("backend %s reachable again", self.w.app.backend.describe())
            return result, failing

    def running(self) -> list[Slot]:
        """The slots running a job now."""
        return [s for s in self.slots if s.running is not None]

    def busy(self) -> list[Slot]:
        """The slots holding a job (running it, or about to start it)."""
        return [s for s in self.slots if s not in self.free]

    # -- rounds --------------------------------------------------------------------
    async def round(self, take: bool) -> bool:
        """One round trip for the free slots: write their outcomes, reserve for them
        (``take``). Returns whether some slot found the queues empty."""
        w = self.w
        limit = min(len(self.free), self._window) if take else 0
        if w.options.max_jobs is not None:
            limit = min(limit, max(0, w.options.max_jobs - self.taken))
        owing = [s for s in self.free if s.done or s.failed]
        others = [s for s in self.free if not (s.done or s.failed)]
        batch = (owing + others)[: max(limit, len(owing))]
        if not batch:
            return take
        run_at = timefmt.utc_iso_z()
        steps = [
            SlotStep(s.id, run_at, new_token() if i < limit else "", i < limit, s.done, s.failed)
            for i, s in enumerate(batch)
        ]
        queues = await self.queues() if limit else []
        results, repeated = await self.with_backend(lambda: self.registry.step(steps, queues))
        empty = False
        for slot, step, (finished, failed, taken) in zip(batch, steps, results, strict=True):
            if finished == NOT_HELD and not repeated and slot.done:
                self.unheld(slot.done[1], "success")
            if failed is False and not repeated and slot.failed:
                self.unheld(slot.failed[2], "failure")
            slot.done = slot.failed = None
            if isinstance(taken, Reservation):
                self.start(slot, taken)
            elif isinstance(taken, Held):
                await self.recover_held(slot, taken)
            elif step.take:
                empty = True
        self._window = 1 if empty else min(len(self.slots), self._window * 2)
        return empty

    async def queues(self) -> list[str]:
        """The queues to poll (a pattern's queues re-read on a thread every 5 s)."""
        w = self.w
        if w.selector.dynamic and time.monotonic() - w._queues_at > 5.0:
            return await asyncio.to_thread(w.queues, refresh=True)
        return w.queues()

    def unheld(self, job_id: str | None, what: str) -> None:
        """A job's outcome was not written: pruned while it ran (it was recovered then)."""
        self.w.unheld += 1
        log.warning(
            "job id=%s: its %s is not recorded: this worker no longer held the job (it was "
            "pruned while the job ran and the job was recovered then)",
            job_id or "-",
            what,
        )

    async def recover_held(self, slot: Slot, held: Held) -> None:
        """The slot's id holds a job of a previous process (same id): recover it."""
        exc = DirtyExit("the process running the job died")
        requeue = self.w.options.recover == "requeue"
        await asyncio.to_thread(
            self.w.with_backend, lambda: recover_record(self.w, slot.id, held.record, exc, requeue=requeue)
        )

    # -- jobs ----------------------------------------------------------------------
    def start(self, slot: Slot, res: Reservation) -> None:
        """Run the reserved job in a task; the slot is busy until it ends."""
        self.free.remove(slot)
        self.taken += 1
        task = asyncio.get_running_loop().create_task(self._job(slot, res))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _job(self, slot: Slot, res: Reservation) -> None:
        w = self.w
        started = time.monotonic()
        job: Job | None = None
        try:
            try:
                job = decode_job(slot.view, res.payload, res.queue)
            except Exception as exc:  # decode_job raises only DecodeError / InvalidJobError
                log.error("unusable payload from %s: %s", res.queue, exc)
                record = bad_payload_record(slot.view, res.payload, res.queue, exc)
                outcome = Outcome(ok=False, exception=exc, record=record)
            else:
                slot.running = Running(job)
                stop = self._stop_at_start.pop(slot.index, None)
                if stop is not None:
                    slot.running.stop(self.threads, stop)
                if w.app.hooks.has("pyresque_before_fork"):
                    w.app.hooks.before_fork(slot.view, job)
                outcome = await run_job(
                    slot.view, job, slot.running, self.threads, w.options.timeout, w.options.term_timeout
                )
        except asyncio.CancelledError:
            raise  # the worker is torn down: the job stays held, for the exit to release
        except Exception as exc:  # a hook raised: the job's failure, never the worker's
            outcome = (
                failure_outcome(slot.view, job, exc) if job is not None else Outcome(ok=False, exception=exc)
            )
        stopped = slot.running.stop_reason if slot.running is not None else None
        slot.running = None
        self._stop_at_start.pop(slot.index, None)
        self.count(job, outcome, started)
        job_id = job.id if job is not None else None
        if outcome.ok:
            slot.done = (res.token, job_id, outcome.result)
        elif stopped is not None and w.requeue_interrupted:
            slot.requeue = stopped
        else:
            slot.failed = (res.token, outcome.record, job_id)
        self.free.append(slot)
        self.event.set()

    def count(self, job: Job | None, outcome: Outcome, started: float) -> None:
        """Count the job and log its line (as the other modes do)."""
        w = self.w
        w.processed += 1
        if not outcome.ok:
            w.failed += 1
        level = logging.INFO if outcome.ok else logging.WARNING
        if jobs_log.isEnabledFor(level):
            failed = f"failed: {outcome.exception!r:.200}"
            what = "skipped" if outcome.skipped else "done" if outcome.ok else failed
            jobs_log.log(
                level,
                "%s %s id=%s %.1fms %s",
                job.queue if job else "?",
                job.class_name if job else "?",
                job.id if job else "-",
                (time.monotonic() - started) * 1000,
                what,
            )

    def stop_all(self, reason: BaseException | None = None) -> None:
        """Stop every running job now (TERM, INT, USR1): each is recorded failed."""
        for slot in self.running():
            if slot.running is not None:
                slot.running.stop(
                    self.threads, reason or ShutdownRequested("the job was stopped by a signal")
                )

    async def requeue_stopped(self) -> None:
        """Graceful TERM past its deadline: the stopped jobs go back to their queues."""
        for slot in self.free:
            if slot.requeue is not None:
                exc, slot.requeue = slot.requeue, None
                await asyncio.to_thread(self.w.with_backend, lambda s=slot, e=exc: _release(self.w, s.id, e))

    # -- idle, pause -----------------------------------------------------------------
    async def wait_event(self, timeout: float | None = None) -> None:
        """Until a job ends or a signal comes (or ``timeout``)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)

    async def idle(self) -> None:
        """The queues are empty: wait for a job to arrive or one to end."""
        w = self.w
        if w.app.hooks.has("pyresque_queue_empty"):
            try:
                w.app.hooks.queue_empty(w)
            except Exception:
                log.exception("a queue_empty hook raised")
        now = time.monotonic()
        if now - self._last_prune > w.options.heartbeat_interval:
            self._last_prune = now
            await asyncio.to_thread(w.with_backend, lambda: prune_dead_workers(w))
        self.title(force=True)
        if self._waiter is None:
            queues = await self.queues()
            self._waiter = asyncio.ensure_future(
                self.registry.wait_for_jobs(queues, min(w.options.interval, 1.0))
            )
        woke = asyncio.ensure_future(self.event.wait())
        try:
            await asyncio.wait({self._waiter, woke}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woke.cancel()
        if self._waiter.done():
            waiter, self._waiter = self._waiter, None
            if waiter.exception() is not None:
                log.warning("idle wait failed: %s", waiter.exception())
                await asyncio.sleep(0.5)

    async def paused_by_key(self) -> bool:
        """``pause-all-workers``, read at most once a second; on a single Redis with the
        paused queues (one pipeline, on a thread: :meth:`Worker.queues` filters with what
        it read, never reading on the loop)."""
        now = time.monotonic()
        if now - self._pause_checked >= 1.0:
            self._pause_checked = now
            remote = self.w.remote
            if remote.reader.available:
                await asyncio.to_thread(remote.refresh, force=True)
                self._paused_all = remote.paused_all
            else:
                self._paused_all, _ = await self.with_backend(self.registry.paused_all)
        return self._paused_all

    def title(self, *, force: bool = False) -> None:
        """The process title (Ruby's form), at most once a second."""
        now = time.monotonic()
        if force or now - self._title_at > 1.0:
            self._title_at = now
            busy = len(self.slots) - len(self.free)
            where = ",".join(self.w.queues()) or self.w.selector
            set_title(f"Processing {busy} of {len(self.slots)} slots on {where}")

    async def close(self) -> None:
        """Stop the idle wait, let the idle job threads end."""
        if self._waiter is not None:
            self._waiter.cancel()
            await asyncio.gather(self._waiter, return_exceptions=True)
            self._waiter = None
        self.threads.shutdown(wait=False)


def _release(worker: Worker, slot_id: str, exc: BaseException) -> None:
    held = worker.app.backend.workers.held(slot_id)
    if held is not None:
        recover_record(worker, slot_id, held, exc, requeue=True)
