"""The project's fixtures: its app on a fresh fakeredis, and a push client per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import notify
import pytest
import pytest_asyncio

from pyresque import Resque
from pyresque.testing import fake_backend


@pytest.fixture
def app() -> Iterator[Resque]:
    """notify.app on a fresh fakeredis (jobs stay registered)."""
    with fake_backend(notify.app) as app:
        yield app


@pytest_asyncio.fixture
async def push_client(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[notify.PushClient]:
    """A client made on the test's event loop (as an httpx.AsyncClient would be)."""
    client = notify.PushClient()
    monkeypatch.setattr(notify, "client", client)
    yield client
    await client.aclose()
