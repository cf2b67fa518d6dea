"""A small application with ``async def`` jobs: what the async example tests exercise."""

from __future__ import annotations

import asyncio
from typing import Any

from pyresque import Resque, current_job

# Nothing connects at import time: the tests point this app at fakeredis.
app = Resque("redis://localhost:6379/0", namespace="notify")


class PushClient:
    """Stands in for an async HTTP client (``httpx.AsyncClient``, ``aiohttp``)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def send(self, user_id: int, text: str) -> None:
        await asyncio.sleep(0)  # the network
        self.sent.append({"user": user_id, "text": text})

    async def aclose(self) -> None:
        self.closed = True


#: The client the jobs use; tests replace it with one made on their own loop.
client = PushClient()


@app.job(name="Notify::Push")
async def push(user_id: int, text: str) -> str:
    """Sends one push notification; returns the job id it ran under."""
    await client.send(user_id, text)
    info = current_job()
    return info.id or "" if info is not None else ""


@app.job(name="Notify::Digest")
class Digest:
    """Sends a digest with a client of its own, opened and closed around the job."""

    async def set_up(self) -> None:
        self.client = PushClient()

    async def perform(self, user_ids: list[int]) -> int:
        await asyncio.gather(*(self.client.send(u, "your digest") for u in user_ids))
        return len(self.client.sent)

    async def tear_down(self) -> None:
        await self.client.aclose()


def announce(user_ids: list[int], text: str) -> None:
    """The code under test: one push per user, sent in the background."""
    for user_id in user_ids:
        app.enqueue("push", push, user_id, text)
