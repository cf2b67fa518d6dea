"""A handle on one tracked job's php-resque status, awaited (:class:`AsyncTrackedJob`)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from pyresque.core.status import JobStatus, StatusInfo

if TYPE_CHECKING:
    from pyresque.backends.aio.base import AsyncStatusStore

__all__ = ["AsyncTrackedJob"]


class AsyncTrackedJob:
    """The status of a job enqueued with ``track_status=True``, as
    :class:`~pyresque.TrackedJob` with ``await``: ``await get()`` (the whole record),
    ``await status()``, ``await wait(timeout)``, ``await stop()``."""

    def __init__(
        self, store: AsyncStatusStore, job_id: str, guard: AbstractAsyncContextManager[None]
    ) -> None:
        self._store = store
        self._guard = guard
        self.id = job_id

    async def get(self) -> StatusInfo | None:
        """The full status record, or ``None`` if untracked or expired. One round trip."""
        async with self._guard:
            return await self._store.get(self.id)

    async def status(self) -> JobStatus | None:
        """The state alone (``JobStatus.COMPLETE`` ...), or ``None``. One round trip."""
        info = await self.get()
        return info.status if info is not None else None

    async def is_tracking(self) -> bool:
        """Whether a status exists for this job. One round trip."""
        return await self.get() is not None

    async def wait(self, timeout: float) -> StatusInfo | None:
        """Wait until the job's status is final (complete, failed, stopped) or
        ``timeout`` seconds passed; the status then (final, not yet final, or ``None``:
        not tracked). Never blocks the event loop; cancelling the wait is safe (it
        writes nothing)."""
        async with self._guard:
            return await self._store.wait(self.id, timeout)

    async def stop(self) -> bool:
        """Stop tracking (delete the status). Returns whether it was tracked."""
        async with self._guard:
            return await self._store.remove(self.id)

    remove = stop

    def __repr__(self) -> str:
        return f"AsyncTrackedJob({self.id!r})"
