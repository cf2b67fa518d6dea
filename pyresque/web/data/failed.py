"""Failures (Ruby's ``<ns>:failed`` list): paging, filtered search with a cost cap, and
compare-and-act retry and removal.

- :func:`page`: LLEN + one LRANGE (1 round trip).
- :func:`search`: filters (queue, class, exception: exact; ``q``: a case-insensitive
  substring of the entry's bytes: payload, error, backtrace) over chunks of
  :data:`CHUNK` entries from a given index, examining at most ``cap`` entries per
  request; the answer says where it stopped (``next_from``) and whether it is partial.
  Never loads the whole list.
- :func:`retry` / :func:`remove`: each entry is named by a :class:`Ref` (index and
  digest of its bytes), found again by :meth:`Store.locate`, then acted on with the
  sync backend's check-and-act scripts (``REQUEUE_FAILED``, ``LIST_REMOVE_IF``), which
  re-check the exact bytes atomically.
- :func:`retry_all` and :func:`clear_retried` (a chunk at a time, one pipeline each),
  :func:`groups` (counts per exception, class or queue, capped), :func:`clear`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pyresque.backends.redis.failure import decode_failure
from pyresque.backends.redis.scripts import LIST_REMOVE_IF, REQUEUE_FAILED
from pyresque.core import timefmt
from pyresque.serializers.json import dumps_text
from pyresque.web.config import SEARCH_CAP, SHOW_LIMIT
from pyresque.web.data.decode import epoch, json_object, pretty
from pyresque.web.data.store import Ref, Store, show

__all__ = [
    "CHUNK",
    "GROUPS",
    "Filters",
    "clear",
    "clear_retried",
    "groups",
    "page",
    "remove",
    "retry",
    "retry_all",
    "search",
]

#: Entries read per LRANGE while searching or retrying all.
CHUNK = 500


class Filters:
    """What a search keeps: exact queue, class and exception; a substring ``q``."""

    def __init__(self, queue: str = "", cls: str = "", exception: str = "", q: str = "") -> None:
        self.queue, self.cls, self.exception, self.q = queue, cls, exception, q[:200]
        self._needle = self.q.lower().encode("utf-8")

    def __bool__(self) -> bool:
        return bool(self.queue or self.cls or self.exception or self.q)

    def as_dict(self) -> dict[str, str]:
        """The filters as query parameters."""
        return {"queue": self.queue, "class": self.cls, "exception": self.exception, "q": self.q}

    def keep(self, raw: bytes) -> bool:
        """Whether the entry ``raw`` matches (the substring test runs on the bytes first)."""
        if self._needle and self._needle not in raw.lower():
            return False
        if not (self.queue or self.cls or self.exception):
            return True
        rec = decode_failure(raw)
        payload_class = rec.payload.get("class") if isinstance(rec.payload, dict) else None
        return (
            (not self.queue or rec.queue == self.queue)
            and (not self.cls or payload_class == self.cls)
            and (not self.exception or rec.exception == self.exception)
        )


def _row(index: int, raw: bytes) -> dict[str, Any]:
    rec = decode_failure(raw)
    payload = rec.payload if isinstance(rec.payload, dict) else {}
    return {
        "ref": str(Ref.of(index, raw)),
        "index": index,
        "class": show(str(payload.get("class")), 300),
        "args": pretty(payload.get("args", payload.get("raw")), SHOW_LIMIT),
        "queue": show(rec.queue, 200),
        "exception": show(rec.exception, 300),
        "error": show(rec.error),
        "backtrace": [show(line, 500) for line in rec.backtrace[:200]],
        "worker": show(rec.worker, 300),
        "failed_at": epoch(rec.failed_at),
        "failed_at_text": show(rec.failed_at, 100),
        "retried_at": show(rec.retried_at, 100) if rec.retried_at else None,
        "bytes": len(raw),
    }


async def page(db: Store, start: int, count: int, *, key: str = "") -> dict[str, Any]:
    """One page of the failed list (or of ``key``), in list order (oldest first)."""
    key = key or db.k.failed
    total, raws = await db.many([("LLEN", key), ("LRANGE", key, start, start + count - 1)])
    rows = [_row(start + i, raw) for i, raw in enumerate(raws or [])]
    return {"total": int(total or 0), "start": start, "count": count, "failures": rows, "partial": False}


async def search(
    db: Store, filters: Filters, start: int, count: int, cap: int | None = None, *, key: str = ""
) -> dict[str, Any]:
    """Up to ``count`` matches from index ``start`` on, examining at most ``cap``
    entries (default :data:`~pyresque.web.config.SEARCH_CAP`)."""
    key = key or db.k.failed
    cap = SEARCH_CAP if cap is None else cap
    total = int(await db.one("LLEN", key))
    rows: list[dict[str, Any]] = []
    index = start
    examined = 0
    while index < total and len(rows) < count and examined < cap:
        size = min(CHUNK, cap - examined)
        chunk: list[bytes] = await db.one("LRANGE", key, index, index + size - 1)
        if not chunk:
            break
        for offset, raw in enumerate(chunk):
            if filters.keep(raw):
                rows.append(_row(index + offset, raw))
                if len(rows) >= count:
                    index += offset + 1
                    examined += offset + 1
                    break
        else:
            index += len(chunk)
            examined += len(chunk)
    done = index >= total
    return {
        "total": total,
        "start": start,
        "count": count,
        "failures": rows,
        "examined": examined,
        "next_from": None if done else index,
        "partial": not done and len(rows) < count,
    }


def _requeue_command(db: Store, key: str, index: int, raw: bytes) -> tuple[object, ...] | None:
    """The REQUEUE_FAILED call (EVAL with its source: it may go in a pipeline) that
    requeues the entry ``raw`` at ``index``; None when it names no class or queue."""
    data = json_object(raw)
    if data is None:
        return None
    payload, queue = data.get("payload"), data.get("queue")
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("class"), str)
        or not isinstance(queue, str)
    ):
        return None
    data["retried_at"] = timefmt.ruby_failed_at()
    keys = (key, db.k.queues, db.k.queue(queue))
    args = (index, raw, dumps_text(data), queue, dumps_text(payload))
    return ("EVAL", REQUEUE_FAILED.source, len(keys), *keys, *args)


async def _requeue_one(db: Store, key: str, index: int, raw: bytes) -> bool:
    command = _requeue_command(db, key, index, raw)
    return command is not None and bool(await db.write(*command))


async def retry(db: Store, refs: Sequence[Ref], *, key: str = "") -> tuple[int, int]:
    """Requeue the entries named (each kept, marked ``retried_at``). -> (done, not done).

    Repeat after a lost reply: the entry now carries ``retried_at``, its bytes differ,
    nothing is pushed twice.
    """
    key = key or db.k.failed
    done = 0
    for ref in refs:
        found = await db.locate(key, ref)
        if found is not None and await _requeue_one(db, key, *found):
            done += 1
    return done, len(refs) - done


async def remove(db: Store, refs: Sequence[Ref], *, key: str = "") -> tuple[int, int]:
    """Remove the entries named, highest index first. -> (done, not done).

    Repeat after a lost reply: the entry is gone: nothing happens.
    """
    key = key or db.k.failed
    done = 0
    for ref in sorted(refs, key=lambda r: r.index, reverse=True):
        found = await db.locate(key, ref)
        if found is None:
            continue
        sentinel = f"__pyresque_removed_{uuid.uuid4().hex}"
        if await db.script(LIST_REMOVE_IF, (key,), (found[0], found[1], sentinel)):
            done += 1
    return done, len(refs) - done


async def retry_all(db: Store, *, key: str = "") -> int:
    """Requeue every entry (Ruby's ``requeue_all``): one LRANGE of :data:`CHUNK`
    entries, then one pipeline of REQUEUE_FAILED scripts, per chunk. Not repeated after
    a lost reply (a repeat would be harmless: retried entries no longer match)."""
    key = key or db.k.failed
    done = 0
    index = 0
    while True:
        chunk: list[bytes] = await db.one("LRANGE", key, index, index + CHUNK - 1)
        if not chunk:
            return done
        commands = [
            c for i, raw in enumerate(chunk) if (c := _requeue_command(db, key, index + i, raw)) is not None
        ]
        done += sum(int(n) for n in await db.writes(commands))
        index += len(chunk)


async def clear_retried(db: Store, *, key: str = "") -> int:
    """Remove the entries already retried (``retried_at`` set): per chunk, one pipeline
    of ``LREM 1 <exact bytes>``. Not repeated after a lost reply (a repeat could remove
    an identical copy)."""
    key = key or db.k.failed
    removed = 0
    index = 0
    while True:
        chunk: list[bytes] = await db.one("LRANGE", key, index, index + CHUNK - 1)
        if not chunk:
            return removed
        doomed = [raw for raw in chunk if b"retried_at" in raw and (json_object(raw) or {}).get("retried_at")]
        gone = sum(int(n) for n in await db.writes([("LREM", key, 1, raw) for raw in doomed]))
        removed += gone
        index += len(chunk) - gone


GROUPS = ("exception", "class", "queue")


async def groups(db: Store, by: str, cap: int | None = None, *, key: str = "") -> dict[str, Any]:
    """Counts of failures per exception, class or queue, over at most ``cap`` entries
    (default :data:`~pyresque.web.config.SEARCH_CAP`) from the newest back; ``partial``
    when the list is longer."""
    key = key or db.k.failed
    cap = SEARCH_CAP if cap is None else cap
    total = int(await db.one("LLEN", key))
    counts: dict[str, int] = {}
    stop = total
    floor = max(0, total - cap)
    while stop > floor:
        start = max(floor, stop - CHUNK)
        for raw in await db.one("LRANGE", key, start, stop - 1):
            rec = decode_failure(raw)
            if by == "exception":
                value = rec.exception
            elif by == "queue":
                value = rec.queue
            else:
                value = str(rec.payload.get("class")) if isinstance(rec.payload, dict) else "None"
            counts[value] = counts.get(value, 0) + 1
        stop = start
    rows = [
        {"value": show(v, 300), "key": v, "count": n} for v, n in sorted(counts.items(), key=lambda p: -p[1])
    ]
    return {"by": by, "total": total, "examined": total - floor, "partial": floor > 0, "groups": rows[:200]}


async def clear(db: Store, *, key: str = "") -> int:
    """Delete the failed list (LLEN + DEL in MULTI). Repeat after a lost reply: 0."""
    key = key or db.k.failed
    replies = await db.writes([("MULTI",), ("LLEN", key), ("DEL", key), ("EXEC",)])
    return int(replies[-1][0])


async def lists(db: Store) -> list[dict[str, Any]]:
    """The failure lists: ``failed``, and Ruby's ``RedisMultiQueue`` lists named in
    ``failed_queues`` (``<queue>_failed``), each with its length. Round trips: 2."""
    names = sorted(show(n, 0) for n in await db.one("SMEMBERS", db.k.failed_queues))
    keys = [db.k.failed, *(db.k.prefix + n for n in names)]
    sizes = await db.many([("LLEN", k) for k in keys])
    return [
        {"name": name, "size": int(n or 0)}
        for name, n in zip(["", *names], sizes, strict=True)
        if name == "" or n
    ]
