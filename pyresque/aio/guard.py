"""Errors and retries of the async client: :class:`Guard` turns the backend's failures
into pyresque's errors; :func:`retry_on` repeats a guarded enqueue after a connection
error, with the sync client's backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from pyresque.core.errors import BackendError
from pyresque.core.idempotency import RETRY_BACKOFF

if TYPE_CHECKING:
    from pyresque.aio.app import AsyncResque

__all__ = ["Guard", "retry_on"]

T = TypeVar("T")


class Guard:
    """``async with app.connection_guard():`` the backend's connection errors as
    :class:`BackendConnectionError`, and failures retrying cannot mend (a refused
    password, a missing database, a server that is not Redis, whenever they show)
    as a one-line :class:`BackendError`; other exceptions pass."""

    __slots__ = ("_app",)

    def __init__(self, app: AsyncResque) -> None:
        self._app = app

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, BackendError):
            return
        translated = self._app.backend_error(exc)
        if translated is not None:
            raise translated from exc


async def retry_on(
    errors: tuple[type[BaseException], ...], retries: int, attempt: Callable[[], Awaitable[T]]
) -> T:
    """:func:`pyresque.core.idempotency.retry_on`, awaited (same backoff)."""
    for n in range(retries + 1):
        try:
            return await attempt()
        except errors:
            if n == retries:
                raise
        await asyncio.sleep(RETRY_BACKOFF[min(n, len(RETRY_BACKOFF) - 1)])
    raise AssertionError("unreachable")  # pragma: no cover
