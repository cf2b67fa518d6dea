"""resque-scheduler's delayed queue on Redis.

``<ns>:delayed_queue_schedule`` (ZSET, member = score = epoch seconds),
``<ns>:delayed:<ts>`` (LIST of items) and ``<ns>:timestamps:<item>`` (SET of
``delayed:<ts>``, the reverse index), written in one MULTI as node-resque does.
"""

from __future__ import annotations

import redis

from pyresque.backends.base import DelayedStore
from pyresque.backends.redis.keys import Keys

__all__ = ["RedisDelayedStore"]


class RedisDelayedStore(DelayedStore):
    """Delayed items in resque-scheduler's keys."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def schedule(self, timestamp: int, item: bytes) -> None:
        """RPUSH + SADD + ZADD in MULTI. Round trips: 1."""
        ts = int(timestamp)
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(self._k.delayed(ts), item)
        pipe.sadd(self._k.timestamps(item.decode("utf-8")), Keys.delayed_member(ts))
        pipe.zadd(self._k.delayed_schedule, {str(ts): ts})
        pipe.execute()

    def timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """Round trips: 1."""
        stop = -1 if count < 0 else start + count - 1
        members: list[bytes] = self._r.zrange(self._k.delayed_schedule, start, stop)  # type: ignore[assignment]
        return [int(m) for m in members]

    def count(self) -> int:
        """Round trips: 2."""
        stamps = self.timestamps()
        if not stamps:
            return 0
        pipe = self._r.pipeline(transaction=False)
        for ts in stamps:
            pipe.llen(self._k.delayed(ts))
        return sum(int(n) for n in pipe.execute())

    def items_at(self, timestamp: int) -> list[bytes]:
        """Round trips: 1."""
        return list(self._r.lrange(self._k.delayed(int(timestamp)), 0, -1))  # type: ignore[arg-type]

    def scheduled_at(self, item: bytes) -> list[int]:
        """Round trips: 1."""
        members: set[bytes] = self._r.smembers(self._k.timestamps(item.decode("utf-8")))  # type: ignore[assignment]
        return sorted(int(m.decode().split(":", 1)[1]) for m in members)

    def remove(self, item: bytes) -> int:
        """LREM from every list the reverse index names, then tidy. Round trips: 3."""
        index_key = self._k.timestamps(item.decode("utf-8"))
        stamps = self.scheduled_at(item)
        if not stamps:
            return 0
        pipe = self._r.pipeline(transaction=True)
        for ts in stamps:
            pipe.lrem(self._k.delayed(ts), 0, item)  # type: ignore[arg-type]
        pipe.delete(index_key)
        removed = sum(int(n) for n in pipe.execute()[: len(stamps)])
        self._tidy(stamps)
        return removed

    def _tidy(self, stamps: list[int]) -> None:
        """Drop timestamps whose lists became empty (WATCH so a concurrent push wins)."""
        for ts in stamps:
            key = self._k.delayed(ts)
            with self._r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    if pipe.llen(key) == 0:
                        pipe.multi()
                        pipe.delete(key)
                        pipe.zrem(self._k.delayed_schedule, str(ts))
                        pipe.execute()
                except redis.WatchError:
                    continue

    def clear(self) -> int:
        """Drop every delayed item and its index entries. Round trips: a few per timestamp."""
        total = 0
        for ts in self.timestamps():
            items = self.items_at(ts)
            pipe = self._r.pipeline(transaction=True)
            for item in set(items):
                pipe.delete(self._k.timestamps(item.decode("utf-8")))
            pipe.delete(self._k.delayed(ts))
            pipe.zrem(self._k.delayed_schedule, str(ts))
            pipe.execute()
            total += len(items)
        return total
