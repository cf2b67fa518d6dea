"""resque-scheduler's delayed queue on Redis from asyncio, the client's half: the sync
store's keys (``<ns>:delayed_queue_schedule``, ``<ns>:delayed:<ts>``,
``<ns>:timestamps:<item>``, ``<ns>:delayed_id:<id>``), its MULTI and its scripts
(``REMOVE_DELAYED_ID``, ``REMOVE_ITEMS``, ``TIDY_TIMESTAMP``), awaited.
Promotion and the leader lock stay with the scheduler (sync)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio

from pyresque.backends.aio.base import AsyncDelayedStore
from pyresque.backends.redis.aio.calls import run_script, send_once
from pyresque.backends.redis.delayed import ID_INDEX_GRACE, REMOVE_DELAYED_ID
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scheduler_scripts import REMOVE_ITEMS, TIDY_TIMESTAMP
from pyresque.backends.redis.status import scheduled_status_json
from pyresque.serializers.json import dumps_text

__all__ = ["AsyncRedisDelayedStore"]


class AsyncRedisDelayedStore(AsyncDelayedStore):
    """Delayed items in resque-scheduler's keys."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._index_prefix = keys.timestamps("").encode("utf-8")

    def _index_key(self, item: bytes) -> bytes:
        return self._index_prefix + item

    async def schedule(
        self, timestamp: int, item: bytes, *, job_id: str | None = None, track: bool = False
    ) -> bool:
        """RPUSH + SADD + ZADD (+ the id index, + the status) + EXISTS of the two leader
        locks, in MULTI, as the sync store. Round trips: 1 (sent once: a repeat after a
        lost reply would schedule the item twice)."""
        ts = int(timestamp)
        commands: list[tuple[Any, ...]] = [
            ("MULTI",),
            ("RPUSH", self._k.delayed(ts), item),
            ("SADD", self._index_key(item), Keys.delayed_member(ts)),
            ("ZADD", self._k.delayed_schedule, ts, str(ts)),
        ]
        if job_id is not None:
            index = self._k.delayed_id(job_id)
            commands += [("SET", index, str(ts)), ("EXPIREAT", index, ts + ID_INDEX_GRACE)]
            if track:
                commands.append(("SET", self._k.status(job_id), scheduled_status_json(ts)))
        commands += [("EXISTS", self._k.scheduler_lock(), self._k.node_scheduler_lock), ("EXEC",)]
        replies = await send_once(self._r, commands)
        return bool(replies[-1][-1])

    async def remove_by_id(self, job_id: str) -> int:
        """The sync store's ``REMOVE_DELAYED_ID`` script; without an index entry, a scan
        of every timestamp. Round trips: 1 (scan: 2 + 1 per 500 timestamps + 1 per
        timestamp holding the item). Safe to repeat (a repeat removes nothing)."""
        needle = b',"id":' + dumps_text(job_id).encode("utf-8") + b"}"
        keys = (self._k.delayed_id(job_id), self._k.delayed_schedule, self._k.status(job_id))
        args = (self._index_prefix, self._k.delayed(0)[:-1], needle)
        removed = int(await run_script(self._r, REMOVE_DELAYED_ID, keys, args))
        if removed >= 0:
            return removed
        removed = 0
        async for ts, raws in self.iter_items():
            found = [raw for raw in raws if raw.endswith(needle)]
            if found:
                removed += await self.remove_items(ts, found)
        if removed:
            await self._r.delete(self._k.status(job_id))
        return removed

    async def iter_items(self, batch: int = 500) -> AsyncIterator[tuple[int, list[bytes]]]:
        """Every ``(timestamp, items)``, ``batch`` LRANGEs per pipeline. Round trips: 1 +
        1 per ``batch`` timestamps."""
        stamps = await self.timestamps()
        size = max(1, batch)
        for start in range(0, len(stamps), size):
            chunk = stamps[start : start + size]
            pipe = self._r.pipeline(transaction=False)
            for ts in chunk:
                pipe.lrange(self._k.delayed(ts), 0, -1)
            for ts, raws in zip(chunk, await pipe.execute(), strict=True):
                if raws:
                    yield ts, list(raws)

    async def remove_items(self, timestamp: int, items: Sequence[bytes]) -> int:
        """The sync store's ``REMOVE_ITEMS`` script. Round trips: 1."""
        ts = int(timestamp)
        if not items:
            return 0
        keys: list[str | bytes] = [self._k.delayed(ts), self._k.delayed_schedule]
        keys += [self._index_key(item) for item in items]
        args: list[str | bytes] = [str(ts), Keys.delayed_member(ts), *items]
        return int(await run_script(self._r, REMOVE_ITEMS, keys, args))

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
