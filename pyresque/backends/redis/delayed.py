"""resque-scheduler's delayed queue, leader lock and schedules on Redis.

``<ns>:delayed_queue_schedule`` (ZSET, member = score = epoch seconds),
``<ns>:delayed:<ts>`` (LIST of items) and ``<ns>:timestamps:<item>`` (SET of
``delayed:<ts>``, the reverse index), written in one MULTI as node-resque does.
Due items move with the ``PROMOTE`` script (see ``scheduler_scripts``), one atomic
LREM-then-push per item, so concurrent schedulers never enqueue an item twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import redis

from pyresque.backends.base import DelayedStore
from pyresque.backends.redis.failure import encode_failure
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scheduler_scripts import (
    LEADER_ACQUIRE,
    LEADER_RELEASE,
    PROMOTE,
    RECURRING_TICK,
    REMOVE_ITEMS,
    TIDY_TIMESTAMP,
)
from pyresque.backends.redis.scripts import LuaScript
from pyresque.backends.redis.status import scheduled_status_json
from pyresque.core.delayed_item import DelayedMove
from pyresque.serializers.json import dumps_text

__all__ = ["ID_INDEX_GRACE", "REMOVE_DELAYED_ID", "RedisDelayedStore"]

#: The id at the end of an id-form item: ``...,"id":"<id>"}``.
_ITEM_ID = re.compile(rb',"id":"([A-Za-z0-9_.\-]{1,64})"}\Z')

#: Seconds past its due time that the ``delayed_id:<id>`` index of a delayed job lives
#: (a promoted item leaves it behind; it expires on its own).
ID_INDEX_GRACE = 7 * 86_400

#: Remove the delayed item carrying a job id, with its WAITING status.
#:
#: KEYS: ``delayed_id:<id>`` index, delayed_queue_schedule, the job's status key
#: ARGV: ``<ns>:timestamps:`` prefix, ``<ns>:delayed:`` prefix, the item's tail
#:       ``,"id":"<id>"}`` (an id is never followed by anything else in the item)
#: Returns how many items were removed, or -1 when the index is missing (the caller
#: scans). The ``delayed:<ts>`` list and ``timestamps:<item>`` keys are built here from
#: the index (fine on one Redis node, which is what Resque runs on).
#:
#: Repeat after a lost reply: the index is gone, so the repeat returns -1 and the
#: caller's scan finds nothing: 0, nothing removed twice.
REMOVE_DELAYED_ID = LuaScript(
    """
local ts = redis.call('GET', KEYS[1])
if not ts then return -1 end
redis.call('DEL', KEYS[1])
local list = ARGV[2] .. ts
local member = 'delayed:' .. ts
local tail = ARGV[3]
local removed = 0
for _, item in ipairs(redis.call('LRANGE', list, 0, -1)) do
  if #item > #tail and string.sub(item, -#tail) == tail then
    removed = removed + redis.call('LREM', list, 0, item)
    redis.call('SREM', ARGV[1] .. item, member)
  end
end
if redis.call('LLEN', list) == 0 then redis.call('ZREM', KEYS[2], ts) end
if removed > 0 then
  local status = redis.call('GET', KEYS[3])
  if status and string.find(status, '^{"status":1[,}]') then redis.call('DEL', KEYS[3]) end
