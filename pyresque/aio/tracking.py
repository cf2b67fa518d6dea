"""A handle on one tracked job's php-resque status, awaited (:class:`AsyncTrackedJob`):
:class:`~pyresque.TrackedJob`'s methods (read, wait, report progress, stop) with the
same arguments, results and exceptions, on the async status store."""

from __future__ import annotations

import math
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from pyresque.core.context import current_job
from pyresque.core.errors import ConfigurationError, WaitTimeout
from pyresque.core.status import JobStatus, StatusInfo
from pyresque.core.tracking import MAX_MESSAGE

if TYPE_CHECKING:
    from pyresque.backends.aio.base import AsyncStatusStore

__all__ = ["AsyncTrackedJob", "running_job_id"]


def running_job_id(job_id: str | None) -> str:
    """``job_id``, or the id of the job running in this context (``tracked()`` inside a job).

    Raises:
        ConfigurationError: no ``job_id`` and no job with an id runs in this context.
    """
    if job_id is not None:
        return job_id
    running = current_job()
    if running is None or not running.id:
        raise ConfigurationError("tracked() without a job id works only inside a running job that has an id")
    return running.id


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number: {value!r:.80}")
    return float(value)


class AsyncTrackedJob:
    """The status of a job enqueued with ``track_status=True``, awaited:
    ``await get()`` (the whole record), ``await status()``, ``await wait(timeout)``,
    ``await set_progress(...)``, ``await stop()``."""

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
        """Wait until the job finished (COMPLETE or FAILED) and return that status, as
        :meth:`TrackedJob.wait <pyresque.TrackedJob.wait>`: on Redis (woken by the
        worker's final status write), never blocking the event loop; at once if it
        already finished; ``None`` if the job is not tracked. Cancelling it is safe.

        Raises:
            WaitTimeout: not finished within ``timeout`` seconds (``.last``: the status then).
            ConfigurationError: ``timeout`` is negative or not a finite number.
            BackendConnectionError: the backend cannot be reached.
        """
        seconds = _finite("timeout", timeout)
        if seconds < 0:
            raise ConfigurationError(f"timeout must not be negative: {timeout!r}")
        async with self._guard:
            info = await self._store.wait(self.id, seconds)
        if info is not None and not info.status.finished:
            raise WaitTimeout(
                f"job {self.id} did not finish within {seconds:g} s (it is {info.status.name})", self.id, info
            )
        return info

    async def set_progress(
        self, num: float | None = None, total: float | None = None, message: str | None = None
    ) -> bool:
        """Report the running job's progress (resque-status's ``num``, ``total``,
        ``message``); whether it was written (only while tracked and RUNNING).

        Raises:
            ConfigurationError: ``num``/``total`` not finite numbers, or ``message`` not a string.
        """
        for name, value in (("progress num", num), ("progress total", total)):
            if value is not None:
                _finite(name, value)
        if message is not None and not isinstance(message, str):
            raise ConfigurationError(f"progress message must be a string, not {type(message).__name__}")
        text = message[:MAX_MESSAGE] if message else message
        async with self._guard:
            return await self._store.set_progress(self.id, num, total, text)

    async def stop(self) -> bool:
        """Stop tracking (delete the status). Returns whether it was tracked."""
        async with self._guard:
            return await self._store.remove(self.id)

    remove = stop

    def __repr__(self) -> str:
        return f"AsyncTrackedJob({self.id!r})"
