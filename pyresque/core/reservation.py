"""What a worker's backend hands back when it reserves a job.

Every reserve draws a fresh token (:func:`new_token`) that the backend records with
the job; finishing or failing the job names that token, so a step repeated after a
lost reply, or the late outcome of a job that was pruned away, never acts on a job
the worker does not hold.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from typing import NamedTuple

__all__ = ["NOTHING", "NOT_HELD", "RECORDED", "Held", "Reservation", "Step", "new_token"]


class _Tokens:
    """A random per-process prefix and a counter: unique across processes (the prefix
    is drawn again in a forked child) and cheaper per job than a system call."""

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.prefix = os.urandom(4).hex()
        self.count = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next(self) -> str:
        return f"{self.prefix}{next(self.count) & 0xFFFFFFFF:08x}"


_tokens: _Tokens | None = None


def new_token() -> str:
    """A reservation token: 16 hex digits, unique across processes and restarts."""
    global _tokens
    if _tokens is None:  # made on first use: importing this module does nothing
        _tokens = _Tokens()
    return _tokens.next()


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    """A job taken from ``queue`` and recorded under the worker, atomically.

    Attributes:
        queue: the queue it came from.
        payload: the raw payload bytes exactly as they were queued.
        token: the reservation token recorded with the job ("" where none was).
    """

    queue: str
    payload: bytes
    token: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """The worker's record still holds an unfinished job, so nothing was reserved.

    Attributes:
        record: the raw ``worker:<id>`` value (JSON with ``queue``, ``run_at``, ``payload``).
    """

    record: bytes


#: ``finished`` of a :class:`Step`: nothing was to be finished.
NOTHING = 0
#: ``finished``: the job's outcome was written.
RECORDED = 1
#: ``finished``: the worker no longer held the job (pruned meanwhile): nothing written.
NOT_HELD = -1


class Step(NamedTuple):
    """The result of one fused "finish the previous job, reserve the next" step.

    Attributes:
        finished: :data:`NOTHING`, :data:`RECORDED` or :data:`NOT_HELD`.
        taken: the new reservation, a :class:`Held` record, or ``None`` (queues empty).
    """

    finished: int
    taken: Reservation | Held | None
