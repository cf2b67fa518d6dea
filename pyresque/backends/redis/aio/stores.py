"""Statuses, counters and the workers' view on Redis from asyncio (the sync stores' keys
and scripts, awaited): :class:`AsyncRedisStatusStore` (``<ns>:job:<id>:status``,
php-resque's JSON), :class:`AsyncRedisStats` (``<ns>:stat:<name>``) and
:class:`AsyncRedisWorkerView` (``<ns>:workers``, ``<ns>:worker:<id>``)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis.asyncio

from pyresque.backends.aio.base import AsyncStats, AsyncStatusStore, AsyncWorkerView
from pyresque.backends.redis.aio.calls import run_script
from pyresque.backends.redis.broker import waiting_status_json
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import STATUS_UPDATE
from pyresque.core.status import STATUS_TTL, JobStatus, StatusInfo
from pyresque.serializers.json import dumps_text

__all__ = ["AsyncRedisStats", "AsyncRedisStatusStore", "AsyncRedisWorkerView", "read_status"]


def read_status(raw: bytes | None) -> StatusInfo | None:
    """A status entry's bytes as a :class:`StatusInfo` (``None``: absent or not a status)."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or "status" not in data:
        return None
    return StatusInfo.from_dict(data)


class AsyncRedisStatusStore(AsyncStatusStore):
    """Statuses in resque/php-resque's JSON: ``{"status","updated","started","result"}``."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    async def create(self, job_id: str) -> None:
        """Round trips: 1."""
        await self._r.set(self._k.status(job_id), waiting_status_json())

    async def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """STATUS_UPDATE: only if tracked; keeps ``started``. Round trips: 1."""
        ttl = STATUS_TTL if status.finished else 0
        args = (int(status), int(time.time()), dumps_text(result), ttl)
        return bool(await run_script(self._r, STATUS_UPDATE, (self._k.status(job_id),), args))

    async def get(self, job_id: str) -> StatusInfo | None:
        """Round trips: 1."""
        raw: bytes | None = await self._r.get(self._k.status(job_id))  # type: ignore[assignment]
        return read_status(raw)

    async def remove(self, job_id: str) -> bool:
        """Round trips: 1."""
        return bool(await self._r.delete(self._k.status(job_id)))


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
