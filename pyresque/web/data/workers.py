"""Workers: who runs, on which host, what, for how long; stale flags; pruning the dead.

Ids are Resque's ``host:pid:queue1,queue2``. :func:`page` reads one page of ids (the
SMEMBERS is the only read that grows with the number of workers) and, for that page
only, one pipeline of each worker's record, started time, counters, heartbeat (Ruby's
and pyresque's ``workers:heartbeat``, else node-resque's ``worker:ping:<host:pid>``)
and pyresque lease. A worker with no heartbeat at all (php-resque writes none) is shown
as such, never stale: nothing says it is dead. :func:`prune` removes workers whose
heartbeat is older than :data:`~pyresque.web.config.STALE_AFTER` and that no live
pyresque process leases, each with :data:`PRUNE_WORKER` (compare-and-act: it acts only
if the heartbeat, ping and job record are still the ones read), recording the job a
dead worker held as failed, as Ruby's prune does.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from pyresque.backends.redis.failure import encode_failure
from pyresque.backends.redis.scripts import LuaScript
from pyresque.core import timefmt
from pyresque.core.control import control_key
from pyresque.core.failure import FailureRecord
from pyresque.web.config import STALE_AFTER
from pyresque.web.data.decode import epoch, json_object, pretty
from pyresque.web.data.store import Store, show

__all__ = ["PRUNE_WORKER", "page", "prune"]

#: KEYS: workers set, worker:<id>, worker:<id>:started, stat:processed:<id>,
#: stat:failed:<id>, workers:heartbeat, worker:<id>:lease, failed list, stat:failed,
#: node-resque's worker:ping:<host:pid>
#: ARGV: id, heartbeat as read ('' = none), job record as read ('' = none), failure entry
#: ('' = none), ping as read ('' = none)
#: Removes the worker only if it is still registered, unleased, with the same heartbeat,
#: ping and job record; pushes the failure entry of the job it held. -> 1 pruned, 0 not.
#: Repeat after a lost reply: the worker is no longer registered: nothing happens (0).
PRUNE_WORKER = LuaScript(
    """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('EXISTS', KEYS[7]) == 1 then return 0 end
