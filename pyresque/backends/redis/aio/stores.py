"""Statuses, counters and the workers' view on Redis from asyncio (the sync stores' keys
and scripts, awaited): :class:`AsyncRedisStatusStore` (``<ns>:job:<id>:status``,
php-resque's JSON, with waiting and progress), :class:`AsyncRedisStats`
(``<ns>:stat:<name>``) and :class:`AsyncRedisWorkerView` (``<ns>:workers``,
``<ns>:worker:<id>``).

Waiting follows :mod:`pyresque.backends.redis.status` exactly: a final status write
(the worker's ``STATUS_SET``) pushes ``<status key>:done``; a waiter reads the status
and, if it is not final, blocks with ``BLMOVE done done`` (the element goes back where
it was: never consumed, so every waiter wakes), in blocks cut below the client's socket
timeout; a connection error while waiting (a lost reply of the non-consuming BLMOVE
changes nothing) is read again on a new connection until the deadline. The block holds
one pooled connection; a cancelled wait drops that connection (redis-py does) and
writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis
import redis.asyncio

from pyresque.backends.aio.base import AsyncStats, AsyncStatusStore, AsyncWorkerView
from pyresque.backends.redis.aio.calls import run_script
from pyresque.backends.redis.broker import waiting_status_json
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.status import MAX_BLOCK, RECONNECT_PAUSE, SET_PROGRESS
from pyresque.backends.redis.worker_scripts import STATUS_SET
from pyresque.core.status import STATUS_TTL, JobStatus, StatusInfo
from pyresque.serializers.json import dumps_text

__all__ = ["AsyncRedisStats", "AsyncRedisStatusStore", "AsyncRedisWorkerView", "read_status"]


def read_status(raw: bytes | None) -> StatusInfo | None:
    """A status entry's bytes as a :class:`StatusInfo` (``None``: absent or not a status)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or "status" not in data:
            return None
        return StatusInfo.from_dict(data)
    except (ValueError, TypeError, KeyError, RecursionError):
        return None


class AsyncRedisStatusStore(AsyncStatusStore):
    """Statuses in resque/php-resque's JSON: ``{"status","updated","started","result"}``."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def create(self, job_id: str) -> None:
        """Round trips: 1."""
        await self._r.set(self._k.status(job_id), waiting_status_json())

    async def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """STATUS_SET (the worker's write): only if tracked; keeps ``started``; a final
        status wakes the waiters. Round trips: 1."""
        ttl = STATUS_TTL if status.finished else 0
        args = (int(status), int(time.time()), dumps_text(result), ttl)
        return bool(await run_script(self._r, STATUS_SET, (self._k.status(job_id),), args))

    async def get(self, job_id: str) -> StatusInfo | None:
        """Round trips: 1."""
        raw: bytes | None = await self._r.get(self._k.status(job_id))  # type: ignore[assignment]
        return read_status(raw)

    async def remove(self, job_id: str) -> bool:
        """Round trips: 1."""
        return bool(await self._r.delete(self._k.status(job_id)))

    async def set_progress(
        self, job_id: str, num: float | None, total: float | None, message: str | None
    ) -> bool:
        """The sync store's ``SET_PROGRESS`` script (only over a RUNNING status). Round trips: 1."""
        args = (int(time.time()), dumps_text(num), dumps_text(total), dumps_text(message))
        return bool(await run_script(self._r, SET_PROGRESS, (self._k.status(job_id),), args))

    async def wait(self, job_id: str, timeout: float) -> StatusInfo | None:
        """GET, then BLMOVE on ``:done`` until final or ``timeout`` (see the module
        docstring). Round trips: 2 per block, 1 if already final."""
        key, done = self._k.status(job_id), self._k.status_done(job_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        slice_ = self._block_slice()
        while True:
            try:
                info = await self.get(job_id)
                if info is None or info.status.finished:
                    return info
                left = deadline - loop.time()
                if left <= 0:
                    return info
                command = ("BLMOVE", done, done, "LEFT", "RIGHT", round(min(left, slice_), 3))
                seen = await self._r.execute_command(*command)  # type: ignore[no-untyped-call]
                if seen is not None and not await self._final(key):
                    # a notification left from an earlier run of this id: drop it, block again
                    await self._r.lrem(done, 0, seen)
            except (redis.ConnectionError, redis.TimeoutError):  # a lost reply changes nothing
                left = deadline - loop.time()
                if left <= 0:
                    raise
                await asyncio.sleep(min(RECONNECT_PAUSE, left))  # then read again, on a new connection

    async def _final(self, key: str) -> bool:
        raw: bytes | None = await self._r.get(key)  # type: ignore[assignment]
        info = read_status(raw)
        return info is None or info.status.finished

    def _block_slice(self) -> float:
        """The longest block that ends before the client's socket timeout fires."""
        raw = self._r.connection_pool.connection_kwargs.get("socket_timeout")
        if not isinstance(raw, int | float) or raw <= 0:
            return MAX_BLOCK
        return max(0.01, min(MAX_BLOCK, raw - 1.0 if raw > 2.0 else raw / 2))


class AsyncRedisStats(AsyncStats):
    """``<ns>:stat:<name>`` counters."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def get(self, name: str) -> int:
        """Round trips: 1."""
        value = await self._r.get(self._k.stat(name))
        return int(value) if value is not None else 0


class AsyncRedisWorkerView(AsyncWorkerView):
    """The registered workers and what they run, as resque-web reads them."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def all(self) -> list[str]:
        """Round trips: 1."""
        members: set[bytes] = await self._r.smembers(self._k.workers)  # type: ignore[assignment]
        return sorted(m.decode("utf-8", "replace") for m in members)

    async def working(self) -> dict[str, dict[str, Any]]:
        """Round trips: 2 (SMEMBERS, MGET)."""
        ids = await self.all()
        if not ids:
            return {}
        raws: list[bytes | None] = await self._r.mget([self._k.worker(i) for i in ids])  # type: ignore[assignment]
        out: dict[str, dict[str, Any]] = {}
        for worker_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):  # a poison payload held as the queue had it
                record = {"raw": raw.decode("utf-8", "replace")}
            out[worker_id] = record if isinstance(record, dict) else {"raw": record}
        return out
