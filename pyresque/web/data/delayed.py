"""Delayed jobs and recurring schedules, in resque-scheduler's keys.

Delayed: ``delayed_queue_schedule`` (ZSET of timestamps) and one ``delayed:<ts>`` list
each. :func:`timeline` pages the ZSET (ZCARD + ZRANGE, then one pipeline of
LLEN for the page); :func:`items` pages one timestamp's list; :func:`search` looks
for a substring with a cost cap. :func:`enqueue_now` moves
one item to its queue with the scheduler's own ``PROMOTE`` script (the item pushed byte
for byte, as the scheduler does); :func:`cancel` removes it with ``REMOVE_ITEMS``.
Both find the item by its :class:`Ref` first.

Schedule: ``persistent_schedules`` (HASH name -> JSON config, resque-scheduler >= 4.2's
dynamic schedules) and ``delayed:last_enqueued_at``; :func:`run_now` enqueues an
entry's job, :func:`delete_schedule` does what resque-scheduler's ``remove_schedule``
does (HDEL + SADD ``schedules_changed``).
"""

from __future__ import annotations

import time
from typing import Any

from croniter import CroniterError, croniter

from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scheduler_scripts import PROMOTE, REMOVE_ITEMS
from pyresque.backends.redis.scripts import ENQUEUE
from pyresque.serializers.json import dumps_text
from pyresque.web.config import SHOW_LIMIT
from pyresque.web.data.decode import epoch, json_object, pretty
from pyresque.web.data.store import Ref, Store, show

__all__ = ["cancel", "delete_schedule", "enqueue_now", "items", "run_now", "schedules", "search", "timeline"]


def _pairs(reply: Any) -> list[tuple[bytes, bytes]]:
    if isinstance(reply, dict):
        return list(reply.items())
    return list(zip(reply[::2], reply[1::2], strict=True))


def _stamp(member: bytes) -> int | None:
    """A ZSET member as a timestamp; None when it is not a number."""
    try:
        return int(float(member))
    except (ValueError, OverflowError):
        return None


def _stamps(members: list[bytes]) -> list[int]:
    """ZSET members as timestamps; a member that is not a number is skipped."""
    return [ts for ts in map(_stamp, members) if ts is not None]


def _index_key(db: Store, item: bytes) -> bytes:
    return db.k.timestamps("").encode("utf-8") + item


async def timeline(db: Store, start: int, count: int) -> dict[str, Any]:
    """One page of delayed timestamps (soonest first) with their item counts."""
    k = db.k
    total, members = await db.many(
        [("ZCARD", k.delayed_schedule), ("ZRANGE", k.delayed_schedule, start, start + count - 1)]
    )
    stamps = _stamps(members or [])  # the member is the timestamp (resque-scheduler)
    sizes = await db.many([("LLEN", k.delayed(ts)) for ts in stamps])
    now = time.time()
    rows = [
        {"timestamp": ts, "size": int(n or 0), "in": ts - now} for ts, n in zip(stamps, sizes, strict=True)
    ]
    return {"total": int(total or 0), "start": start, "count": count, "timestamps": rows}


#: Timestamps one delayed search reads per request, and items read per timestamp.
SEARCH_TIMESTAMPS, SEARCH_ITEMS = 2_000, 100


async def search(db: Store, q: str, start: int, count: int) -> dict[str, Any]:
    """Delayed items whose bytes hold ``q`` (case-insensitive), from the ``start``-th
    timestamp on: at most :data:`SEARCH_TIMESTAMPS` timestamps and the first
    :data:`SEARCH_ITEMS` items of each are read (ZRANGE, then one pipeline of LRANGE per
    100 timestamps); ``next_from`` says where to go on, ``partial`` that the cap stopped it."""
    k = db.k
    needle = q[:200].lower().encode("utf-8")
    total = int(await db.one("ZCARD", k.delayed_schedule))
    rows: list[dict[str, Any]] = []
    index = start
    while index < total and index - start < SEARCH_TIMESTAMPS and len(rows) < count:
        members = await db.one("ZRANGE", k.delayed_schedule, index, index + 99)
        if not members:
            break
        stamps = [_stamp(m) for m in members]  # None: not a timestamp
        lists = await db.many(
            [("LRANGE", k.delayed(ts), 0, SEARCH_ITEMS - 1) for ts in stamps if ts is not None]
        )
        found = iter(lists)
        for ts in stamps:
            index += 1
            if ts is None:
                continue
            for position, raw in enumerate(next(found) or []):
                if needle in raw.lower():
                    rows.append({"timestamp": ts, **_item(position, raw)})
            if len(rows) >= count:
                break
    done = index >= total
    return {
        "q": q,
        "total": total,
        "start": start,
        "items": rows,
        "examined": index - start,
        "next_from": None if done else index,
        "partial": not done and len(rows) < count,
    }


