"""Failures on Redis from asyncio: Ruby Resque's ``<ns>:failed`` list, the sync store's
JSON (:func:`~pyresque.backends.redis.failure.encode_failure` /
:func:`~pyresque.backends.redis.failure.decode_failure`) and its check-and-act scripts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import redis.asyncio

from pyresque.backends.aio.base import AsyncFailureStore
from pyresque.backends.base import FIND_LIMIT, FIND_PAGE
from pyresque.backends.redis.aio.calls import call_once, run_script, send_once
from pyresque.backends.redis.failure import (
    _PLAIN_ID,
    RACE_RETRIES,
    _load_entry,
    decode_failure,
    encode_failure,
)
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LIST_REMOVE_IF, REQUEUE_FAILED
from pyresque.core import timefmt
from pyresque.core.errors import FailureNotFound
from pyresque.core.failure import FailureRecord
from pyresque.serializers.json import dumps_text

__all__ = ["AsyncRedisFailureStore"]


class AsyncRedisFailureStore(AsyncFailureStore):
    """Ruby's ``Resque::Failure::Redis``: RPUSH to ``failed``; requeue keeps the entry."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._key = keys.failed

    async def save(self, record: FailureRecord) -> None:
        """Round trips: 1 (a repeat after a lost reply records the failure twice)."""
        await call_once(self._r, "RPUSH", self._key, encode_failure(record))

    async def count(self, queue: str | None = None) -> int:
        """Round trips: 1 (LLEN), or 1 LRANGE when filtering by queue."""
        if queue is None:
            return int(await self._r.llen(self._key))
        return sum(1 for _, rec in await self._entries() if rec.queue == queue)

    async def _range(self, start: int, stop: int) -> list[bytes]:
        raws: list[bytes] = await self._r.lrange(self._key, start, stop)  # type: ignore[assignment]
        return raws

    async def all(self, start: int = 0, count: int = 1) -> list[FailureRecord]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        return [decode_failure(raw) for raw in await self._range(start, stop)]

    async def _entries(self) -> list[tuple[bytes, FailureRecord]]:
        return [(raw, decode_failure(raw)) for raw in await self._range(0, -1)]

    async def find(self, job_id: str, *, limit: int | None = FIND_LIMIT) -> list[tuple[int, FailureRecord]]:
        """The failures of the job with this id, as ``(index, record)``, oldest first
        (as the sync store: one LLEN, then one LRANGE per ``FIND_PAGE`` entries, newest
        first; only entries whose bytes hold the id are decoded)."""
        needle = f'"{job_id}"'.encode() if _PLAIN_ID.fullmatch(job_id) else None
        total = int(await self._r.llen(self._key))
        floor = 0 if limit is None else max(0, total - max(0, limit))
        found: list[tuple[int, FailureRecord]] = []
        stop = total
        while stop > floor:
            start = max(floor, stop - FIND_PAGE)
            for i, raw in enumerate(await self._range(start, stop - 1)):
                if needle is not None and needle not in raw:
                    continue
                record = decode_failure(raw)
                if record.payload.get("id") == job_id:
                    found.append((start + i, record))
            stop = start
        return sorted(found, key=lambda pair: pair[0])

    async def _get_raw(self, index: int) -> bytes:
        raw: bytes | None = await self._r.lindex(self._key, index)  # type: ignore[assignment]
        if raw is None:
            raise FailureNotFound(f"no failure at index {index}")
        return raw

    async def requeue(self, index: int, queue: str | None = None) -> None:
        """Round trips: 2 (read, then the atomic REQUEUE_FAILED script)."""
        for _ in range(RACE_RETRIES):
            raw = await self._get_raw(index)
            if await self._requeue_raw(index, raw, queue):
                return
        raise FailureNotFound(f"failure {index} kept changing; not requeued")

    async def _requeue_raw(self, index: int, raw: bytes, queue: str | None) -> bool:
        record = decode_failure(raw)
        target = queue or record.queue
        if not target or not isinstance(record.payload.get("class"), str):
            raise FailureNotFound(f"failure {index} has no requeueable payload or queue")
        data: dict[str, Any] = _load_entry(raw)
        data["retried_at"] = timefmt.ruby_failed_at()
        keys = (self._key, self._k.queues, self._k.queue(target))
        args = (index, raw, dumps_text(data), target, dumps_text(record.payload))
        return bool(await run_script(self._r, REQUEUE_FAILED, keys, args))

    async def remove(self, index: int) -> None:
        """Round trips: 2 (read, then the atomic LIST_REMOVE_IF script)."""
        for _ in range(RACE_RETRIES):
            raw = await self._get_raw(index)
            sentinel = f"__pyresque_removed_{uuid.uuid4().hex}"
            if await run_script(self._r, LIST_REMOVE_IF, (self._key,), (index, raw, sentinel)):
                return
        raise FailureNotFound(f"failure {index} kept changing; not removed")

    async def clear(self) -> int:
        """LLEN + DEL in MULTI. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._key)
        pipe.delete(self._key)
        n, _ = await pipe.execute()
        return int(n)

    async def _remove_matching(self, match: Callable[[FailureRecord], bool]) -> int:
        commands = [("LREM", self._key, 1, raw) for raw, record in await self._entries() if match(record)]
        return sum(int(n) for n in await send_once(self._r, commands))

    async def _requeue_matching(self, match: Callable[[FailureRecord], bool]) -> int:
        done = 0
        for index, (raw, record) in enumerate(await self._entries()):
            if match(record) and isinstance(record.payload.get("class"), str) and record.queue:
                done += await self._requeue_raw(index, raw, None)
        return done

    async def requeue_all(self) -> int:
        """Round trips: 1 + one per entry."""
        return await self._requeue_matching(lambda _: True)

    async def requeue_queue(self, queue: str) -> int:
        """Round trips: 1 + one per matching entry."""
        return await self._requeue_matching(lambda rec: rec.queue == queue)

    async def remove_queue(self, queue: str) -> int:
        """Exact-value LREMs, pipelined. Round trips: 2."""
        return await self._remove_matching(lambda rec: rec.queue == queue)

    async def clear_retried(self) -> int:
        """Exact-value LREMs of retried entries, pipelined. Round trips: 2."""
        return await self._remove_matching(lambda rec: rec.retried_at is not None)
