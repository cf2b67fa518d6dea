"""Worker records and stats on Redis, read side (the worker writes them too)."""

from __future__ import annotations

import json
from typing import Any

import redis

from pyresque.backends.base import Stats, WorkerRegistry
from pyresque.backends.redis.keys import Keys

__all__ = ["RedisStats", "RedisWorkerRegistry"]


class RedisStats(Stats):
    """``<ns>:stat:<name>`` counters."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def get(self, name: str) -> int:
        """Round trips: 1."""
        value = self._r.get(self._k.stat(name))
        return int(value) if value is not None else 0

    def incr(self, name: str, by: int = 1) -> int:
        """Round trips: 1."""
        return int(self._r.incrby(self._k.stat(name), by))

    def clear(self, name: str) -> None:
        """Round trips: 1."""
        self._r.delete(self._k.stat(name))


class RedisWorkerRegistry(WorkerRegistry):
    """``<ns>:workers``, ``<ns>:worker:<id>`` and ``<ns>:workers:heartbeat``."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def all(self) -> list[str]:
        """Round trips: 1."""
        members: set[bytes] = self._r.smembers(self._k.workers)  # type: ignore[assignment]
        return sorted(m.decode("utf-8", "replace") for m in members)

    def working(self) -> dict[str, dict[str, Any]]:
        """Round trips: 2 (SMEMBERS, MGET)."""
        ids = self.all()
        if not ids:
            return {}
        raws: list[bytes | None] = self._r.mget([self._k.worker(i) for i in ids])  # type: ignore[assignment]
        out: dict[str, dict[str, Any]] = {}
        for worker_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                record = {"raw": raw.decode("utf-8", "replace")}
            out[worker_id] = record if isinstance(record, dict) else {"raw": record}
        return out

    def heartbeats(self) -> dict[str, str]:
        """Round trips: 1."""
        data: dict[bytes, bytes] = self._r.hgetall(self._k.heartbeats)  # type: ignore[assignment]
        return {k.decode(): v.decode() for k, v in data.items()}