end
return removed
"""
)


class RedisDelayedStore(DelayedStore):
    """Delayed items in resque-scheduler's keys."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._index_prefix = keys.timestamps("").encode("utf-8")

    def _index_key(self, item: bytes) -> bytes:
        """``<ns>:timestamps:<item>`` as bytes (the item may be any bytes)."""
        return self._index_prefix + item

    def schedule(
        self, timestamp: int, item: bytes, *, job_id: str | None = None, track: bool = False
    ) -> bool:
        """RPUSH + SADD + ZADD (+ the id index, + the status) + EXISTS of the two leader
        locks, in MULTI. Round trips: 1.

        Repeat after a lost reply: a plain MULTI, never repeated by pyresque (a repeat
        would schedule the item twice).
        """
        ts = int(timestamp)
        pipe = self._r.pipeline(transaction=True)
        pipe.rpush(self._k.delayed(ts), item)
        pipe.sadd(self._index_key(item), Keys.delayed_member(ts))
        pipe.zadd(self._k.delayed_schedule, {str(ts): ts})
        if job_id is not None:
            index = self._k.delayed_id(job_id)
            pipe.set(index, str(ts))
            pipe.expireat(index, ts + ID_INDEX_GRACE)
            if track:
                pipe.set(self._k.status(job_id), scheduled_status_json(ts))
        pipe.exists(self._k.scheduler_lock(), self._k.node_scheduler_lock)
        return bool(pipe.execute()[-1])

    def remove_by_id(self, job_id: str) -> int:
        """The ``REMOVE_DELAYED_ID`` script; without an index entry (expired, or written
        by another app) a scan of every timestamp. Round trips: 1 (scan: 2 + 1 per 500
        timestamps + 1 per timestamp holding the item)."""
        needle = b',"id":' + dumps_text(job_id).encode("utf-8") + b"}"
        keys = (self._k.delayed_id(job_id), self._k.delayed_schedule, self._k.status(job_id))
        args = (self._index_prefix, self._k.delayed(0)[:-1], needle)
        removed = int(REMOVE_DELAYED_ID(self._r, keys, args))
        if removed >= 0:
            return removed
        removed = 0
        for ts, raws in self.iter_items():
            found = [raw for raw in raws if raw.endswith(needle)]
            if found:
                removed += self.remove_items(ts, found)
        if removed:
            self._r.delete(self._k.status(job_id))
        return removed

    def iter_items(self, batch: int = 500) -> Iterator[tuple[int, list[bytes]]]:
        """Every ``(timestamp, items)``, ``batch`` LRANGEs per pipeline. Round trips: 1 +
        1 per ``batch`` timestamps."""
        stamps = self.timestamps()
        for start in range(0, len(stamps), max(1, batch)):
            chunk = stamps[start : start + max(1, batch)]
            pipe = self._r.pipeline(transaction=False)
            for ts in chunk:
                pipe.lrange(self._k.delayed(ts), 0, -1)
            for ts, raws in zip(chunk, pipe.execute(), strict=True):
                if raws:
                    yield ts, list(raws)

    def timestamps(self, start: int = 0, count: int = -1) -> list[int]:
        """Round trips: 1."""
        if count == 0:
            return []
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

    def items_at(self, timestamp: int, start: int = 0, count: int = -1) -> list[bytes]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        return list(self._r.lrange(self._k.delayed(int(timestamp)), start, stop))  # type: ignore[arg-type]

    def size_at(self, timestamp: int) -> int:
        """Round trips: 1."""
        return int(self._r.llen(self._k.delayed(int(timestamp))))

    def scheduled_at(self, item: bytes) -> list[int]:
        """Round trips: 1."""
        members: set[bytes] = self._r.smembers(self._index_key(item))  # type: ignore[assignment]
        return sorted(int(m.decode().split(":", 1)[1]) for m in members)

    def remove(self, item: bytes) -> int:
        """LREM from every list the reverse index names, then tidy. Round trips: 2 + 1 per list."""
        stamps = self.scheduled_at(item)
        if not stamps:
            return 0
        pipe = self._r.pipeline(transaction=True)
        for ts in stamps:
            pipe.lrem(self._k.delayed(ts), 0, item)  # type: ignore[arg-type]
        pipe.delete(self._index_key(item))
        removed = sum(int(n) for n in pipe.execute()[: len(stamps)])
        for ts in stamps:
            self.tidy(ts)
        return removed

    def clear(self) -> int:
        """Drop every delayed item and its index entries. Round trips: 2 per timestamp + 1."""
        total = 0
        for ts in self.timestamps():
            items = self.items_at(ts)
            pipe = self._r.pipeline(transaction=True)
            for item in set(items):
                pipe.delete(self._index_key(item))
                found = _ITEM_ID.search(item)
                if found:  # pyresque's id form: its id index too
                    pipe.delete(self._k.delayed_id(found.group(1).decode("ascii")))
            pipe.delete(self._k.delayed(ts))
            pipe.zrem(self._k.delayed_schedule, str(ts))
            pipe.execute()
            total += len(items)
        return total

    # promotion -------------------------------------------------------------------------
    def due_timestamps(self, now: int, limit: int = 1) -> list[int]:
        """ZRANGEBYSCORE -inf now LIMIT 0 limit. Round trips: 1."""
        members: list[bytes] = self._r.zrangebyscore(  # type: ignore[assignment]
            self._k.delayed_schedule, "-inf", int(now), start=0, num=limit
        )
        return [int(m) for m in members]

    def promote(self, timestamp: int, moves: Sequence[DelayedMove]) -> list[bool]:
        """One ``PROMOTE`` script for the whole batch. Round trips: 1.

        Items going to a queue are pushed byte for byte (every field the writer put
        in them reaches the worker); items going to the failure store are replaced
        by their failure record.
        """
        ts = int(timestamp)
        if not moves:
            self.tidy(ts)
            return []
        keys: list[str | bytes] = [self._k.delayed(ts), self._k.delayed_schedule, self._k.queues]
        args: list[str | bytes | int] = [str(ts), Keys.delayed_member(ts)]
        failed_key = self._k.failed
        for move in moves:
            if move.queue is not None:
                keys.append(self._k.queue(move.queue))
                args += [move.item, move.queue, move.payload or b"", move.position + 1]
            else:
                assert move.failure is not None
                keys.append(failed_key)
                args += [move.item, b"", encode_failure(move.failure), move.position + 1]
            keys.append(self._index_key(move.item))
        flags = PROMOTE(self._r, keys, args)
        return [bool(int(f)) for f in flags]

    def remove_items(self, timestamp: int, items: Sequence[bytes]) -> int:
        """The ``REMOVE_ITEMS`` script. Round trips: 1."""
        ts = int(timestamp)
        if not items:
            return 0
        keys: list[str | bytes] = [self._k.delayed(ts), self._k.delayed_schedule]
        keys += [self._index_key(item) for item in items]
        args: list[str | bytes] = [str(ts), Keys.delayed_member(ts), *items]
        return int(REMOVE_ITEMS(self._r, keys, args))

    def tidy(self, timestamp: int) -> bool:
        """Round trips: 1."""
        ts = int(timestamp)
        return bool(TIDY_TIMESTAMP(self._r, (self._k.delayed(ts), self._k.delayed_schedule), (str(ts),)))

    # leader lock -----------------------------------------------------------------------
    def _lock_key(self, lock_prefix: str, style: str) -> str:
        if style == "node":
            return self._k.node_scheduler_lock
        if style != "ruby":
            raise ValueError(f"lock style must be 'ruby' or 'node', not {style!r}")
        return self._k.scheduler_lock(lock_prefix)

    def leader_acquire(self, value: str, ttl: int, lock_prefix: str = "", style: str = "ruby") -> int:
        """SET NX EX (2), or compare-and-expire when already ours (1), else 0. Round trips: 1."""
        return int(LEADER_ACQUIRE(self._r, (self._lock_key(lock_prefix, style),), (value, int(ttl))))

    def leader_release(self, value: str, lock_prefix: str = "", style: str = "ruby") -> bool:
        """Compare-and-delete. Round trips: 1."""
        return bool(LEADER_RELEASE(self._r, (self._lock_key(lock_prefix, style),), (value,)))

    def leader(self, lock_prefix: str = "", style: str = "ruby") -> tuple[str | None, int]:
        """GET + TTL. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        key = self._lock_key(lock_prefix, style)
        pipe.get(key)
        pipe.ttl(key)
        holder, ttl = pipe.execute()
        return (holder.decode("utf-8", "replace") if holder is not None else None), int(ttl)

    # recurring schedules ---------------------------------------------------------------
    def enqueue_tick(self, name: str, tick: int, queue: str, payload: bytes, enqueued_at: str) -> bool:
        """The ``RECURRING_TICK`` script. Round trips: 1."""
        keys = (self._k.schedule_ticks, self._k.last_enqueued_at, self._k.queues, self._k.queue(queue))
        return bool(RECURRING_TICK(self._r, keys, (name, int(tick), queue, payload, enqueued_at)))

    def last_ticks(self) -> dict[str, int]:
        """Round trips: 1."""
        raw: dict[bytes, bytes] = self._r.hgetall(self._k.schedule_ticks)  # type: ignore[assignment]
        return {k.decode("utf-8"): int(v) for k, v in raw.items()}

    def recurring_state(self) -> tuple[dict[str, int], dict[str, str]]:
        """Both hashes in one pipeline. Round trips: 1."""
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(self._k.schedule_ticks)
        pipe.hgetall(self._k.last_enqueued_at)
        ticks, texts = pipe.execute()
        return (
            {k.decode("utf-8"): int(v) for k, v in ticks.items()},
            {k.decode("utf-8"): v.decode("utf-8", "replace") for k, v in texts.items()},
        )

    def schedule_configs(self) -> dict[str, bytes]:
        """Round trips: 1."""
        raw: dict[bytes, bytes] = self._r.hgetall(self._k.persistent_schedules)  # type: ignore[assignment]
        return {k.decode("utf-8"): v for k, v in raw.items()}

    def set_schedule_config(self, name: str, config: bytes) -> None:
        """HSET + SADD changed, in MULTI (resque-scheduler's ``set_schedule``). Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hset(self._k.persistent_schedules, name, config)
        pipe.sadd(self._k.schedules_changed, name)
        pipe.execute()

    def remove_schedule_config(self, name: str) -> bool:
        """HDEL + SADD changed, in MULTI. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.hdel(self._k.persistent_schedules, name)
        pipe.sadd(self._k.schedules_changed, name)
        removed, _ = pipe.execute()
        return bool(removed)

    def take_schedules_changed(self) -> list[str]:
        """SMEMBERS + DEL in MULTI. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.smembers(self._k.schedules_changed)
        pipe.delete(self._k.schedules_changed)
        names, _ = pipe.execute()
        return sorted(n.decode("utf-8") for n in names)
