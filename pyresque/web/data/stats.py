"""Stats: Resque's info, Redis INFO cards, and a key browser by SCAN (never KEYS).

:func:`browse` runs SCAN from a cursor with a MATCH pattern inside the namespace
(at most :data:`SCAN_CALLS` calls of COUNT :data:`SCAN_COUNT` per request, so a request
costs the same on a Redis of any size), then one pipeline of TYPE and TTL for the keys
found. :func:`key_detail` shows a bounded peek of one key, whatever its type.
"""

from __future__ import annotations

from typing import Any

from pyresque.web.config import SHOW_LIMIT
from pyresque.web.data.store import Store, show

__all__ = ["SCAN_CALLS", "SCAN_COUNT", "browse", "key_detail", "redis_info"]

SCAN_COUNT = 200
SCAN_CALLS = 10
#: INFO fields shown on the cards.
CARDS = (
    ("Server", ("redis_version", "redis_mode", "os", "uptime_in_seconds", "tcp_port")),
    ("Memory", ("used_memory_human", "used_memory_peak_human", "maxmemory_human", "maxmemory_policy")),
    ("Clients", ("connected_clients", "blocked_clients")),
    ("Load", ("instantaneous_ops_per_sec", "total_commands_processed", "total_connections_received")),
)


async def redis_info(db: Store) -> dict[str, Any]:
    """INFO's main fields in cards, and the databases' key counts."""
    info: dict[str, Any] = await db.one("INFO")
    cards = [
        {"title": title, "fields": [(name, show(str(info.get(name, "-")), 200)) for name in names]}
        for title, names in CARDS
    ]
    keyspace = {
        name: value for name, value in info.items() if name.startswith("db") and isinstance(value, dict)
    }
    return {"cards": cards, "keyspace": {name: dict(v) for name, v in keyspace.items()}}


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


async def browse(db: Store, pattern: str, cursor: int, want: int = 50) -> dict[str, Any]:
    """Keys of the namespace matching ``pattern`` (a glob after the prefix), from
    ``cursor`` on; the next cursor (0: the scan is complete)."""
    match = _glob_escape(db.k.prefix) + (pattern or "*")
    found: list[bytes] = []
    calls = 0
    while calls < SCAN_CALLS and len(found) < want:
        cursor_r, keys = await db.one("SCAN", cursor, "MATCH", match, "COUNT", SCAN_COUNT)
        cursor = int(cursor_r)
        found += list(keys)
        calls += 1
        if cursor == 0:
            break
    replies = await db.many([cmd for key in found for cmd in (("TYPE", key), ("TTL", key))])
    rows = [
        {"key": show(key, 500), "type": show(replies[2 * i], 20), "ttl": int(replies[2 * i + 1])}
        for i, key in enumerate(found)
    ]
    return {"pattern": pattern, "keys": rows, "cursor": cursor, "complete": cursor == 0, "scan_calls": calls}


async def key_detail(db: Store, key: str) -> dict[str, Any]:
    """A bounded look at one key: its type, size and first entries."""
    kind = show(await db.one("TYPE", key), 20)
    size: Any = None
    entries: list[str] = []
    if kind == "string":
        size, value = await db.many([("STRLEN", key), ("GETRANGE", key, 0, SHOW_LIMIT * 4)])
        entries = [show(value)]
    elif kind == "list":
        size, values = await db.many([("LLEN", key), ("LRANGE", key, 0, 19)])
        entries = [show(v) for v in values]
    elif kind == "set":
        size, (_, values) = await db.many([("SCARD", key), ("SSCAN", key, 0, "COUNT", 20)])
        entries = [show(v) for v in values]
    elif kind == "zset":
        size, values = await db.many([("ZCARD", key), ("ZRANGE", key, 0, 19, "WITHSCORES")])
        flat = [x for v in values for x in v] if values and isinstance(values[0], list | tuple) else values
        entries = [f"{show(m)}  (score {show(s, 40)})" for m, s in zip(flat[::2], flat[1::2], strict=True)]
    elif kind == "hash":
        size, (_, values) = await db.many([("HLEN", key), ("HSCAN", key, 0, "COUNT", 20)])
        entries = [f"{show(f, 300)} = {show(v)}" for f, v in dict(values).items()]
    elif kind == "stream":
        size = await db.one("XLEN", key)
    return {"key": show(key, 0), "type": kind, "size": size, "entries": entries[:20]}
