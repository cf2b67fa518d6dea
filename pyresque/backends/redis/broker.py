"""Queues on Redis, in Resque's keys: ``<ns>:queues`` (SET) and ``<ns>:queue:<q>`` (LIST).

Idempotent pushes also write ``<ns>:enqueued:<key>`` (STRING with a TTL), a
pyresque-only key that Ruby Resque, php-resque and node-resque never read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from pyresque.backends.base import Broker, EnqueueGuard, PushItem
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.queue_admin import QueueAdmin
from pyresque.backends.redis.scripts import ENQUEUE, ENQUEUE_ONCE
from pyresque.backends.redis.spin import pool_connection

__all__ = ["RedisBroker", "chunk_commands", "marker_key", "once_call", "send_once", "waiting_status_json"]

#: Jobs per pipeline chunk in ``push_many``.
PUSH_CHUNK = 5000


def waiting_status_json(now: int | None = None) -> bytes:
    """php-resque's WAITING status, as resque/php-resque writes it at enqueue."""
    t = int(time.time()) if now is None else now
    return b'{"status":1,"updated":%d,"started":%d,"result":null}' % (t, t)


class RedisBroker(QueueAdmin, Broker):
    """Resque queues. Push is one EVALSHA: SADD queues + RPUSH (+ status SET)."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self._r = client
        self._k = keys
        self._qkeys: dict[str, str] = {}

    def _qkey(self, queue: str) -> str:
        key = self._qkeys.get(queue)
        if key is None:
            key = self._qkeys[queue] = self._k.queue(queue)
        return key

    def push(self, queue: str, data: bytes, *, track_id: str | None = None) -> None:
        """SADD + RPUSH (+ status) atomically. Round trips: 1."""
        if track_id is None:
            ENQUEUE(self._r, (self._k.queues, self._qkey(queue)), (queue, data))
        else:
            ENQUEUE(
                self._r,
                (self._k.queues, self._qkey(queue), self._k.status(track_id)),
                (queue, data, waiting_status_json()),
            )

    def marker_key(self, key: str) -> str:
        """The marker of an idempotency key: ``<ns>:enqueued:<key>`` (pyresque only)."""
        return marker_key(self._k, key)

    def _once_call(
        self, queue: str, data: bytes, guard: EnqueueGuard, track_id: str | None, now: int | None = None
    ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        return once_call(self._k, self._qkey(queue), queue, data, guard, track_id, now)

    def push_once(self, queue: str, data: bytes, guard: EnqueueGuard, *, track_id: str | None = None) -> str:
        """ENQUEUE_ONCE: marker SET (if absent, with TTL) + SADD + RPUSH (+ status),
        atomically; returns the marker holding the key. Round trips: 1."""
        keys, args = self._once_call(queue, data, guard, track_id)
        return _text(ENQUEUE_ONCE(self._r, keys, args))

    def push_many(self, items: Sequence[PushItem]) -> list[str | None]:
        """Round trips: 1 per ``PUSH_CHUNK`` jobs (a non-transactional pipeline, sent once).

        Within a chunk: one SADD per distinct queue, one RPUSH per run of jobs
        for the same queue, one SET per tracked job; a guarded job is one
        ENQUEUE_ONCE script of its own (it ends the run of its queue, so order holds).
        A lost reply raises and the chunk is never sent again (by redis-py's retry
        either): a repeat would push its unguarded jobs twice.
        """
        now = int(time.time())
        markers: list[str | None] = [None] * len(items)
        for start in range(0, len(items), PUSH_CHUNK):
            commands, guarded = chunk_commands(self._k, self._qkey, items[start : start + PUSH_CHUNK], now)
            replies = send_once(self._r, commands)
            for offset, position in guarded:
                markers[start + offset] = _text(replies[position])
        return markers

    def queues(self) -> list[str]:
        """Round trips: 1."""
        return sorted(m.decode() for m in self._r.smembers(self._k.queues))  # type: ignore[union-attr]

    def size(self, queue: str) -> int:
        """Round trips: 1."""
        return int(self._r.llen(self._qkey(queue)))

    def sizes(self, queues: Sequence[str]) -> dict[str, int]:
        """Round trips: 1."""
        pipe = self._r.pipeline(transaction=False)
        for q in queues:
            pipe.llen(self._qkey(q))
        return {q: int(n) for q, n in zip(queues, pipe.execute(), strict=True)}

    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[bytes]:
        """Round trips: 1."""
        if count == 0:
            return []
        stop = -1 if count < 0 else start + count - 1
        return list(self._r.lrange(self._qkey(queue), start, stop))  # type: ignore[arg-type]

    def remove_values(self, queue: str, values: Sequence[bytes]) -> list[bool]:
        """One LREM per value (each atomic), pipelined. Round trips: 1."""
        if not values:
            return []
        pipe = self._r.pipeline(transaction=False)
        key = self._qkey(queue)
        for value in values:
            pipe.lrem(key, 1, value)  # type: ignore[arg-type]
        return [bool(n) for n in pipe.execute()]

    def clear(self, queue: str) -> int:
        """LLEN + DEL in MULTI. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._qkey(queue))
        pipe.delete(self._qkey(queue))
        n, _ = pipe.execute()
        return int(n)

    def remove_queue(self, queue: str) -> int:
        """LLEN + DEL + SREM in MULTI, as Ruby's ``remove_queue``. Round trips: 1."""
        pipe = self._r.pipeline(transaction=True)
        pipe.llen(self._qkey(queue))
        pipe.delete(self._qkey(queue))
        pipe.srem(self._k.queues, queue)
        n, _, _ = pipe.execute()
        self._qkeys.pop(queue, None)
        return int(n)


