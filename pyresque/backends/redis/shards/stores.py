"""The stores of :class:`~pyresque.backends.redis.shards.backend.ShardedBackend`: each
routes by queue, or reads every shard and combines.

- :class:`ShardedBroker`: every per-queue call goes to the queue's shard; ``queues``
  is the union, ``sizes`` and the queue-pruning calls are grouped by shard.
- :class:`ShardedStats`: ``get`` sums the shards; ``incr`` counts on the first shard.
- :class:`ShardedFailures`: one index space, the shards' lists one after the other in
  shard order (shard 0's entries first); a new failure goes to its queue's shard.
- :class:`ShardedStatuses`: a job's status is on the shard of its queue, which its id
  does not tell: reads and writes ask the shards in turn for the one holding it.
- :class:`ShardedWorkers`: what every shard has registered (read side), and the
  recovery of a held job on the shard that holds it; a worker writes through its own
  :class:`~pyresque.backends.redis.shards.worker_side.ShardedWorkerSide`, so the
  writer side here refuses with a plain line.
- :class:`ShardedDelayed`: a delayed job is written to its queue's shard (whose
  scheduler moves it); removal by id asks every shard; the other calls (listing,
  the scheduler's side) are the first shard's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from pyresque.backends.base import Broker, EnqueueGuard, FailureStore, PushItem, Stats, StatusStore
from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.delayed import RedisDelayedStore
from pyresque.backends.redis.workers import RedisWorkerRegistry
from pyresque.core.errors import ConfigurationError, FailureNotFound
from pyresque.core.failure import FailureRecord
from pyresque.core.status import JobStatus, StatusInfo

__all__ = [
    "ShardedBroker",
    "ShardedDelayed",
    "ShardedFailures",
    "ShardedStats",
    "ShardedStatuses",
    "ShardedWorkers",
]

Route = Callable[[str], RedisBackend]


def _grouped(route: Route, queues: Sequence[str]) -> dict[int, tuple[RedisBackend, list[str]]]:
    groups: dict[int, tuple[RedisBackend, list[str]]] = {}
    for queue in queues:
        backend = route(queue)
        groups.setdefault(id(backend), (backend, []))[1].append(queue)
    return groups


class ShardedBroker(Broker):
    """Queues, each on its shard."""

    def __init__(self, shards: Sequence[RedisBackend], route: Route) -> None:
        self._shards = shards
        self._route = route

    def push(self, queue: str, data: bytes, *, track_id: str | None = None) -> None:
        """On the queue's shard. Round trips: 1."""
        self._route(queue).broker.push(queue, data, track_id=track_id)

    def push_once(self, queue: str, data: bytes, guard: EnqueueGuard, *, track_id: str | None = None) -> str:
        """On the queue's shard (the idempotency marker lives there). Round trips: 1."""
        return self._route(queue).broker.push_once(queue, data, guard, track_id=track_id)

    def push_many(self, items: Sequence[PushItem]) -> list[str | None]:
        """One pipeline per shard; shards are written one after the other, so an error on
        one leaves the items of the shards before it written. Round trips: 1 per shard."""
        groups: dict[int, tuple[RedisBackend, list[int]]] = {}
        for index, item in enumerate(items):
            backend = self._route(item.queue)
            groups.setdefault(id(backend), (backend, []))[1].append(index)
        markers: list[str | None] = [None] * len(items)
        for backend, indexes in groups.values():
            for index, marker in zip(
                indexes, backend.broker.push_many([items[i] for i in indexes]), strict=True
            ):
                markers[index] = marker
        return markers

    def queues(self) -> list[str]:
        """Round trips: 1 per shard."""
        return sorted({queue for shard in self._shards for queue in shard.broker.queues()})

    def size(self, queue: str) -> int:
        """Round trips: 1."""
        return self._route(queue).broker.size(queue)

    def sizes(self, queues: Sequence[str]) -> dict[str, int]:
        """Round trips: 1 per shard holding one of ``queues``."""
        out: dict[str, int] = {}
        for backend, names in _grouped(self._route, queues).values():
            out.update(backend.broker.sizes(names))
        return {queue: out[queue] for queue in queues}

    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[bytes]:
        """Round trips: 1."""
        return self._route(queue).broker.peek(queue, start, count)

    def remove_values(self, queue: str, values: Sequence[bytes]) -> list[bool]:
        """Round trips: as the shard's."""
        return self._route(queue).broker.remove_values(queue, values)

    def clear(self, queue: str) -> int:
        """Round trips: 1."""
        return self._route(queue).broker.clear(queue)

    def remove_queue(self, queue: str) -> int:
        """Round trips: 1."""
        return self._route(queue).broker.remove_queue(queue)

    def unregister_empty(self, queues: Sequence[str]) -> list[str]:
        """Round trips: 1 per shard holding one of ``queues``."""
        return [
            q
            for backend, names in _grouped(self._route, queues).values()
            for q in backend.broker.unregister_empty(names)
        ]

    def register_nonempty(self, queues: Sequence[str]) -> list[str]:
        """Round trips: 1 per shard holding one of ``queues``."""
        return [
            q
            for backend, names in _grouped(self._route, queues).values()
            for q in backend.broker.register_nonempty(names)
        ]


