"""A handle on one tracked job's php-resque status: read it, wait for it, report progress.

``app.tracked(job_id)`` gives a :class:`TrackedJob`; inside a running job,
``app.tracked()`` is the running job's own (its id comes from
:func:`pyresque.current_job`). See docs/status.md.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from pyresque.core.context import current_job
from pyresque.core.errors import ConfigurationError, WaitTimeout
from pyresque.core.status import JobStatus, StatusInfo

if TYPE_CHECKING:
    from pyresque.backends.base import StatusStore

__all__ = ["MAX_MESSAGE", "TrackedJob", "tracked"]

#: Longest progress message kept (characters); a longer one is cut.
MAX_MESSAGE = 1000


class TrackedJob:
    """The status of a job enqueued with ``track_status=True``.

    ``get()`` reads the whole record (status, updated, started, result, progress);
    ``status`` is the state alone; ``wait(timeout)`` blocks until the job finished;
    ``set_progress()`` reports a running job's progress; ``stop()`` stops tracking
    (php-resque's ``Status::stop``).
    """

    def __init__(
        self,
        store: StatusStore,
        job_id: str,
        guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
    ) -> None:
        self._store = store
        self._guard = guard
        self.id = job_id

    def get(self) -> StatusInfo | None:
        """The full status record, or ``None`` if untracked or expired. One round trip."""
        return self._store.get(self.id)

    @property
    def status(self) -> JobStatus | None:
        """The state alone (``JobStatus.COMPLETE`` ...), or ``None``."""
        info = self._store.get(self.id)
        return info.status if info is not None else None

    @property
    def is_tracking(self) -> bool:
        """Whether a status exists for this job."""
        return self._store.get(self.id) is not None

    def wait(self, timeout: float) -> StatusInfo | None:
        """Block until the job finished (COMPLETE or FAILED) and return that status,
        whose ``result`` is what ``perform`` returned.

        Blocks on Redis (woken by the worker's final status write), not in a sleep
        loop; any number of waiters on one job all wake. Returns at once if the job
        already finished. ``None``: the job is not tracked (never was, its status
        expired 24 h after it finished, or it was removed).

        Raises:
            WaitTimeout: not finished within ``timeout`` seconds (``.last`` holds the
                status then; a ``TimeoutError``).
            ConfigurationError: ``timeout`` is negative or not a finite number.
            BackendConnectionError: the backend cannot be reached.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout):
            raise ConfigurationError(f"timeout must be a finite number of seconds: {timeout!r}")
        if timeout < 0:
            raise ConfigurationError(f"timeout must not be negative: {timeout!r}")
        with self._guard():
            info = self._store.wait(self.id, float(timeout))
        if info is not None and not info.status.finished:
            raise WaitTimeout(
                f"job {self.id} did not finish within {timeout:g} s (it is {info.status.name})",
                self.id,
                info,
            )
        return info

    def set_progress(
        self, num: float | None = None, total: float | None = None, message: str | None = None
    ) -> bool:
        """Report the running job's progress: ``num`` of ``total`` done, and a message
        (resque-status's names; ``get()`` shows them, ``percent`` too). One round trip.

        Returns whether it was written: only while the job is tracked and RUNNING (a
        finished status is never overwritten). Each call replaces the previous progress.

        Raises:
            ConfigurationError: ``num``/``total`` not finite numbers, or ``message`` not a
                string (a message longer than :data:`MAX_MESSAGE` characters is cut).
        """
        for name, value in (("num", num), ("total", total)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise ConfigurationError(f"progress {name} must be a finite number: {value!r:.80}")
        if message is not None and not isinstance(message, str):
            raise ConfigurationError(f"progress message must be a string, not {type(message).__name__}")
        text = message[:MAX_MESSAGE] if message else message
        with self._guard():
            return self._store.set_progress(self.id, num, total, text)

    def stop(self) -> bool:
        """Stop tracking (delete the status). Returns whether it was tracked."""
        return self._store.remove(self.id)

    remove = stop

    def __repr__(self) -> str:
        return f"TrackedJob({self.id!r})"


def tracked(
    store: StatusStore,
    job_id: str | None = None,
    guard: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> TrackedJob:
    """A :class:`TrackedJob` on ``store``; without ``job_id``, the running job's own
    (its id from :func:`pyresque.current_job`: ``app.tracked().set_progress(...)``
    inside ``perform``). ``guard`` wraps waits and progress writes (the app's
    ``connection_guard``: backend errors become :class:`BackendConnectionError`).

    Raises:
        ConfigurationError: no ``job_id`` and no job with an id runs in this context
            (outside a job, or a Ruby-form job, which has no id).
    """
    if job_id is None:
        running = current_job()
        if running is None or not running.id:
            raise ConfigurationError(
                "tracked() without a job id works only inside a running job that has an id"
            )
        job_id = running.id
    return TrackedJob(store, job_id, guard)
