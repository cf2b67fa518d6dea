"""The async worker's registry on Redis: the worker scripts of
:mod:`pyresque.backends.redis.worker_scripts`, sent from asyncio, many slots per round trip.

:class:`RedisAsyncWorkerRegistry` implements
:class:`~pyresque.backends.aio.workers.AsyncWorkerRegistry`. Its hot step sends one
pipeline: per free slot, a ``FAIL`` (when its last job failed) and a ``RESERVE`` (the
last success fused in, the next job taken), in that order, each atomic on the server.
The bytes written are those of the other modes: ``worker:<id>`` records, stats,
statuses and failure records are byte for byte what the sync worker writes.

Connections: one for the steps (a raw redis-py asyncio connection, no client-side
retry: the worker decides about repeats, see below), one for the idle wait (its socket
timeout above the longest wait), both this registry's own. A registry belongs to the
event loop that first uses it.

**Repeats.** A batch whose reply was lost is sent again whole, with the same tokens,
by the worker: each script repeated is safe (notes beside each script). A ``NOSCRIPT``
reply (the server lost its script cache: a restart, ``SCRIPT FLUSH``) means that command
did not run: the scripts are loaded and those commands alone are sent again (a flush
drops every script at once, so a slot's ``FAIL`` and ``RESERVE`` are both refused or
both run).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import NoScriptError, ResponseError

from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.aio.connection import client_like
from pyresque.backends.redis.failure import encode_failure
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LuaScript
from pyresque.backends.redis.worker_scripts import CLAIM, DELETE_IF, FAIL, RESERVE, UNREGISTER
from pyresque.backends.redis.worker_wait import QueueWaiter
from pyresque.core import timefmt
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import Held, Reservation
from pyresque.core.status_result import status_result_json
from pyresque.serializers.json import dumps_text

__all__ = ["BLOCK_SOCKET_TIMEOUT", "RedisAsyncWorkerRegistry", "StepResult"]

#: Socket timeout of the idle-wait connection; a wait blocks at most 1 s less than this.
BLOCK_SOCKET_TIMEOUT = 5.0

#: Connection options that belong to a pool (left out of our own connections).
_POOL_ONLY = ("maint_notifications", "orig_", "himport_registry")

#: Per slot: (finished: 0/1/-1, failed: None/True/False, the reservation, Held or None).
StepResult = tuple[int, bool | None, Reservation | Held | None]
_SlotStep = Any


class _Conn:
    """One raw asyncio connection, opened on first use and again after any error, used
    by one coroutine at a time (a lock)."""

    def __init__(self, pool: redis.asyncio.ConnectionPool, **overrides: Any) -> None:
        self._class = pool.connection_class
        # a connection of our own, outside the pool: none of the pool's machinery (redis-py
        # 8's maintenance notifications relax timeouts and reconnect pooled connections)
        kwargs = {k: v for k, v in pool.connection_kwargs.items() if not k.startswith(_POOL_ONLY)}
        self._kwargs = {**kwargs, "protocol": 2, **overrides}
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def call(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Send ``commands`` in one write and read every reply; an error reply is
        returned in its place (not raised). A connection error raises (the commands may
        have run), and the connection is dropped."""
        async with self._lock:
            conn = self._conn
            if conn is None:
                conn = self._conn = self._class(**self._kwargs)
            try:
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
                out: list[Any] = []
                for _ in commands:
                    try:
                        out.append(await conn.read_response())
                    except ResponseError as exc:
                        out.append(exc)
                return out
            except BaseException:
                self._conn = None
                await conn.disconnect(nowait=True)
                raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect(nowait=True)