if (redis.call('HGET', KEYS[6], ARGV[1]) or '') ~= ARGV[2] then return 0 end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[3] then return 0 end
if (redis.call('GET', KEYS[10]) or '') ~= ARGV[5] then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[10])
redis.call('HDEL', KEYS[6], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('RPUSH', KEYS[8], ARGV[4])
  redis.call('INCR', KEYS[9])
end
return 1
"""
)


def _ping_name(worker_id: str) -> str:
    """node-resque's worker name (``host:pid``), which names its ping key."""
    return ":".join(worker_id.split(":", 2)[:2])


def _fields(worker_id: str) -> tuple[str, str, list[str]]:
    host, _, rest = worker_id.partition(":")
    pid, _, queues = rest.partition(":")
    return host, pid, [q for q in queues.split(",") if q]


async def _details(db: Store, ids: list[str]) -> list[dict[str, Any]]:
    k = db.k
    commands: list[tuple[Any, ...]] = []
    for wid in ids:
        commands += [
            ("GET", k.worker(wid)),
            ("GET", k.worker_started(wid)),
            ("GET", k.stat(f"processed:{wid}")),
            ("GET", k.stat(f"failed:{wid}")),
            ("HGET", k.heartbeats, wid),
            ("EXISTS", k.worker_lease(wid)),
            ("GET", k.worker_ping(_ping_name(wid))),
            ("GET", control_key(k.prefix, wid)),
        ]
    replies = await db.many(commands)
    now = time.time()
    rows = []
    for i, wid in enumerate(ids):
        job_raw, started, processed, failed, beat, leased, ping, control = replies[8 * i : 8 * i + 8]
        job = json_object(job_raw)
        beat_at = epoch(show(beat, 100)) if beat is not None else None
        if beat_at is None and ping is not None:  # node-resque: {"time": <epoch s>, ...}
            beat_at = epoch((json_object(ping) or {}).get("time"))
        host, pid, queues = _fields(wid)
        run_at = epoch(job.get("run_at")) if job else None
        payload = job.get("payload") if job else None
        age = None if beat_at is None else max(0.0, now - beat_at)
        rows.append(
            {
                "id": wid,
                "host": host,
                "pid": pid,
                "queues": queues,
                "started": epoch(show(started, 100)) if started is not None else None,
                "heartbeat_age": age,
                "stale": age is not None and age > STALE_AFTER,
                "leased": bool(leased),  # a live pyresque worker: Quiet/Stop work on it
                "control": show(control, 100).partition(" ")[0] if control is not None else None,
                "processed": int(processed or 0),
                "failed": int(failed or 0),
                "job": None
                if job_raw is None
                else {
                    "queue": show(str(job.get("queue", "")), 200) if job else "",
                    "class": show(str(payload.get("class")), 300) if isinstance(payload, dict) else "",
                    "args": pretty(payload.get("args"), 2000) if isinstance(payload, dict) else show(job_raw),
                    "for": None if run_at is None else max(0.0, now - run_at),
                },
            }
        )
    return rows


async def page(db: Store, start: int, count: int, *, working: bool = False) -> dict[str, Any]:
    """One page of workers (sorted by id), grouped by host in the template; with
    ``working``, only those running a job (one MGET of every worker's record more)."""
    ids = sorted(show(w, 0) for w in await db.one("SMEMBERS", db.k.workers))
    if working and ids:
        records = await db.one("MGET", *[db.k.worker(w) for w in ids])
        ids = [w for w, record in zip(ids, records, strict=True) if record is not None]
    rows = await _details(db, ids[start : start + count])
    return {"total": len(ids), "start": start, "count": count, "workers": rows, "only_working": working}


def _failure(worker_id: str, job_raw: bytes) -> bytes:
    job = json_object(job_raw) or {}
    payload = job.get("payload")
    record = FailureRecord(
        failed_at=timefmt.ruby_failed_at(dt.datetime.now(dt.timezone.utc)),
        payload=payload if isinstance(payload, dict) else {"class": None, "raw": show(job_raw)},
        exception="Resque::PruneDeadWorkerDirtyExit",
        error=f"Worker {worker_id} did not gracefully exit while processing "
        f"{payload.get('class') if isinstance(payload, dict) else 'a job'} (pruned from the dashboard)",
        backtrace=[],
        worker=worker_id,
        queue=str(job.get("queue", "")),
    )
    return encode_failure(record)


async def prune(db: Store, worker_ids: list[str] | None = None) -> list[str]:
    """Prune the stale, unleased workers (all, or those of ``worker_ids``); their ids."""
    k = db.k
    ids = sorted(show(w, 0) for w in await db.one("SMEMBERS", k.workers))
    if worker_ids is not None:
        ids = [w for w in ids if w in set(worker_ids)]
    pruned = []
    for row in await _details(db, ids):
        if not row["stale"] or row["leased"]:
            continue
        wid = row["id"]
        ping_key = k.worker_ping(_ping_name(wid))
        beat, job_raw, ping = await db.many(
            [("HGET", k.heartbeats, wid), ("GET", k.worker(wid)), ("GET", ping_key)]
        )
        keys = (
            k.workers,
            k.worker(wid),
            k.worker_started(wid),
            k.stat(f"processed:{wid}"),
            k.stat(f"failed:{wid}"),
            k.heartbeats,
            k.worker_lease(wid),
            k.failed,
            k.stat("failed"),
            ping_key,
        )
        failure = _failure(wid, job_raw) if job_raw else b""
        args = (wid, beat or b"", job_raw or b"", failure, ping or b"")
        if await db.script(PRUNE_WORKER, keys, args):
            pruned.append(wid)
    return pruned
