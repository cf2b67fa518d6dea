"""Lua scripts (atomic multi-key steps) and a thin, fast caller for them.

Each script runs as one command: one round trip, atomic on the server. Scripts take
every key through KEYS so they stay correct on a namespaced or proxied Redis.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

from pyresque.backends.redis.spin import call_spinning, read_reply

__all__ = [
    "LuaScript",
    "ENQUEUE",
    "ENQUEUE_ONCE",
    "LIST_SET_IF",
    "LIST_REMOVE_IF",
    "REQUEUE_FAILED",
]

KeyT = str | bytes
ArgT = str | bytes | int | float


class LuaScript:
    """A Lua script called by SHA (EVALSHA), loaded on first NOSCRIPT."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def __call__(self, client: redis.Redis, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
        """Run the script on ``client`` (one round trip unless the server lacks it).

        Real servers go through :func:`~pyresque.backends.redis.spin.call_spinning`
        (a short spin for the reply, and no blind retry after a lost reply); other
        clients (fakeredis) through ``execute_command``.
        """
        if self._direct(client):
            try:
                return call_spinning(client, "EVALSHA", self.sha, len(keys), *keys, *args)
            except NoScriptError:
                return call_spinning(client, "EVAL", self.source, len(keys), *keys, *args)
        try:
            return client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)  # type: ignore[no-untyped-call]
        except NoScriptError:
            return client.execute_command("EVAL", self.source, len(keys), *keys, *args)  # type: ignore[no-untyped-call]

    def run_on(self, conn: Any, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
        """Run the script on a connection the caller holds (EVALSHA, then EVAL on NOSCRIPT),
        spinning for each reply as the connection's spin mode says. The caller handles
        connection errors."""
        conn.send_command("EVALSHA", self.sha, len(keys), *keys, *args)
        try:
            return read_reply(conn, time.perf_counter())
        except NoScriptError:
            conn.send_command("EVAL", self.source, len(keys), *keys, *args)
            return read_reply(conn, time.perf_counter())

    @staticmethod
    def _direct(client: redis.Redis) -> bool:
        return type(client) is redis.Redis  # fakeredis and other subclasses: execute_command

    def queue_in(self, pipe: Any, keys: Sequence[KeyT], args: Sequence[ArgT]) -> None:
        """Queue the script in a pipeline (EVAL with source: a pipeline cannot retry)."""
        pipe.execute_command("EVAL", self.source, len(keys), *keys, *args)


#: KEYS: queues set, queue list[, status key]  ARGV: queue name, payload[, status JSON]
#: Repeat after a lost reply: pushes the job a second time (and resets its status), so
#: it is never repeated (``call_spinning`` does not retry a lost reply); callers that
#: need a safe retry use ENQUEUE_ONCE.
ENQUEUE = LuaScript(
    """
redis.call('SADD', KEYS[1], ARGV[1])
local n = redis.call('RPUSH', KEYS[2], ARGV[2])
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[3]) end
return n
"""
)

#: KEYS: marker key, queues set, queue list[, status key]
#: ARGV: marker value, marker TTL (s), queue name, payload[, status JSON]
#: -> the marker value holding the key (ARGV[1] when this call pushed).
#: Repeat after a lost reply: a no-op (the marker is there) that returns the same marker;
#: no push, the status is left as it is. Safe to repeat, and repeated by
#: ``Resque.enqueue(..., retries=N)``.
ENQUEUE_ONCE = LuaScript(
    """
local prior = redis.call('GET', KEYS[1])
if prior then return prior end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('RPUSH', KEYS[3], ARGV[4])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[5]) end
return ARGV[1]
"""
)

#: KEYS: list  ARGV: index, expected value, new value -> 1 if replaced, 0 if it changed
#: Repeat after a lost reply: the value there is the new one: nothing happens (0).
LIST_SET_IF = LuaScript(
    """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""
)

#: KEYS: list  ARGV: index, expected value, sentinel -> 1 if removed, 0 if it changed
#: Repeat after a lost reply: the entry at that index changed: nothing happens (0).
LIST_REMOVE_IF = LuaScript(
    """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('LREM', KEYS[1], 1, ARGV[3])
return 1
"""
)

#: KEYS: failed list, queues set, target queue list
#: ARGV: index, expected entry, entry with retried_at, queue name, payload
#: Repeat after a lost reply: the entry now has ``retried_at``, so it does not match and
#: nothing is pushed twice (0).
REQUEUE_FAILED = LuaScript(
    """
if redis.call('LINDEX', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('LSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[5])
return 1
"""
)