def _raise_errors(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


class RedisAsyncWorkerRegistry:
    """The async worker registry over redis-py's asyncio connections (see the module
    docstring). Build it with :meth:`from_backend`."""

    connection_errors: tuple[type[BaseException], ...] = RedisBackend.connection_errors

    def __init__(self, sync_client: redis.Redis, keys: Keys) -> None:
        pool = client_like(sync_client).connection_pool
        self._k = keys
        self._sync = sync_client
        self._hot = _Conn(pool)
        self._block = _Conn(pool, socket_timeout=BLOCK_SOCKET_TIMEOUT)
        self._waiter: QueueWaiter | None = None
        self._wait_thread: concurrent.futures.ThreadPoolExecutor | None = None
        self._static: dict[tuple[str, tuple[str, ...]], tuple[list[str], str, list[str]]] = {}
        self._status_prefix, self._status_suffix = keys.status("\x00").split("\x00")
        # slot id -> token of the untracked job it holds (RESERVE's reply said so): its
        # finish goes without the status key, as the sync registry's does
        self._untracked: dict[str, str] = {}

    @classmethod
    def from_backend(cls, backend: RedisBackend) -> RedisAsyncWorkerRegistry:
        """The registry for ``backend``'s server and namespace."""
        return cls(backend.client, backend.keys)

    # -- the hot step --------------------------------------------------------------
    async def prepare(self) -> None:
        """SCRIPT LOAD the hot scripts. Round trips: 1."""
        await self._load()

    async def _load(self) -> None:
        _raise_errors(await self._hot.call([("SCRIPT", "LOAD", s.source) for s in (RESERVE, FAIL)]))

    def _reserve_static(self, worker_id: str, queues: tuple[str, ...]) -> tuple[list[str], str, list[str]]:
        static = self._static.get((worker_id, queues))
        if static is None:
            k = self._k
            keys = [
                k.worker(worker_id),
                k.stat("processed"),
                k.stat(f"processed:{worker_id}"),
                k.workers,
                k.worker_started(worker_id),
                k.heartbeats,
                *(k.queue(q) for q in queues),
            ]
            # node-resque's worker name: the id up to its second colon (host:pid)
            name = dumps_text(":".join(worker_id.split(":", 2)[:2]))
            static = (keys, name, [dumps_text(q) for q in queues])
            if len(self._static) > 4096:
                self._static.clear()
            self._static[(worker_id, queues)] = static
        return static

    def _reserve_command(self, step: _SlotStep, queues: tuple[str, ...], now: int) -> list[Any]:
        keys, name, names = self._reserve_static(step.worker_id, queues if step.take else ())
        done = step.done
        tracked = done and done[1] and (not done[0] or self._untracked.get(step.worker_id) != done[0])
        args = (
            "1" if done else "0",
            self._k.status(done[1]) if tracked else "",
            status_result_json(done[2]) if tracked else "null",
            now,
            step.run_at,
            name,
            self._status_prefix,
            self._status_suffix,
            "1" if step.take and names else "0",
            done[0] if done else "",
            step.token,
            step.worker_id,
            *(names if step.take else ()),
        )
        return ["EVALSHA", RESERVE.sha, len(keys), *keys, *args]

    def _fail_command(
        self, worker_id: str, record: FailureRecord | None, job_id: str | None, token: str, now: int
    ) -> list[Any]:
        k = self._k
        keys = (
            k.worker(worker_id),
            k.failed,
            k.stat("failed"),
            k.stat(f"failed:{worker_id}"),
            k.stat("processed"),
            k.stat(f"processed:{worker_id}"),
        )
        data = encode_failure(record) if record is not None else b""
        args = (data, k.status(job_id) if job_id else "", now, token)
        return ["EVALSHA", FAIL.sha, len(keys), *keys, *args]

    async def _scripts(self, commands: list[list[Any]]) -> list[Any]:
        replies = await self._hot.call(commands)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            await self._load()
            again = await self._hot.call([commands[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return _raise_errors(replies)

    async def step(self, steps: Sequence[Any], queues: Sequence[str]) -> list[StepResult]:
        """Every slot's step (``SlotStep`` of :mod:`pyresque.backends.aio.workers`) in one
        round trip (a FAIL and a RESERVE each at most); per slot (finished, failed, taken)."""
        now = int(time.time())
        qs = tuple(queues)
        commands: list[list[Any]] = []
        for s in steps:
            if s.fail is not None:
                commands.append(self._fail_command(s.worker_id, s.fail[1], s.fail[2], s.fail[0], now))
            commands.append(self._reserve_command(s, qs, now))
        replies = iter(await self._scripts(commands))
        results = []
        for s in steps:
            failed = bool(next(replies)) if s.fail is not None else None
            out = next(replies)
            finished = int(out[0])
            taken: Reservation | Held | None = None
            if len(out) >= 3:
                index, payload = int(out[1]), bytes(out[2])
                taken = Held(payload) if index < 0 else Reservation(qs[index - 1], payload, s.token)
                if len(out) > 3 and int(out[3]) == 0:
                    self._untracked[s.worker_id] = s.token
                else:
                    self._untracked.pop(s.worker_id, None)
            results.append((finished, failed, taken))
        return results

    async def fail(
        self, worker_id: str, record: FailureRecord | None, job_id: str | None, token: str
    ) -> bool:
        """Round trips: 1."""
        (written,) = await self._scripts(
            [self._fail_command(worker_id, record, job_id, token, int(time.time()))]
        )
        return bool(written)

    # -- registration, heartbeat, lease ----------------------------------------------
    async def register(self, worker_ids: Sequence[str], started: str) -> None:
        """SADD workers + SET started for every id, then a heartbeat. Round trips: 3."""
        if not worker_ids:
            return
        k = self._k
        mset: list[str] = []
        for worker_id in worker_ids:
            mset += [k.worker_started(worker_id), started]
        _raise_errors(await self._hot.call([("SADD", k.workers, *worker_ids), ("MSET", *mset)]))
        await self.heartbeat(worker_ids)

    async def registered(self, worker_ids: Sequence[str]) -> list[bool]:
        """SMISMEMBER. Round trips: 1."""
        if not worker_ids:
            return []
        (found,) = _raise_errors(await self._hot.call([("SMISMEMBER", self._k.workers, *worker_ids)]))
        return [bool(f) for f in found]

    async def heartbeat(self, worker_ids: Sequence[str]) -> float:
        """TIME, then one HSET of every id (Ruby's format). Round trips: 2."""
        ((seconds, micros),) = _raise_errors(await self._hot.call([("TIME",)]))
        now = float(seconds) + float(micros) / 1e6
        if worker_ids:
            beat = timefmt.heartbeat_time(now)
            fields: list[str] = []
            for worker_id in worker_ids:
                fields += [worker_id, beat]
            _raise_errors(await self._hot.call([("HSET", self._k.heartbeats, *fields)]))
        return now

    async def claim(self, worker_ids: Sequence[str], nonce: str, detail: str, ttl: float) -> list[str | None]:
        """One CLAIM script per id, in one round trip."""
        ms = max(1, int(ttl * 1000))
        commands = [("EVAL", CLAIM.source, 1, self._k.worker_lease(i), nonce, detail, ms) for i in worker_ids]
        replies = _raise_errors(await self._hot.call(commands)) if commands else []
        return [None if r is None else bytes(r).decode("utf-8", "replace") for r in replies]

    async def drop_lease(self, worker_id: str, expected: str) -> bool:
        """Round trips: 1."""
        return bool(await self._eval(DELETE_IF, (self._k.worker_lease(worker_id),), (expected,)))

    async def unregister(self, worker_id: str, nonce: str) -> bool:
        """Round trips: 1."""
        k = self._k
        keys = (
            k.workers,
            k.worker(worker_id),
            k.worker_started(worker_id),
            k.heartbeats,
            k.stat(f"processed:{worker_id}"),
            k.stat(f"failed:{worker_id}"),
            k.worker_lease(worker_id),
        )
        return bool(await self._eval(UNREGISTER, keys, (worker_id, nonce)))

    async def _eval(self, script: LuaScript, keys: Sequence[str], args: Sequence[Any]) -> Any:
        (reply,) = _raise_errors(await self._hot.call([("EVAL", script.source, len(keys), *keys, *args)]))
        return reply

    async def held(self, worker_id: str) -> bytes | None:
        """Round trips: 1."""
        (raw,) = _raise_errors(await self._hot.call([("GET", self._k.worker(worker_id))]))
        return None if raw is None else bytes(raw)

    async def paused_all(self) -> bool:
        """Round trips: 1."""
        (value,) = _raise_errors(await self._hot.call([("GET", self._k.pause_all)]))
        return value is not None and bytes(value).strip().lower() == b"true"

    # -- idle ------------------------------------------------------------------------
    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """One queue: ``BLMOVE q q LEFT LEFT`` (takes nothing) on the wait connection, at
        most ``BLOCK_SOCKET_TIMEOUT - 1`` seconds. Several: the sync worker's tracking
        wait (:mod:`~pyresque.backends.redis.worker_wait`) on a thread of its own."""
        timeout = min(timeout, BLOCK_SOCKET_TIMEOUT - 1.0)
        if timeout <= 0 or not queues:
            await asyncio.sleep(max(0.0, min(timeout, 0.05)))
            return
        keys = [self._k.queue(q) for q in queues]
        if len(keys) == 1:
            _raise_errors(
                await self._block.call([("BLMOVE", keys[0], keys[0], "LEFT", "LEFT", round(timeout, 3))])
            )
            return
        if self._waiter is None:
            self._waiter = QueueWaiter(self._sync)
            self._wait_thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pyresque-wait")
        waiter, also = self._waiter, (self._k.queues,)
        await asyncio.get_running_loop().run_in_executor(self._wait_thread, waiter.wait, keys, timeout, also)

    async def close(self) -> None:
        """Drop this registry's connections (and its wait thread)."""
        await self._hot.close()
        await self._block.close()
        if self._wait_thread is not None:
            self._wait_thread.shutdown(wait=False)
        if self._waiter is not None:
            self._waiter.reset()
