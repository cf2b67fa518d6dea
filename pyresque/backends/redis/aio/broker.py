"""Queues on Redis from asyncio: the sync broker's keys, scripts and commands, awaited.

Every write is built by the same code as :class:`~pyresque.backends.redis.broker.RedisBroker`
(the ENQUEUE / ENQUEUE_ONCE scripts, :func:`~pyresque.backends.redis.broker.once_call`,
:func:`~pyresque.backends.redis.broker.chunk_commands`), so both clients put the same
bytes on the wire; only the sending differs (:mod:`pyresque.backends.redis.aio.calls`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio

from pyresque.backends.aio.base import AsyncBroker
from pyresque.backends.base import EnqueueGuard, PushItem
from pyresque.backends.redis.aio.calls import run_script, send_once
from pyresque.backends.redis.broker import PUSH_CHUNK, chunk_commands, once_call, waiting_status_json
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import ENQUEUE, ENQUEUE_ONCE

__all__ = ["AsyncRedisBroker"]


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


class AsyncRedisBroker(AsyncBroker):
    """Resque queues: ``<ns>:queues`` (SET) and ``<ns>:queue:<q>`` (LIST)."""

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._qkeys: dict[str, str] = {}

    def _qkey(self, queue: str) -> str:
        key = self._qkeys.get(queue)
        if key is None:
            key = self._qkeys[queue] = self._k.queue(queue)
        return key

    async def push(self, queue: str, data: bytes, *, track_id: str | None = None) -> None:
        """ENQUEUE: SADD + RPUSH (+ status) atomically. Round trips: 1 (never resent
        after a lost reply: a repeat would push the job twice)."""
        if track_id is None:
            await run_script(self._r, ENQUEUE, (self._k.queues, self._qkey(queue)), (queue, data))
        else:
            keys = (self._k.queues, self._qkey(queue), self._k.status(track_id))
            await run_script(self._r, ENQUEUE, keys, (queue, data, waiting_status_json()))

    async def push_once(
        self, queue: str, data: bytes, guard: EnqueueGuard, *, track_id: str | None = None
    ) -> str:
        """ENQUEUE_ONCE; returns the marker holding the key. Round trips: 1 (a repeat
        after a lost reply is a no-op returning the same marker)."""
        keys, args = once_call(self._k, self._qkey(queue), queue, data, guard, track_id)
        return _text(await run_script(self._r, ENQUEUE_ONCE, keys, args))

    async def push_many(self, items: Sequence[PushItem]) -> list[str | None]:
        """Round trips: 1 per ``PUSH_CHUNK`` jobs, each chunk sent exactly once."""
        now = int(time.time())
        markers: list[str | None] = [None] * len(items)
        for start in range(0, len(items), PUSH_CHUNK):
            commands, guarded = chunk_commands(self._k, self._qkey, items[start : start + PUSH_CHUNK], now)
            replies = await send_once(self._r, commands)
            for offset, position in guarded:
                markers[start + offset] = _text(replies[position])
        return markers

    async def queues(self) -> list[str]:
        """Round trips: 1."""
        members: set[bytes] = await self._r.smembers(self._k.queues)  # type: ignore[assignment]
        return sorted(m.decode() for m in members)

    async def size(self, queue: str) -> int:
        """Round trips: 1."""
        return int(await self._r.llen(self._qkey(queue)))

    async def sizes(self, queues: Sequence[str]) -> dict[str, int]:
        """Round trips: 1."""
        pipe = self._r.pipeline(transaction=False)
        for q in queues:
            pipe.llen(self._qkey(q))
        return {q: int(n) for q, n in zip(queues, await pipe.execute(), strict=True)}

    async def peek(self, queue: str, start: int = 0, count: int = 1) -> list[bytes]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        raws: list[bytes] = await self._r.lrange(self._qkey(queue), start, stop)  # type: ignore[assignment]
        return raws

    async def remove_values(self, queue: str, values: Sequence[bytes]) -> list[bool]:
        """One LREM per value (each atomic), pipelined. Round trips: 1 (a repeat removes
        a second copy of a duplicated payload: sent once)."""
        if not values:
            return []
        key = self._qkey(queue)
        replies = await send_once(self._r, [("LREM", key, 1, value) for value in values])
        return [bool(n) for n in replies]

    async def clear(self, queue: str) -> int:
        """LLEN + DEL in MULTI. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._qkey(queue))
        pipe.delete(self._qkey(queue))
        n, _ = await pipe.execute()
        return int(n)

    async def remove_queue(self, queue: str) -> int:
        """LLEN + DEL + SREM in MULTI, as Ruby's ``remove_queue``. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._qkey(queue))
        pipe.delete(self._qkey(queue))
        pipe.srem(self._k.queues, queue)
        n, _, _ = await pipe.execute()
        self._qkeys.pop(queue, None)
        return int(n)
