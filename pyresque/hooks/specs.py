"""Hook specifications: every event pyresque emits, with when and where it runs.

Implement any of these in a plugin with ``@pyresque.hookimpl``; an implementation may
take any subset of the arguments. Unless a spec says otherwise, an exception raised by
a hook propagates to the operation that called it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyresque.hooks import hookspec

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job


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
