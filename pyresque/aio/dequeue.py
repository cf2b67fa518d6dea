"""Removing chosen jobs from a queue from asyncio, as :mod:`pyresque.core.dequeue`
does: read the queue once, pick the exact payloads, remove each with one LREM (a job a
worker pops first is simply not removed, nor counted). Hooks as there: the choice is
:func:`pyresque.core.dequeue.choose`, shared."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from pyresque.core.dequeue import JobMatch, choose

if TYPE_CHECKING:
    from pyresque.aio.app import AsyncResque
    from pyresque.core.app import Resque

__all__ = ["dequeue_matching"]


async def dequeue_matching(app: AsyncResque, queue: str, matches: Iterable[JobMatch]) -> int:
    """Remove every job of ``queue`` that any of ``matches`` selects; how many.

    Round trips: 2 (LRANGE, then pipelined LREMs). ``before_dequeue`` hooks may keep a
    job by raising ``DontEnqueue``; ``after_dequeue`` runs for each removed job.
    """
    wanted = list(matches)
    if not wanted:
        return 0
    hooks = app.hooks
    hook_app = cast("Resque", app)  # hooks read the registry only
    async with app.connection_guard():
        raws = await app.backend.broker.peek(queue, 0, -1)
    chosen = choose(app, hook_app, queue, raws, wanted)
    if not chosen:
        return 0
    async with app.connection_guard():
        removed = await app.backend.broker.remove_values(queue, [raw for raw, _ in chosen])
    if hooks.has("pyresque_after_dequeue"):
        for (_, job), gone in zip(chosen, removed, strict=True):
            if gone:
                hooks.after_dequeue(hook_app, queue, job)
    return sum(removed)
