"""A handle on one tracked job's php-resque status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyresque.core.status import JobStatus, StatusInfo

if TYPE_CHECKING:
    from pyresque.backends.base import StatusStore

__all__ = ["TrackedJob"]


class TrackedJob:
    """The status of a job enqueued with ``track_status=True``.

    ``get()`` reads the whole record (status, updated, started, result); ``status``
    is the state alone; ``stop()`` stops tracking (php-resque's ``Status::stop``).
    """

    def __init__(self, store: StatusStore, job_id: str) -> None:
        self._store = store
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

    def stop(self) -> bool:
        """Stop tracking (delete the status). Returns whether it was tracked."""
        return self._store.remove(self.id)

    remove = stop

    def __repr__(self) -> str:
        return f"TrackedJob({self.id!r})"
