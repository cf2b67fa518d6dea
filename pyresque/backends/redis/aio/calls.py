"""Sending writes to Redis from asyncio exactly once: one command, a script, a pipeline.

The async twins of :func:`~pyresque.backends.redis.spin.call_spinning`,
:class:`~pyresque.backends.redis.scripts.LuaScript`'s call and
:func:`~pyresque.backends.redis.broker.send_once`, with the same rule: a failure while
*sending* on a pooled connection (gone stale while idle) is retried once on a fresh
one, since the server never received it; a failure while *reading* the reply is never
retried, since the command may have run (an enqueue run twice duplicates the job).
A task cancelled while it waits for a reply drops the connection (its reply is still
on the way), and the command may have run, as after a lost reply.

Clients other than ``redis.asyncio.Redis`` itself (fakeredis's ``FakeAsyncRedis``)
go through their ordinary ``execute_command`` and pipeline: nothing there loses a reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from redis.exceptions import NoScriptError

from pyresque.backends.redis.scripts import ArgT, KeyT, LuaScript

__all__ = ["call_once", "run_script", "send_once"]


async def _connection(client: redis.asyncio.Redis) -> Any:
    pool = client.connection_pool
    try:
        return await pool.get_connection()  # type: ignore[no-untyped-call]
    except TypeError:  # redis-py < 5.3 wants a command name
        return await pool.get_connection("EVALSHA")  # type: ignore[no-untyped-call]  # pragma: no cover - depends on redis-py


def _direct(client: Any) -> bool:
    return type(client) is redis.asyncio.Redis


async def call_once(client: redis.asyncio.Redis, *command: Any) -> Any:
    """Send one command and read its raw reply (no response callback), never resending
    it after it may have reached the server. Error replies raise as redis-py raises them.
    """
    if not _direct(client):
        return await client.execute_command(*command)  # type: ignore[no-untyped-call]
    pool = client.connection_pool
    for attempt in (0, 1):
        conn = await _connection(client)
        sent = False
        try:
            await conn.send_command(*command)
            sent = True
            return await conn.read_response()
        except redis.ResponseError:
            raise  # an error reply: the connection itself is fine
        except (redis.ConnectionError, redis.TimeoutError):
            await conn.disconnect(nowait=True)
            if sent or attempt:
                raise
        except BaseException:
            await conn.disconnect(nowait=True)  # cancelled mid-reply ...: start afresh
            raise
        finally:
            await pool.release(conn)
    raise AssertionError("unreachable")  # pragma: no cover


async def run_script(
    client: redis.asyncio.Redis, script: LuaScript, keys: Sequence[KeyT], args: Sequence[ArgT]
) -> Any:
    """Run one of the sync backend's scripts (the same object: one set of scripts):
    EVALSHA, then EVAL when the server does not have it yet. One round trip."""
    try:
        return await call_once(client, "EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await call_once(client, "EVAL", script.source, len(keys), *keys, *args)


async def send_once(client: redis.asyncio.Redis, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Send ``commands`` pipelined in one round trip, exactly once; their raw replies
    (the first error reply is raised after every reply was read)."""
    if not commands:
        return []
    if not _direct(client):
        pipe = client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())
    pool = client.connection_pool
    conn = await _connection(client)
    try:
        await conn.send_packed_command(conn.pack_commands(commands))
        replies: list[Any] = []
        error: redis.ResponseError | None = None
        for _ in commands:
            try:
                replies.append(await conn.read_response())
            except redis.ResponseError as exc:
                replies.append(exc)
                error = error or exc
    except BaseException:
        await conn.disconnect(nowait=True)  # a lost reply, a cancel mid-read ...: start afresh
        raise
    finally:
        await pool.release(conn)
    if error is not None:
        raise error
    return replies
