"""Durable enqueue: push, then wait until replicas have the push (``WAIT``).

Redis replication is asynchronous: an enqueue the master acknowledged can be lost if
the master dies (or is demoted by a fail-over) before a replica received it. A durable
enqueue (``Resque(..., durable=True)``, or ``enqueue(..., durable=True)``) sends its
push and ``WAIT <replicas> <timeout ms>`` in one pipelined round trip on one
connection (``WAIT`` counts the replicas that acknowledged *this connection's* writes),
and raises :class:`~pyresque.core.errors.BackendConnectionError` when fewer replicas
than asked confirmed within the timeout: the job is on the master, and may be lost at
a fail-over. Start with :func:`push_durable`.

Repeats: a lost reply raises (the push is never resent blindly). A guarded push
(``idempotency_key``/``job_id``, with ``retries``) may be repeated: the repeat's
ENQUEUE_ONCE pushes nothing, so to make its ``WAIT`` cover the first push the
pipeline also PUBLISHes the job's marker on ``<ns>:durable`` (a write that is
replicated, read by nobody): ``WAIT`` then waits for a point of the replication
stream after the first push. Unguarded pushes skip it (they are never repeated).

What it costs: the round trip to the farthest replica needed, on every enqueue
(measured by ``bench/bench_durable.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pyresque.backends.base import PushItem
from pyresque.backends.redis.broker import PUSH_CHUNK, chunk_commands, send_once, waiting_status_json
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import ENQUEUE
from pyresque.core.errors import BackendConnectionError

__all__ = ["push_durable"]


def _single(keys: Keys, queue_key: Callable[[str], str], item: PushItem, now: int) -> list[tuple[Any, ...]]:
    """One push as one atomic script (the ENQUEUE or ENQUEUE_ONCE of a plain enqueue)."""
    if item.guard is not None:
        commands, _ = chunk_commands(keys, queue_key, [item], now)
        return commands
    call_keys: tuple[str, ...] = (keys.queues, queue_key(item.queue))
    args: tuple[Any, ...] = (item.queue, item.data)
    if item.track_id is not None:
        call_keys += (keys.status(item.track_id),)
        args += (waiting_status_json(now),)
    return [("EVAL", ENQUEUE.source, len(call_keys), *call_keys, *args)]


def push_durable(
    client: Any,
    keys: Keys,
    queue_key: Callable[[str], str],
    items: Sequence[PushItem],
    *,
    replicas: int,
    timeout: float,
    now: int,
) -> list[str | None]:
    """Push ``items`` (as ``push``/``push_once``/``push_many`` would), then ``WAIT`` for
    ``replicas`` replicas for at most ``timeout`` seconds, in one round trip; returns the
    markers as ``push_many`` does (one round trip and one ``WAIT`` per ``PUSH_CHUNK``).

    Raises:
        BackendConnectionError: fewer than ``replicas`` replicas confirmed in time.
    """
    markers: list[str | None] = []
    for start in range(0, len(items), PUSH_CHUNK):
        markers += _push_chunk(
            client, keys, queue_key, items[start : start + PUSH_CHUNK], replicas, timeout, now
        )
    return markers


def _push_chunk(
    client: Any,
    keys: Keys,
    queue_key: Callable[[str], str],
    items: Sequence[PushItem],
    replicas: int,
    timeout: float,
    now: int,
) -> list[str | None]:
    if len(items) == 1:
        commands = _single(keys, queue_key, items[0], now)
        guarded = [(0, 0)] if items[0].guard is not None else []
    else:
        commands, guarded = chunk_commands(keys, queue_key, items, now)
    if guarded:
        commands.append(("PUBLISH", keys.prefix + "durable", "replicated?"))
    commands.append(("WAIT", replicas, max(1, int(timeout * 1000))))
    replies = send_once(client, commands)
    confirmed = int(replies[-1])
    if confirmed < replicas:
        raise BackendConnectionError(
            f"the enqueue was written to the master, but {confirmed} of the {replicas} replica(s) "
            f"asked for confirmed it within {timeout:g} s (WAIT): it may be lost at a fail-over"
        )
    markers: list[str | None] = [None] * len(items)
    for offset, position in guarded:
        reply = replies[position]
        markers[offset] = reply.decode() if isinstance(reply, bytes) else str(reply)
    return markers
