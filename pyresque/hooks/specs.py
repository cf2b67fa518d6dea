"""Hook specifications: every event pyresque emits, with when and where it runs.

Implement any of these in a plugin with ``@pyresque.hookimpl``; an implementation may
take any subset of the arguments. Unless a spec says otherwise, an exception raised by
a hook propagates to the operation that called it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.hooks import hookspec

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker


@hookspec
def pyresque_before_enqueue(app: Resque, job: Job) -> None:
    """Before a job is written (client process).

    Raise :class:`pyresque.DontEnqueue` to veto it: nothing is written and
    ``enqueue`` raises ``DontEnqueue`` to its caller. Any other exception also
    propagates and nothing is written.
    """


@hookspec
def pyresque_after_enqueue(app: Resque, job: Job) -> None:
    """After a job was written (client process). Exceptions propagate to the caller;
    the job stays enqueued."""


@hookspec
def pyresque_before_dequeue(app: Resque, queue: str, job: Job) -> None:
    """Before a job is removed from a queue by ``dequeue`` (client process).

    Raise :class:`pyresque.DontEnqueue` to keep that job in the queue.
    """


@hookspec
def pyresque_after_dequeue(app: Resque, queue: str, job: Job) -> None:
    """After a job was removed from a queue by ``dequeue`` (client process)."""


# --- worker lifecycle ---------------------------------------------------------------
@hookspec
def pyresque_before_first_fork(worker: Worker) -> None:
    """Once per worker, before it reserves its first job (worker process).

    php-resque ``beforeFirstFork``, Ruby ``before_first_fork``. Exceptions propagate
    and stop the worker before it takes any job.
    """


@hookspec
def pyresque_before_fork(worker: Worker, job: Job) -> None:
    """In the worker (parent) process, before it forks a child for ``job``.

    Runs in every execution mode (in-process too, just before the job). Exceptions
    are logged and fail the job; the worker keeps working.
    """


@hookspec
def pyresque_after_fork(worker: Worker, job: Job) -> None:
    """In the child process, right after the fork, before ``before_perform``.

    Runs only in forking modes. Exceptions fail the job.
    """


@hookspec
def pyresque_before_perform(worker: Worker, job: Job) -> None:
    """In the process that performs the job, before ``set_up``/``perform``.

    Raise :class:`pyresque.DontPerform` to skip the job: it is not performed, not
    failed, and counts as processed. Any other exception fails the job.
    """


@hookspec(firstresult=True)
def pyresque_perform(worker: Worker, job: Job, runner: Callable[[], Any]) -> Any:
    """Performs the job; ``runner()`` runs ``set_up``, ``perform`` and ``tear_down``.

    The built-in implementation (``trylast``) returns ``runner()``. Implement it as a
    pluggy wrapper (``@hookimpl(wrapper=True)``, a generator that ``yield``s) to run
    code around the job: Ruby's ``around_perform``. Exceptions fail the job.
    """


@hookspec
def pyresque_after_perform(worker: Worker, job: Job, result: Any) -> None:
    """After the job succeeded, in the process that performed it.

    Not called when the job failed or was skipped. Exceptions fail the job (its
    status and stats are written after this hook).
    """


@hookspec
def pyresque_on_failure(worker: Worker, job: Job, exception: BaseException) -> bool | None:
    """After the job failed, before the failure record is written.

    Runs in the process that performed the job, or in the worker for failures it
    detects itself (dirty exit, timeout, pruned worker). Return ``True`` to say the
    failure was handled (the retry plugin re-scheduled the job): the worker then
    counts it as failed but writes no failure record. Exceptions are logged and
    ignored: the failure is recorded regardless.
    """


@hookspec
def pyresque_queue_empty(worker: Worker) -> None:
    """When a polling pass found every queue empty (worker process). Exceptions are
    logged and ignored."""


@hookspec
def pyresque_before_pause(worker: Worker) -> None:
    """When the worker is paused (USR2), before it stops reserving. Exceptions are
    logged and ignored."""


@hookspec
def pyresque_after_pause(worker: Worker) -> None:
    """When the worker resumes (CONT) after a pause. Exceptions are logged and ignored."""


@hookspec
def pyresque_shutdown(worker: Worker) -> None:
    """When the worker is told to shut down (QUIT/TERM/INT), before it stops.
    Exceptions are logged and ignored."""


@hookspec
def pyresque_worker_exit(worker: Worker) -> None:
    """As the worker unregisters and exits. Exceptions are logged and ignored."""


# --- scheduler ----------------------------------------------------------------------
@hookspec
def pyresque_after_schedule(app: Resque, timestamp: int, job: Job) -> None:
    """After a delayed job was written for ``timestamp`` (client process).

    php-resque-scheduler ``afterSchedule``. Exceptions propagate to the caller.
    """


@hookspec
def pyresque_before_delayed_enqueue(app: Resque, job: Job) -> None:
    """In the scheduler, before a due delayed job is pushed to its queue.

    php-resque-scheduler ``beforeDelayedEnqueue``. Exceptions are logged; the job
    is enqueued regardless (a delayed job is never lost to a hook).
    """
