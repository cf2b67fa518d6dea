"""The running job, as a context variable: :func:`current_job`.

While a job runs (in any worker mode, in the test kit's ``drain``/``inline``, sync or
``async def``), ``pyresque.current_job()`` returns a :class:`JobContext` for it: its id,
queue, class name, arguments, the app and the worker's id. Outside a job it returns
``None``.

It is a :mod:`contextvars` variable, so it follows the job where Python carries a
context: into tasks an async job creates (``asyncio.create_task``, ``gather``) and into
``asyncio.to_thread``; not into a plain ``threading.Thread`` the job starts (copy it with
``contextvars.copy_context().run``). Jobs running at the same time in one process (the
async worker's tasks, a thread pool's threads) each see their own.

Where to start: :func:`current_job` for readers; runtimes set it with :func:`entered`
(a context manager) or the pair :func:`enter` / :func:`leave` on their hot path.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pyresque.core.job import Job

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["JobContext", "current_job", "enter", "entered", "leave"]


class JobContext:
    """The job running in this context (read-only; each :func:`current_job` call makes
    one, equal to the others of the same run).

    Attributes:
        job: the :class:`~pyresque.core.job.Job` as the worker decoded it.
        app: the :class:`~pyresque.Resque` app running it.
        worker_id: the id of the worker running it (``host:pid:queues``).
    """

    __slots__ = ("app", "job", "worker_id")

    job: Job
    app: Resque
    worker_id: str

    def __init__(self, job: Job, app: Resque, worker_id: str) -> None:
        object.__setattr__(self, "job", job)
        object.__setattr__(self, "app", app)
        object.__setattr__(self, "worker_id", worker_id)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"JobContext is read-only (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"JobContext is read-only (cannot delete {name!r})")

    @property
    def id(self) -> str | None:
        """The job id (``None`` for a Ruby-form payload, which carries none)."""
        return self.job.id

    @property
    def queue(self) -> str:
        """The queue the job was taken from."""
        return self.job.queue

    @property
    def class_name(self) -> str:
        """The job's class name, as in its payload."""
        return self.job.class_name

    @property
    def args(self) -> list[Any]:
        """The job's arguments, as decoded."""
        return list(self.job.args)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobContext):
            return NotImplemented
        return (self.job, self.app, self.worker_id) == (other.job, other.app, other.worker_id)

    def __hash__(self) -> int:
        return hash((self.job.id, self.worker_id))

    def __repr__(self) -> str:
        return f"JobContext(class_name={self.class_name!r}, id={self.id!r}, queue={self.queue!r})"


#: What is set per job: ``(job, app, worker_id)``; :func:`current_job` wraps it (the
#: hot path pays for a tuple, not for the object).
_Current = tuple[Job, "Resque", str]
_current: contextvars.ContextVar[_Current | None] = contextvars.ContextVar(
    "pyresque_current_job", default=None
)


def current_job() -> JobContext | None:
    """The job running in this context, or ``None`` outside a job.

    Example (inside a job)::

        info = pyresque.current_job()
        if info is not None:
            log.info("running %s id=%s from %s", info.class_name, info.id, info.queue)
    """
    found = _current.get()
    return None if found is None else JobContext(*found)


def enter(job: Job, app: Resque, worker_id: str) -> contextvars.Token[_Current | None]:
    """Make ``job`` the current job in this context; hand the token to :func:`leave`."""
    return _current.set((job, app, worker_id))


def leave(token: contextvars.Token[_Current | None]) -> None:
    """Undo the :func:`enter` that returned ``token``."""
    _current.reset(token)


@contextmanager
def entered(job: Job, app: Resque, worker_id: str) -> Iterator[JobContext]:
    """``job`` is the current job within the block (which receives its :class:`JobContext`)."""
    token = enter(job, app, worker_id)
    try:
        yield JobContext(job, app, worker_id)
    finally:
        leave(token)
