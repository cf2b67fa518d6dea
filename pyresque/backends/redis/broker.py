"""Queues on Redis, in Resque's keys: ``<ns>:queues`` (SET) and ``<ns>:queue:<q>`` (LIST)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis

from pyresque.backends.base import Broker, PushItem
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import ENQUEUE

__all__ = ["RedisBroker", "waiting_status_json"]

#: Jobs per pipeline chunk in ``push_many``.
PUSH_CHUNK = 5000


def waiting_status_json(now: int | None = None) -> bytes:
    """php-resque's WAITING status, as resque/php-resque writes it at enqueue."""
    t = int(time.time()) if now is None else now
    return b'{"status":1,"updated":%d,"started":%d,"result":null}' % (t, t)


class RedisBroker(Broker):
    """Resque queues. Push is one EVALSHA: SADD queues + RPUSH (+ status SET)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._qkeys: dict[str, str] = {}

    def _qkey(self, queue: str) -> str:
        key = self._qkeys.get(queue)
        if key is None:
            key = self._qkeys[queue] = self._k.queue(queue)
        return key

    def push(self, queue: str, data: bytes, *, track_id: str | None = None) -> None:
        """SADD + RPUSH (+ status) atomically. Round trips: 1."""
        if track_id is None:
            ENQUEUE(self._r, (self._k.queues, self._qkey(queue)), (queue, data))
        else:
            ENQUEUE(
                self._r,
                (self._k.queues, self._qkey(queue), self._k.status(track_id)),
                (queue, data, waiting_status_json()),
            )

    def push_many(self, items: Sequence[PushItem]) -> None:
        """Round trips: 1 per ``PUSH_CHUNK`` jobs (a non-transactional pipeline).

        Within a chunk: one SADD per distinct queue, one RPUSH per run of jobs
        for the same queue, one SET per tracked job.
        """
        now = int(time.time())
        for start in range(0, len(items), PUSH_CHUNK):
            chunk = items[start : start + PUSH_CHUNK]
            pipe = self._r.pipeline(transaction=False)
            seen: set[str] = set()
            run_queue: str | None = None
            run: list[bytes] = []
            for item in chunk:
                if item.queue not in seen:
                    seen.add(item.queue)
                    pipe.sadd(self._k.queues, item.queue)
                if item.track_id is not None:
                    pipe.set(self._k.status(item.track_id), waiting_status_json(now))
                if item.queue != run_queue and run:
                    pipe.rpush(self._qkey(run_queue), *run)  # type: ignore[arg-type]
                    run = []
                run_queue = item.queue
                run.append(item.data)
            if run and run_queue is not None:
                pipe.rpush(self._qkey(run_queue), *run)
            pipe.execute()

    def queues(self) -> list[str]:
        """Round trips: 1."""
        return sorted(m.decode() for m in self._r.smembers(self._k.queues))  # type: ignore[union-attr]

    def size(self, queue: str) -> int:
        """Round trips: 1."""
        return int(self._r.llen(self._qkey(queue)))

    def sizes(self, queues: Sequence[str]) -> dict[str, int]:
        """Round trips: 1."""
        pipe = self._r.pipeline(transaction=False)
        for q in queues:
            pipe.llen(self._qkey(q))
        return {q: int(n) for q, n in zip(queues, pipe.execute(), strict=True)}

    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[bytes]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        return list(self._r.lrange(self._qkey(queue), start, stop))  # type: ignore[arg-type]

    def remove_values(self, queue: str, values: Sequence[bytes]) -> list[bool]:
        """One LREM per value (each atomic), pipelined. Round trips: 1."""
        if not values:
            return []
        pipe = self._r.pipeline(transaction=False)
        key = self._qkey(queue)
        for value in values:
            pipe.lrem(key, 1, value)  # type: ignore[arg-type]
        return [bool(n) for n in pipe.execute()]

    def clear(self, queue: str) -> int:
        """LLEN + DEL in MULTI. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._qkey(queue))
        pipe.delete(self._qkey(queue))
        n, _ = pipe.execute()
        return int(n)

    def remove_queue(self, queue: str) -> int:
        """LLEN + DEL + SREM in MULTI, as Ruby's ``remove_queue``. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._qkey(queue))
        pipe.delete(self._qkey(queue))
        pipe.srem(self._k.queues, queue)
        n, _, _ = pipe.execute()
        self._qkeys.pop(queue, None)
        return int(n)
