"""Lost replies through the async client, on a real redis-server: a connection class
reads a script's reply, then drops the connection and raises as if it never came (the
server ran the push). An unguarded enqueue is never resent (one job, an error); a
guarded one with ``retries`` is repeated safely (one job, the first call's id)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import redis
import redis.asyncio

from pyresque import AsyncResque, BackendConnectionError, EnqueueRequest
from pyresque.backends.redis.aio import AsyncRedisBackend

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]


def lossy_backend(url: str, rate: float, needle: bytes = b"EVAL") -> tuple[AsyncRedisBackend, list[int]]:
    """An async backend whose connections lose the reply of a request holding ``needle``
    with probability ``rate``; the list counts the replies lost."""
    lost = [0]
    rng = random.Random(0)

    class LostReply(redis.asyncio.Connection):
        lose_next = False

        async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            data = command if isinstance(command, bytes) else b"".join(bytes(c) for c in command)
            self.lose_next = needle in data and rng.random() < rate
            await super().send_packed_command(command, check_health)

        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            reply = await super().read_response(*args, **kwargs)
            if self.lose_next:
                self.lose_next = False
                lost[0] += 1
                await self.disconnect()
                raise redis.ConnectionError("reply lost (test)")
            return reply

    pool = redis.asyncio.BlockingConnectionPool.from_url(url, connection_class=LostReply)
    return AsyncRedisBackend(redis.asyncio.Redis.from_pool(pool)), lost


async def test_an_unguarded_enqueue_is_never_resent(redis_url: str) -> None:
    backend, lost = lossy_backend(redis_url, rate=1.0)
    async with AsyncResque(backend) as app:
        await app.backend.ping()
        with pytest.raises(BackendConnectionError):
            await app.enqueue("q", "Foo::Bar", 1)
        assert lost == [1]
    check = redis.Redis.from_url(redis_url)
    assert check.llen("resque:queue:q") == 1  # it ran once, and was not sent again
    check.close()


async def test_guarded_enqueues_with_retries_land_exactly_once(redis_url: str) -> None:
    backend, lost = lossy_backend(redis_url, rate=0.2)
    async with AsyncResque(backend) as app:
        ids = [await app.enqueue("q", "Foo::Bar", n, idempotency_key=f"k-{n}", retries=8) for n in range(200)]
        batches = [
            await app.enqueue_many(
                [EnqueueRequest("many", "Foo::Bar", (b, n), idempotency_key=f"m-{b}-{n}") for n in range(20)],
                retries=8,
            )
            for b in range(10)
        ]
    assert lost[0] > 10
    check = redis.Redis.from_url(redis_url)
    queued = {
        q: [json.loads(raw)["id"] for raw in check.lrange(f"resque:queue:{q}", 0, -1)] for q in ("q", "many")
    }
    check.close()
    assert sorted(queued["q"]) == sorted(ids) and len(set(ids)) == 200
    batch_ids = [i for batch in batches for i in batch]
    assert sorted(queued["many"]) == sorted(batch_ids) and len(set(batch_ids)) == 200