def _text(reply: Any) -> str:
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def marker_key(keys: Keys, key: str) -> str:
    """The marker of an idempotency key: ``<ns>:enqueued:<key>`` (pyresque only)."""
    return f"{keys.prefix}enqueued:{key}"


def once_call(
    keys: Keys,
    queue_key: str,
    queue: str,
    data: bytes,
    guard: EnqueueGuard,
    track_id: str | None,
    now: int | None = None,
) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The KEYS and ARGV of one ENQUEUE_ONCE call (shared by the sync and async brokers)."""
    call_keys: tuple[str, ...] = (marker_key(keys, guard.key), keys.queues, queue_key)
    args: tuple[Any, ...] = (guard.marker, guard.ttl, queue, data)
    if track_id is not None:
        call_keys += (keys.status(track_id),)
        args += (waiting_status_json(now),)
    return call_keys, args


def chunk_commands(
    keys: Keys, queue_key: Callable[[str], str], chunk: Sequence[PushItem], now: int
) -> tuple[list[tuple[Any, ...]], list[tuple[int, int]]]:
    """The pipelined commands of one ``push_many`` chunk, and ``(offset in chunk, command
    index)`` of each guarded item (whose reply is its marker). Shared by the sync and
    async brokers, so both send the same bytes.

    One SADD per distinct queue, one RPUSH per run of jobs for the same queue, one SET
    per tracked job; a guarded job is one ENQUEUE_ONCE script of its own (it ends the
    run of its queue, so order holds).
    """
    commands: list[tuple[Any, ...]] = []
    seen: set[str] = set()
    run_queue: str | None = None
    run: list[bytes] = []
    guarded: list[tuple[int, int]] = []
    for offset, item in enumerate(chunk):
        if item.guard is None and item.queue not in seen:
            seen.add(item.queue)
            commands.append(("SADD", keys.queues, item.queue))
        if item.guard is None and item.track_id is not None:
            commands.append(("SET", keys.status(item.track_id), waiting_status_json(now)))
        if run and run_queue is not None and (item.queue != run_queue or item.guard is not None):
            commands.append(("RPUSH", queue_key(run_queue), *run))
            run = []
        if item.guard is not None:
            queue, data, track_id = item.queue, item.data, item.track_id
            call_keys, args = once_call(keys, queue_key(queue), queue, data, item.guard, track_id, now)
            guarded.append((offset, len(commands)))
            commands.append(("EVAL", ENQUEUE_ONCE.source, len(call_keys), *call_keys, *args))
            run_queue = None
            continue
        run_queue = item.queue
        run.append(item.data)
    if run and run_queue is not None:
        commands.append(("RPUSH", queue_key(run_queue), *run))
    return commands, guarded


def send_once(client: redis.Redis, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Send ``commands`` in one pipelined round trip, exactly once, and return their raw
    replies (the first error reply is raised after every reply was read).

    redis-py's own pipeline repeats the whole batch after a connection error when the
    client has a retry policy (``redis.Redis(host=...)`` has one), even after the server
    ran it; here a connection error is raised as it is. Other clients (fakeredis) go
    through an ordinary pipeline: nothing there can lose a reply.
    """
    if not commands:
        return []
    if type(client) is not redis.Redis:
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)  # type: ignore[no-untyped-call]
        return list(pipe.execute())
    conn = pool_connection(client)
    try:
        conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        error: redis.ResponseError | None = None
        for _ in commands:
            try:
                replies.append(conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
                error = error or exc
    except BaseException:
        conn.disconnect()  # a lost reply, a signal mid-read ...: start afresh
        raise
    finally:
        client.connection_pool.release(conn)
    if error is not None:
        raise error
    return replies
