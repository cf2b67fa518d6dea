"""php-resque job statuses on Redis (``<ns>:job:<id>:status``), waiting and progress.

The status is php-resque's JSON ``{"status","updated","started","result"}``; pyresque
adds ``scheduled_at`` (a delayed job not yet moved to its queue) and, while a job runs,
resque-status's progress names ``num``, ``total``, ``message``. Every reader of the
family reads ``status`` and ignores the rest.

Waiting: each final status write (the worker's scripts, :data:`STATUS_SET`) pushes a
notification to ``<status key>:done`` in the same script, kept ``DONE_TTL`` seconds;
any non-final write deletes it. A waiter reads the status, and if it is not final
blocks with ``BLMOVE done done`` (the element goes back to the same list: it is never
consumed, so every waiter wakes, and one that blocks after the write finds it at
once). Blocks are cut to below the client's socket timeout; a lost reply of the
non-consuming BLMOVE changes nothing, so the waiter simply reads again.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from pyresque.backends.base import StatusStore
from pyresque.backends.redis.broker import waiting_status_json
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LuaScript
from pyresque.backends.redis.worker_scripts import STATUS_SET
from pyresque.core.status import STATUS_TTL, JobStatus, StatusInfo
from pyresque.serializers.json import dumps_text

__all__ = ["SET_PROGRESS", "RedisStatusStore", "scheduled_status_json"]

#: Write a running job's progress. KEYS: status key. ARGV: now, num JSON, total JSON,
#: message JSON. Only over a RUNNING status (``{"status":2,...``): never over a final
#: one, never creating one. Returns 1 if written, else 0.
#:
#: Repeat after a lost reply: writes the same progress again (harmless).
SET_PROGRESS = LuaScript(
    """
local old = redis.call('GET', KEYS[1])
if not old or not string.find(old, '^{"status":2[,}]') then return 0 end
local started = string.match(old, '"started":(%-?[%d%.eE%+%-]+)')
local s = '{"status":2,"updated":' .. ARGV[1]
if started then s = s .. ',"started":' .. started end
s = s .. ',"result":null,"num":' .. ARGV[2] .. ',"total":' .. ARGV[3] .. ',"message":' .. ARGV[4] .. '}'
redis.call('SET', KEYS[1], s)
return 1
"""
)

#: Longest single block (seconds) when the client has no socket timeout.
MAX_BLOCK = 30.0

#: Pause (seconds) before reading again after a connection error while waiting.
RECONNECT_PAUSE = 0.2


def scheduled_status_json(timestamp: int, now: int | None = None) -> bytes:
    """The WAITING status of a delayed job due at ``timestamp`` (php-resque's shape
    plus ``scheduled_at``)."""
    t = int(time.time()) if now is None else now
    return b'{"status":1,"updated":%d,"started":%d,"result":null,"scheduled_at":%d}' % (t, t, timestamp)


class RedisStatusStore(StatusStore):
    """Statuses in resque/php-resque's JSON: ``{"status","updated","started","result"}``."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys

    def create(self, job_id: str) -> None:
        """Round trips: 1."""
        self._r.set(self._k.status(job_id), waiting_status_json())

    def update(self, job_id: str, status: JobStatus, result: Any = None) -> bool:
        """Only if tracked; keeps ``started``; 24 h TTL once finished (then waiters
        wake). Round trips: 1."""
        ttl = STATUS_TTL if status.finished else 0
        return bool(
            STATUS_SET(
                self._r,
                (self._k.status(job_id),),
                (int(status), int(time.time()), dumps_text(result), ttl),
            )
        )

    def get(self, job_id: str) -> StatusInfo | None:
        """Round trips: 1."""
        return _parse(self._r.get(self._k.status(job_id)))

    def remove(self, job_id: str) -> bool:
        """Round trips: 1."""
        return bool(self._r.delete(self._k.status(job_id)))

    def set_progress(self, job_id: str, num: float | None, total: float | None, message: str | None) -> bool:
        """The ``SET_PROGRESS`` script. Round trips: 1."""
        args = (int(time.time()), dumps_text(num), dumps_text(total), dumps_text(message))
        return bool(SET_PROGRESS(self._r, (self._k.status(job_id),), args))

    def wait(self, job_id: str, timeout: float) -> StatusInfo | None:
        """GET, then BLMOVE on ``:done`` until final or ``timeout``. Round trips: 2 per
        block (one per cut below the socket timeout), 1 if already final."""
        key, done = self._k.status(job_id), self._k.status_done(job_id)
        deadline = time.monotonic() + max(0.0, timeout)
        slice_ = self._block_slice()
        while True:
            try:
                info = self.get(job_id)
                if info is None or info.status.finished:
                    return info
                left = deadline - time.monotonic()
                if left <= 0:
                    return info
                command = ("BLMOVE", done, done, "LEFT", "RIGHT", round(min(left, slice_), 3))
                seen = self._r.execute_command(*command)  # type: ignore[no-untyped-call]
                if seen is not None and not self._final(key):
                    # a notification left from an earlier run of this id: drop it, block again
                    self._r.lrem(done, 0, seen)
            except (redis.ConnectionError, redis.TimeoutError):  # a lost reply changes nothing
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(RECONNECT_PAUSE, left))  # then read again, on a new connection

    def _final(self, key: str) -> bool:
        info = _parse(self._r.get(key))
        return info is None or info.status.finished

    def _block_slice(self) -> float:
        """The longest block that ends before the client's socket timeout fires."""
        raw = self._r.connection_pool.connection_kwargs.get("socket_timeout")
        if not isinstance(raw, int | float) or raw <= 0:
            return MAX_BLOCK
        return max(0.01, min(MAX_BLOCK, raw - 1.0 if raw > 2.0 else raw / 2))


def _parse(raw: Any) -> StatusInfo | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or "status" not in data:
            return None
        return StatusInfo.from_dict(data)
    except (ValueError, TypeError, KeyError):
        return None
