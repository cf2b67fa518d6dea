"""resque-scheduler's delayed queue on Redis from asyncio, the client's half: the sync
store's keys (``<ns>:delayed_queue_schedule``, ``<ns>:delayed:<ts>``,
``<ns>:timestamps:<item>``), its MULTI and its ``TIDY_TIMESTAMP`` script, awaited.
Promotion and the leader lock stay with the scheduler (sync)."""

from __future__ import annotations

import redis.asyncio

from pyresque.backends.aio.base import AsyncDelayedStore
from pyresque.backends.redis.aio.calls import run_script
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scheduler_scripts import TIDY_TIMESTAMP

__all__ = ["AsyncRedisDelayedStore"]


class AsyncRedisDelayedStore(AsyncDelayedStore):
    """Delayed items in resque-scheduler's keys."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._index_prefix = keys.timestamps("").encode("utf-8")

    def _index_key(self, item: bytes) -> bytes:
        return self._index_prefix + item

    async def schedule(self, timestamp: int, item: bytes) -> None:
        """RPUSH + SADD + ZADD in MULTI. Round trips: 1 (a repeat after a lost reply
        schedules the item twice, as the sync store's)."""
        ts = int(timestamp)
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(self._k.delayed(ts), item)
        pipe.sadd(self._index_key(item), Keys.delayed_member(ts))
        pipe.zadd(self._k.delayed_schedule, {str(ts): ts})
        await pipe.execute()

    async def timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        members: list[bytes] = await self._r.zrange(self._k.delayed_schedule, start, stop)  # type: ignore[assignment]
        return [int(m) for m in members]

    async def count(self) -> int:
        """Round trips: 2."""
        stamps = await self.timestamps()
        if not stamps:
            return 0
        pipe = self._r.pipeline(transaction=False)
        for ts in stamps:
            pipe.llen(self._k.delayed(ts))
        return sum(int(n) for n in await pipe.execute())

    async def items_at(self, timestamp: int, start: int = 0, count: int = -1) -> list[bytes]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        raws: list[bytes] = await self._r.lrange(self._k.delayed(int(timestamp)), start, stop)  # type: ignore[assignment]
        return raws

    async def size_at(self, timestamp: int) -> int:
        """Round trips: 1."""
        return int(await self._r.llen(self._k.delayed(int(timestamp))))

    async def scheduled_at(self, item: bytes) -> list[int]:
        """Round trips: 1."""
        members: set[bytes] = await self._r.smembers(self._index_key(item))  # type: ignore[assignment]
        return sorted(int(m.decode().split(":", 1)[1]) for m in members)

    async def remove(self, item: bytes) -> int:
        """LREM from every list the reverse index names, then tidy. Round trips: 2 + 1 per list."""
        stamps = await self.scheduled_at(item)
        if not stamps:
            return 0
        pipe = self._r.pipeline(transaction=True)
        for ts in stamps:
            pipe.lrem(self._k.delayed(ts), 0, item)  # type: ignore[arg-type]
        pipe.delete(self._index_key(item))
        removed = sum(int(n) for n in (await pipe.execute())[: len(stamps)])
        for ts in stamps:
            await self.tidy(ts)
        return removed

    async def tidy(self, timestamp: int) -> bool:
        """TIDY_TIMESTAMP: drop ``timestamp`` if its list is empty. Round trips: 1."""
        ts = int(timestamp)
        keys = (self._k.delayed(ts), self._k.delayed_schedule)
        return bool(await run_script(self._r, TIDY_TIMESTAMP, keys, (str(ts),)))

    async def clear(self) -> int:
        """Drop every delayed item and its index entries. Round trips: 2 per timestamp + 1."""
        total = 0
        for ts in await self.timestamps():
            items = await self.items_at(ts)
            pipe = self._r.pipeline(transaction=True)
            for item in set(items):
                pipe.delete(self._index_key(item))
            pipe.delete(self._k.delayed(ts))
            pipe.zrem(self._k.delayed_schedule, str(ts))
            await pipe.execute()
            total += len(items)
        return total