class ShardedStats(Stats):
    """``stat:<name>`` summed over the shards."""

    def __init__(self, shards: Sequence[RedisBackend]) -> None:
        self._shards = shards

    def get(self, name: str) -> int:
        """Round trips: 1 per shard."""
        return sum(shard.stats.get(name) for shard in self._shards)

    def incr(self, name: str, by: int = 1) -> int:
        """On the first shard; returns the sum. Round trips: 1 + 1 per shard."""
        self._shards[0].stats.incr(name, by)
        return self.get(name)

    def clear(self, name: str) -> None:
        """On every shard. Round trips: 1 per shard."""
        for shard in self._shards:
            shard.stats.clear(name)


class ShardedFailures(FailureStore):
    """The shards' failure lists as one, in shard order."""

    def __init__(self, shards: Sequence[RedisBackend], route: Route) -> None:
        self._shards = shards
        self._route = route

    def _locate(self, index: int) -> tuple[RedisBackend, int]:
        if index >= 0:
            for shard in self._shards:
                n = shard.failures.count()
                if index < n:
                    return shard, index
                index -= n
        raise FailureNotFound(f"no failure at index {index}")

    def save(self, record: FailureRecord) -> None:
        """On the shard of the job's queue. Round trips: 1."""
        self._route(record.queue).failures.save(record)

    def count(self, queue: str | None = None) -> int:
        """Round trips: 1 per shard (one shard for a ``queue``)."""
        if queue is not None:
            return self._route(queue).failures.count(queue)
        return sum(shard.failures.count() for shard in self._shards)

    def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """``count`` entries from global index ``start`` (a negative ``count``: all from
        there on, as a single shard's). Round trips: 1 per shard, + 1 per shard read from."""
        out: list[FailureRecord] = []
        for shard in self._shards:
            n = shard.failures.count()
            wanted = -1 if count < 0 else count - len(out)
            if wanted != 0 and start < n:
                out += shard.failures.all(max(0, start), wanted)
            start -= n
        return out

    def requeue(self, index: int, queue: str | None = None) -> None:
        """Requeue on the failure's shard (to a queue of that shard only)."""
        shard, local = self._locate(index)
        if queue is not None and self._route(queue) is not shard:
            raise ConfigurationError(f"queue {queue!r} lives on another shard than failure {index}")
        shard.failures.requeue(local, queue)

    def remove(self, index: int) -> None:
        """Remove from the failure's shard."""
        shard, local = self._locate(index)
        shard.failures.remove(local)

    def clear(self) -> int:
        """Round trips: 1 per shard."""
        return sum(shard.failures.clear() for shard in self._shards)

    def requeue_all(self) -> int:
        """Round trips: as each shard's."""
        return sum(shard.failures.requeue_all() for shard in self._shards)

    def requeue_queue(self, queue: str) -> int:
        """Round trips: as each shard's."""
        return sum(shard.failures.requeue_queue(queue) for shard in self._shards)

    def remove_queue(self, queue: str) -> int:
        """Round trips: as each shard's."""
        return sum(shard.failures.remove_queue(queue) for shard in self._shards)

    def clear_retried(self) -> int:
        """Round trips: as each shard's."""
        return sum(shard.failures.clear_retried() for shard in self._shards)