def _item(position: int, raw: bytes) -> dict[str, Any]:
    data = json_object(raw)
    return {
        "ref": str(Ref.of(position, raw)),
        "class": show(str(data.get("class")), 300) if data else "(not a JSON object)",
        "queue": show(str(data.get("queue", "")), 200) if data else "",
        "args": pretty(data.get("args"), SHOW_LIMIT) if data else show(raw),
        "bytes": len(raw),
    }


async def items(db: Store, timestamp: int, start: int, count: int) -> dict[str, Any]:
    """One page of the items due at ``timestamp``."""
    key = db.k.delayed(timestamp)
    size, raws = await db.many([("LLEN", key), ("LRANGE", key, start, start + count - 1)])
    rows = [_item(start + offset, raw) for offset, raw in enumerate(raws or [])]
    return {"timestamp": timestamp, "size": int(size or 0), "start": start, "count": count, "items": rows}


async def enqueue_now(db: Store, timestamp: int, ref: Ref) -> bool:
    """Move the item to its queue now (the scheduler's PROMOTE: LREM 1 of the exact
    bytes, then RPUSH; atomic). Repeat after a lost reply: the item is gone: nothing."""
    k = db.k
    found = await db.locate(k.delayed(timestamp), ref)
    if found is None:
        return False
    position, raw = found
    queue = (json_object(raw) or {}).get("queue")
    if not isinstance(queue, str) or not queue:
        return False
    keys = (k.delayed(timestamp), k.delayed_schedule, k.queues, k.queue(queue), _index_key(db, raw))
    args = (str(timestamp), Keys.delayed_member(timestamp), raw, queue, b"", position + 1)
    flags = await db.script(PROMOTE, keys, args)
    return bool(flags and int(flags[0]))


async def cancel(db: Store, timestamp: int, ref: Ref) -> bool:
    """Remove one copy of the item (REMOVE_ITEMS). Not repeated after a lost reply
    (a repeat could remove a second, identical copy)."""
    k = db.k
    found = await db.locate(k.delayed(timestamp), ref)
    if found is None:
        return False
    raw = found[1]
    keys = (k.delayed(timestamp), k.delayed_schedule, _index_key(db, raw))
    return bool(await db.script(REMOVE_ITEMS, keys, (str(timestamp), Keys.delayed_member(timestamp), raw)))


async def schedules(db: Store) -> dict[str, Any]:
    """The recurring entries: persistent schedules and every name with a last run."""
    configs, last = await db.many(
        [("HGETALL", db.k.persistent_schedules), ("HGETALL", db.k.last_enqueued_at)]
    )
    conf = {show(name, 0): raw for name, raw in _pairs(configs or {})}
    runs = {show(name, 0): raw for name, raw in _pairs(last or {})}
    rows = []
    for name in sorted(set(conf) | set(runs)):
        data = json_object(conf.get(name))
        rows.append(
            {
                "name": show(name, 300),
                "key": name,
                "persistent": name in conf,
                "class": show(str(data.get("class", "")), 300) if data else "",
                "queue": show(str(data.get("queue", "")), 200) if data else "",
                "cron": show(str(data.get("cron", "")), 100) if data else "",
                "every": show(str(data.get("every", "")), 100) if data else "",
                "args": pretty(data.get("args"), 2000) if data else "",
                "last": epoch(show(runs[name], 100)) if name in runs else None,
                "next": _next_run(data),
                "runnable": bool(data and isinstance(data.get("class"), str)),
            }
        )
    return {"schedules": rows}


def _next_run(data: dict[str, Any] | None) -> float | None:
    cron = data.get("cron") if data else None
    if not isinstance(cron, str):
        return None
    try:
        return float(croniter(" ".join(cron.split()[:5]), time.time()).get_next(float))
    except (ValueError, KeyError, TypeError, CroniterError):
        return None


async def run_now(db: Store, name: str) -> str | None:
    """Enqueue the job of the schedule ``name`` now (resque-scheduler's payload:
    ``{"class", "args"}``). -> the queue, or None when the entry has no class.
    Not repeated after a lost reply (a repeat would enqueue twice)."""
    data = json_object(await db.one("HGET", db.k.persistent_schedules, name))
    if data is None or not isinstance(data.get("class"), str):
        return None
    queue = data.get("queue") if isinstance(data.get("queue"), str) and data.get("queue") else "default"
    args = data.get("args", [])
    args = args if isinstance(args, list) else [args]
    payload = dumps_text({"class": data["class"], "args": args})
    await db.script(ENQUEUE, (db.k.queues, db.k.queue(str(queue))), (str(queue), payload))
    return str(queue)


async def delete_schedule(db: Store, name: str) -> bool:
    """HDEL persistent_schedules + SADD schedules_changed (resque-scheduler's
    ``remove_schedule``), in MULTI. Repeat after a lost reply: a no-op."""
    replies = await db.writes(
        [
            ("MULTI",),
            ("HDEL", db.k.persistent_schedules, name),
            ("SADD", db.k.schedules_changed, name),
            ("EXEC",),
        ]
    )
    return bool(replies[-1][0])
