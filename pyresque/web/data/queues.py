"""Queues and the overview's counters: sizes, latency, a queue's jobs, pause, removal.

Round trips: :func:`summary` 2 (one pipeline of the sets and counters, with
``paused-queues``, then one of LLEN/LINDEX per queue); :func:`jobs` 1 (LLEN + one
LRANGE page); each action 1-2.
"""

from __future__ import annotations

import time
from typing import Any

from pyresque.core.control import paused_key
from pyresque.web.config import SHOW_LIMIT
from pyresque.web.data.decode import epoch, json_object, pretty
from pyresque.web.data.store import Ref, Store, show

__all__ = ["delete_job", "jobs", "remove_queue", "set_paused", "summary"]


def _names(reply: Any) -> list[str]:
    return sorted(show(m, 0) for m in reply or ())


async def summary(db: Store) -> dict[str, Any]:
    """The overview's numbers and every queue's size and latency (oldest job's age)."""
    k = db.k
    queues_r, processed, failed, failed_len, workers_r, delayed, paused, paused_q = await db.many(
        [
            ("SMEMBERS", k.queues),
            ("GET", k.stat("processed")),
            ("GET", k.stat("failed")),
            ("LLEN", k.failed),
            ("SMEMBERS", k.workers),
            ("ZCARD", k.delayed_schedule),
            ("GET", k.pause_all),
            ("SMEMBERS", paused_key(k.prefix)),
        ]
    )
    names = _names(queues_r)
    paused_names = _names(paused_q)
    workers = [bytes(w) for w in workers_r or ()]
    commands: list[tuple[Any, ...]] = []
    for name in names:
        commands += [("LLEN", k.queue(name)), ("LINDEX", k.queue(name), 0)]
    if workers:
        commands.append(("MGET", *[k.prefix.encode() + b"worker:" + w for w in workers]))
    replies = await db.many(commands)
    now = time.time()
    rows = []
    for i, name in enumerate(names):
        size, head = int(replies[2 * i] or 0), replies[2 * i + 1]
        queued = epoch((json_object(head) or {}).get("queue_time")) if head is not None else None
        rows.append(
            {
                "name": name,
                "size": size,
                "latency": None if queued is None else max(0.0, now - queued),
                "paused_pyresque": name in paused_names,
            }
        )
    working = sum(1 for v in ((replies[-1] or []) if workers else []) if v)
    return {
        "queues": rows,
        "pending": sum(r["size"] for r in rows),
        "processed": int(processed or 0),
        "failed": int(failed or 0),
        "failed_entries": int(failed_len or 0),
        "workers": len(workers),
        "working": working,
        "delayed_timestamps": int(delayed or 0),
        "paused": (paused or b"").strip().lower() == b"true",
        "paused_queues": paused_names,  # paused-queues: pyresque workers only
        "time": now,
    }


async def jobs(db: Store, queue: str, start: int, count: int) -> dict[str, Any]:
    """One page of a queue's jobs (``start`` from the head, the next job)."""
    key = db.k.queue(queue)
    size, raws = await db.many([("LLEN", key), ("LRANGE", key, start, start + count - 1)])
    rows = []
    for offset, raw in enumerate(raws or []):
        data = json_object(raw)
        rows.append(
            {
                "ref": str(Ref.of(start + offset, raw)),
                "position": start + offset,
                "class": show(str(data.get("class")), 300) if data else "(not a JSON object)",
                "args": pretty(data.get("args"), SHOW_LIMIT) if data else show(raw),
                "id": show(str(data.get("id", "")), 100) if data else "",
                "queued": epoch(data.get("queue_time")) if data else None,
                "bytes": len(raw),
            }
        )
    return {"queue": queue, "size": int(size or 0), "start": start, "count": count, "jobs": rows}


async def delete_job(db: Store, queue: str, ref: Ref) -> bool:
    """Remove the job ``ref`` names: LREM 1 of its exact bytes (atomic).

    Round trips: 2-3. A repeat after a lost reply is not made (it could remove an
    identical copy of the job).
    """
    key = db.k.queue(queue)
    found = await db.locate(key, ref)
    if found is None:
        return False
    return bool(await db.write("LREM", key, 1, found[1]))


async def remove_queue(db: Store, queue: str) -> int:
    """DEL the queue's list and SREM it from the queues set, in MULTI. Returns the
    number of jobs dropped. Repeat after a lost reply: a no-op (0)."""
    k = db.k
    replies = await db.writes(
        [("MULTI",), ("LLEN", k.queue(queue)), ("DEL", k.queue(queue)), ("SREM", k.queues, queue), ("EXEC",)]
    )
    return int(replies[-1][0])


async def set_paused(db: Store, paused: bool) -> None:
    """Set or delete ``pause-all-workers`` (Ruby Resque >= 2.3 and pyresque honour it).
    Repeat after a lost reply: the same state again."""
    if paused:
        await db.write("SET", db.k.pause_all, "true")
    else:
        await db.write("DEL", db.k.pause_all)
