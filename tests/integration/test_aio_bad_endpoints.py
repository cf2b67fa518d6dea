"""Bad endpoints through the async client: the sync client's exceptions and one plain
line naming the server (never the password), on real servers: nobody listening, a
redis-server with ``requirepass``, a database the server lacks, a listener that
answers like an HTTP server; each for an enqueue, a read and ``ping``."""

from __future__ import annotations

import pytest

from pyresque import AsyncResque, BackendConnectionError, BackendError
from tests.endpoints import PASSWORD
from tests.redis_server import RedisServer, free_port

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]





async def _errors(url: str) -> list[BaseException]:
    """What an enqueue, a read and a ping raise on ``url``."""
    raised: list[BaseException] = []
    async with AsyncResque(url) as app:
        for call in (lambda: app.enqueue("q", "Foo::Bar", 1), lambda: app.size("q"), app.ping):
            with pytest.raises(BackendError) as caught:
                await call()
            raised.append(caught.value)
    return raised


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and PASSWORD not in text
    return text


async def test_nobody_listening_is_a_connection_error() -> None:
    port = free_port()
    for exc in await _errors(f"redis://127.0.0.1:{port}/0"):
        assert isinstance(exc, BackendConnectionError)
        assert f"127.0.0.1:{port}" in _one_line(exc)


async def test_a_refused_password_is_permanent_and_named(auth_server: RedisServer) -> None:
    for url in (f"redis://127.0.0.1:{auth_server.port}/0", f"redis://:wrong-{PASSWORD}@127.0.0.1:{auth_server.port}/0"):
        for exc in await _errors(url):
            assert not isinstance(exc, BackendConnectionError)  # not worth retrying
            assert "authentication failed" in _one_line(exc)
    async with AsyncResque(f"redis://:{PASSWORD}@127.0.0.1:{auth_server.port}/0") as app:
        await app.enqueue("q", "Foo::Bar", 1)
        assert await app.size("q") == 1


async def test_a_missing_database_is_named(redis_url: str) -> None:
    for exc in await _errors(redis_url.rsplit("/", 1)[0] + "/99"):
        assert not isinstance(exc, BackendConnectionError)
        assert "no such database" in _one_line(exc)


async def test_a_server_that_is_not_redis(http_port: int) -> None:
    for exc in await _errors(f"redis://127.0.0.1:{http_port}/0"):
        text = _one_line(exc)
        assert "does not speak the Redis protocol" in text or isinstance(exc, BackendConnectionError), text
