"""Removing chosen jobs from a queue, safely while workers pop from it.

php-resque drains the queue into temporary lists and pushes survivors back, so
workers see an empty queue meanwhile and a crash strands jobs. pyresque reads the
queue once, picks the exact payloads to remove, and removes each with one LREM:
a job a worker pops first is simply not removed (and not counted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pyresque.core.errors import DecodeError, DontEnqueue, InvalidJobError
from pyresque.core.job import Job

if TYPE_CHECKING:
    from pyresque.core.app import Resque

__all__ = ["JobMatch", "dequeue_matching", "stored_args"]


@dataclasses.dataclass(frozen=True, slots=True)
class JobMatch:
    """Which jobs to remove: a class, optionally with exact args or an id.

    Attributes:
        class_name: the job's class string.
        args: remove only jobs with exactly these args (``None``: any args).
        id: remove only the job with this id (``None``: any id).
    """

    class_name: str
    args: list[Any] | None = None
    id: str | None = None

    def matches(self, job: Job) -> bool:
        """Whether ``job`` is one to remove."""
        if job.class_name != self.class_name:
            return False
        if self.id is not None and job.id != self.id:
            return False
        return self.args is None or list(job.args) == self.args


def stored_args(app: Resque, queue: str, job: Any, args: Sequence[Any]) -> list[Any]:
    """``args`` as a worker reads them back once ``app.enqueue(queue, job, *args)`` wrote
    them: through the app's serializer and back, exactly as enqueue encodes (a tuple
    becomes a list, a dict's int keys become strings under JSON ...), so that matching
    the stored jobs against them finds what enqueue wrote. No I/O.

    Raises:
        EncodeError: an argument cannot be serialized (so no job could hold it).
    """
    built = app.build_job(queue, job, tuple(args))
    return list(app.decode(app.encode(built), queue).args)


def choose(
    app: Any, hook_app: Resque, queue: str, raws: Sequence[bytes], wanted: Sequence[JobMatch]
) -> list[tuple[bytes, Job]]:
    """The entries of ``raws`` (a queue's payloads, as read) to remove: those that decode,
    that one of ``wanted`` selects, and that no ``before_dequeue`` hook keeps (by raising
    ``DontEnqueue``; the hooks get ``hook_app``). The step both clients share; no I/O.
    ``app`` is a :class:`Resque` or an ``AsyncResque`` (its ``decode`` and ``hooks``)."""
    hooks = app.hooks
    before = hooks.has("pyresque_before_dequeue")
    chosen: list[tuple[bytes, Job]] = []
    for raw in raws:
        try:
            job = app.decode(raw, queue)
        except (DecodeError, InvalidJobError):
            continue
        if not any(m.matches(job) for m in wanted):
            continue
        if before:
            try:
                hooks.before_dequeue(hook_app, queue, job)
            except DontEnqueue:
                continue
        chosen.append((raw, job))
    return chosen


def dequeue_matching(app: Resque, queue: str, matches: Iterable[JobMatch]) -> int:
    """Remove every job of ``queue`` that any of ``matches`` selects; returns how many.

    Round trips: 2 (LRANGE, then pipelined LREMs). ``before_dequeue`` hooks may keep
    a job by raising ``DontEnqueue``; ``after_dequeue`` runs for each removed job.
    """
    wanted = list(matches)
    if not wanted:
        return 0
    hooks = app.hooks
    with app.connection_guard():
        raws = app.backend.broker.peek(queue, 0, -1)
    chosen = choose(app, app, queue, raws, wanted)
    if not chosen:
        return 0
    with app.connection_guard():
        removed = app.backend.broker.remove_values(queue, [raw for raw, _ in chosen])
    if hooks.has("pyresque_after_dequeue"):
        for (_, job), gone in zip(chosen, removed, strict=True):
            if gone:
                hooks.after_dequeue(app, queue, job)
    return sum(removed)
