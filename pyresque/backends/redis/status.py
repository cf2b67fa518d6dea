"""php-resque job statuses on Redis (``<ns>:job:<id>:status``)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from pyresque.backends.base import StatusStore
from pyresque.backends.redis.broker import waiting_status_json
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import STATUS_UPDATE
from pyresque.core.status import STATUS_TTL, JobStatus, StatusInfo
from pyresque.serializers.json import dumps_text

__all__ = ["RedisStatusStore"]


class RedisStatusStore(StatusStore):
    """Statuses in resque/php-resque's JSON: ``{"status","updated","started","result"}``."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def create(self, job_id: str) -> None:
        """Round trips: 1."""
        self._r.set(self._k.status(job_id), waiting_status_json())

    def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """Only if tracked; keeps ``started``; 24 h TTL once finished. Round trips: 1."""
        ttl = STATUS_TTL if status.finished else 0
        return bool(
            STATUS_UPDATE(
                self._r,
                (self._k.status(job_id),),
                (int(status), int(time.time()), dumps_text(result), ttl),
            )
        )

    def get(self, job_id: str) -> StatusInfo | None:
        """Round trips: 1."""
        raw = self._r.get(self._k.status(job_id))
        if raw is None:
            return None
        data = json.loads(raw)
        if not isinstance(data, dict) or "status" not in data:
            return None
        return StatusInfo.from_dict(data)

    def remove(self, job_id: str) -> bool:
        """Round trips: 1."""
        return bool(self._r.delete(self._k.status(job_id)))
