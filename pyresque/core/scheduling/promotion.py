"""Moving due delayed items to their queues, exactly once.

For each due timestamp (oldest first), batches of items are read from the head of
``delayed:<ts>`` and moved by the backend's atomic promote step: an item is pushed
only by the caller that removed it, so any number of schedulers (pyresque's, or
node/PHP ones that LPOP) never enqueue one item twice, and a scheduler killed at any
instant leaves every item either still delayed or enqueued, never both or neither.

Which queue: the item's ``queue``; else the ``queue`` attribute of the job class
registered under its ``class``; else the scheduler's ``default_queue``. An item
with none of these, or unreadable bytes, is moved to the failure store with
:class:`~pyresque.core.errors.UndeliverableDelayedItem`: never dropped.
Items are pushed byte for byte, so every field their writer put in them (PHP's
wrapped args, pyres' ``first_attempt``, node's ``queue``) reaches the worker.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.core.delayed_item import DelayedMove, decode_item, valid_queue
from pyresque.core.errors import InvalidJobError, UndeliverableDelayedItem, UnknownJobClass
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["DEFAULT_BATCH_SIZE", "PromoteResult", "Promoter"]

log = logging.getLogger("pyresque.scheduler")

#: Items moved per round trip (resque-scheduler's ``DELAYED_REQUEUE_BATCH_SIZE`` is 100).
DEFAULT_BATCH_SIZE = 1000

#: Due timestamps read from the schedule per round trip.
STAMPS_PER_READ = 100


@dataclasses.dataclass
class PromoteResult:
    """What one ``promote_due`` call did."""

    #: items this caller pushed to a queue.
    promoted: int = 0
    #: items this caller moved to the failure store (undeliverable).
    failed: int = 0
    #: items another scheduler moved first (read by us, moved by them).
    lost_races: int = 0
    #: items read from delayed lists.
    read: int = 0

    def __iadd__(self, other: PromoteResult) -> PromoteResult:
        self.promoted += other.promoted
        self.failed += other.failed
        self.lost_races += other.lost_races
        self.read += other.read
        return self


class Promoter:
    """Plans and performs the promotion of due delayed items for one app.

    Args:
        app: the app whose backend holds the delayed items.
        batch_size: items per round trip (1 .. 10,000).
        default_queue: the queue for items that name none and whose class gives none.
        name: who promotes, written as ``worker`` in failure records (``host:pid``).
    """

    def __init__(
        self,
        app: Resque,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        default_queue: str | None = None,
        name: str = "scheduler",
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= 10_000:
            raise ValueError(f"batch_size must be an int in 1..10000: {batch_size!r}")
        if default_queue is not None and valid_queue(default_queue) is None:
            raise ValueError(f"default_queue is not a usable queue name: {default_queue!r}")
        self.app = app
        self.batch_size = batch_size
        self.default_queue = default_queue
        self.name = name
        self._class_queues: dict[str, str | None] = {}
        self._queues: dict[Any, str | None] = {}

    # planning --------------------------------------------------------------------------
    def _class_queue(self, class_name: str) -> str | None:
        if class_name not in self._class_queues:
            try:
                target = self.app.registry.resolve(class_name)
            except UnknownJobClass:
                target = None
            self._class_queues[class_name] = valid_queue(getattr(target, "queue", None))
        return self._class_queues[class_name]

    def _queue_of(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        if value not in self._queues:
            self._queues[value] = valid_queue(value)
        return self._queues[value]

    def plan(self, raw: bytes, position: int = 0) -> tuple[DelayedMove, Job | None]:
        """Where ``raw`` goes: ``(move, job)``; ``job`` is ``None`` for a failure move."""
        try:
            data = decode_item(raw)
        except InvalidJobError as exc:
            error = UndeliverableDelayedItem(f"unreadable delayed item: {exc}")
            payload = {"class": None, "raw": raw.decode("utf-8", "replace")}
            return DelayedMove(raw, failure=self._failure(error, payload), position=position), None
        class_name: str = data["class"]
        queue = self._queue_of(data.get("queue")) or self._class_queue(class_name) or self.default_queue
        if queue is None:
            error = UndeliverableDelayedItem(
                f"delayed item for {class_name} names no usable queue (queue={data.get('queue')!r}), "
                "its class gives none and the scheduler has no default queue"
            )
            return DelayedMove(raw, failure=self._failure(error, data), position=position), None
        job = Job(
            queue=queue,
            class_name=class_name,
            args=tuple(data.get("args", ())),
            extra={k: v for k, v in data.items() if k not in ("class", "args", "queue")},
        )
        return DelayedMove(raw, queue=queue, position=position), job

    def _failure(self, error: UndeliverableDelayedItem, payload: dict[str, Any]) -> FailureRecord:
        log.error("%s", error)
        return FailureRecord.from_exception(error, payload=payload, queue="", worker=self.name)

    # moving ----------------------------------------------------------------------------
    def promote_timestamp(self, timestamp: int) -> PromoteResult:
        """Move one batch from the head of ``delayed:<timestamp>``. Round trips: 2.

        An empty list costs one more round trip (the timestamp is tidied away).
        """
        store = self.app.backend.delayed
        raws = store.items_at(timestamp, 0, self.batch_size)
        result = PromoteResult(read=len(raws))
        if not raws:
            store.tidy(timestamp)
            return result
        plans = [self.plan(raw, i) for i, raw in enumerate(raws)]
        hooks = self.app.hooks
        for _, job in plans:
            if job is not None and hooks.needs(
                "pyresque_before_delayed_enqueue", self.app, job, "before_delayed_enqueue"
            ):
                self._before_hook(job)
        flags = store.promote(timestamp, [move for move, _ in plans])
        for (move, _), moved in zip(plans, flags, strict=True):
            if not moved:
                result.lost_races += 1
            elif move.queue is not None:
                result.promoted += 1
            else:
                result.failed += 1
        return result

    def _before_hook(self, job: Job) -> None:
        try:
            self.app.hooks.before_delayed_enqueue(self.app, job)
        except Exception:
            log.exception(
                "before_delayed_enqueue hook failed for %s; enqueuing it regardless", job.class_name
            )

    def promote_due(self, now: int, keep_going: Callable[[], bool] = lambda: True) -> PromoteResult:
        """Move every item due at or before ``now``, oldest timestamp first.

        ``keep_going`` is asked before each batch (the scheduler stops there when told
        to exit or when it lost the leader lock). Round trips: 2 per batch, plus 1
        per ``STAMPS_PER_READ`` due timestamps and 1 to find nothing more is due (a
        full batch goes on with the same timestamp).
        """
        total = PromoteResult()
        store = self.app.backend.delayed
        stamps: list[int] = []
        while keep_going():
            if not stamps:
                stamps = store.due_timestamps(now, STAMPS_PER_READ)
                if not stamps:
                    break
            batch = self.promote_timestamp(stamps[0])
            total += batch
            if batch.read < self.batch_size:
                stamps.pop(0)
        if total.promoted or total.failed:
            log.info(
                "promoted %d delayed item(s), %d undeliverable to the failure store",
                total.promoted,
                total.failed,
            )
        return total