class ShardedStatuses(StatusStore):
    """A job's status, on whichever shard holds it (asked in turn)."""

    def __init__(self, shards: Sequence[RedisBackend]) -> None:
        self._shards = shards

    def _holder(self, job_id: str) -> RedisBackend | None:
        return next((s for s in self._shards if s.statuses.get(job_id) is not None), None)

    def create(self, job_id: str) -> None:
        """On the first shard (pushes create their job's status on the queue's shard)."""
        self._shards[0].statuses.create(job_id)

    def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """Round trips: up to 1 per shard, + 1."""
        holder = self._holder(job_id)
        return holder is not None and holder.statuses.update(job_id, status, result)

    def get(self, job_id: str) -> StatusInfo | None:
        """Round trips: up to 1 per shard."""
        for shard in self._shards:
            found = shard.statuses.get(job_id)
            if found is not None:
                return found
        return None

    def wait(self, job_id: str, timeout: float) -> StatusInfo | None:
        """Wait on the shard holding the status (``None`` at once when none does)."""
        holder = self._holder(job_id)
        return None if holder is None else holder.statuses.wait(job_id, timeout)

    def set_progress(self, job_id: str, num: float | None, total: float | None, message: str | None) -> bool:
        """Round trips: up to 1 per shard, + 1."""
        holder = self._holder(job_id)
        return holder is not None and holder.statuses.set_progress(job_id, num, total, message)

    def remove(self, job_id: str) -> bool:
        """Round trips: 1 per shard."""
        return any([shard.statuses.remove(job_id) for shard in self._shards])


def _per_shard(what: str) -> NoReturn:
    raise ConfigurationError(
        f"the sharded app's registry cannot {what}: a worker over shards is "
        "pyresque.Worker(app, queues) (or pyresque worker), which writes on each shard itself; "
        "the async worker runs on one shard's URL"
    )


class ShardedWorkers(RedisWorkerRegistry):
    """Every shard's registered workers (read side), and recovery on the shard that
    holds a job. The other writer calls refuse: a worker writes through its own
    :class:`~pyresque.backends.redis.shards.worker_side.ShardedWorkerSide`."""

    def __init__(self, shards: Sequence[RedisBackend], route: Route | None = None) -> None:
        super().__init__(shards[0].client, shards[0].keys)
        self._shards = shards
        self._route = route

    def all(self) -> list[str]:
        """Round trips: 1 per shard."""
        return sorted({w for shard in self._shards for w in shard.workers.all()})

    def working(self) -> dict[str, dict[str, Any]]:
        """Round trips: 2 per shard."""
        out: dict[str, dict[str, Any]] = {}
        for shard in self._shards:
            out.update(shard.workers.working())
        return out

    def heartbeats(self) -> dict[str, str]:
        """Round trips: 1 per shard."""
        out: dict[str, str] = {}
        for shard in self._shards:
            out.update(shard.workers.heartbeats())
        return out

    def recover(
        self,
        worker_id: str,
        expected: bytes,
        *,
        mode: str,
        record: FailureRecord | None,
        queue: str,
        payload: bytes,
        job_id: str | None,
    ) -> bool:
        """Release the job ``worker:<id>`` holds as ``expected`` on whichever shard holds
        it: the queue's shard first, then the others (compare-and-act on the exact record:
        only the holder acts). Round trips: 1, up to 1 per shard."""
        first = self._route(queue) if queue and self._route is not None else None
        order = [first] if first is not None else []
        order += [shard for shard in self._shards if shard is not first]
        for shard in order:
            if shard.workers.recover(
                worker_id, expected, mode=mode, record=record, queue=queue, payload=payload, job_id=job_id
            ):
                return True
        return False

    def register(self, worker_id: str, started: str) -> None:
        """Refused: see the class docstring."""
        _per_shard("register a worker")

    def reserve(self, *args: Any, **kwargs: Any) -> Any:
        """Refused: see the class docstring."""
        _per_shard("reserve jobs")

    def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Refused: see the class docstring."""
        _per_shard("wait for jobs")


class ShardedDelayed(RedisDelayedStore):
    """Delayed jobs written on their queue's shard; the rest is the first shard's."""

    def __init__(self, shards: Sequence[RedisBackend], route: Route) -> None:
        super().__init__(shards[0].client, shards[0].keys)
        self._shards = shards
        self._route = route

    def schedule(
        self, timestamp: int, item: bytes, *, job_id: str | None = None, track: bool = False
    ) -> bool:
        """On the shard of the item's queue. Round trips: as the shard's."""
        try:
            queue = json.loads(item).get("queue")
        except (ValueError, AttributeError):
            queue = None
        shard = self._route(queue) if isinstance(queue, str) else self._shards[0]
        return bool(shard.delayed.schedule(timestamp, item, job_id=job_id, track=track))  # Redis shards tell

    def remove_by_id(self, job_id: str) -> int:
        """On every shard. Round trips: as each shard's."""
        return sum(shard.delayed.remove_by_id(job_id) for shard in self._shards)

    def count(self) -> int:
        """Round trips: 1 per shard."""
        return sum(shard.delayed.count() for shard in self._shards)
