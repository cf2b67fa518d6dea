"""The async worker's registry: :class:`AsyncWorkerRegistry`, the worker-side steps of
:class:`~pyresque.backends.workers.WorkerRegistry` awaited, for many worker ids at once.

The async worker (:mod:`pyresque.core.worker.aio`) runs N jobs in one process; each of
its N slots is a Resque worker id of its own, with its own ``worker:<id>`` record,
heartbeat and lease. Its hot step, :meth:`AsyncWorkerRegistry.step`, sends the steps
of every slot that is free at that instant in one round trip: per slot, write the last
outcome (a success fused with the next reserve, or a failure) and reserve its next job.
Each is the same token-conditional script the other modes run
(:mod:`pyresque.backends.redis.worker_scripts`), so a batch repeated after a lost
reply is as safe as each script repeated alone.

Start at :func:`open_worker_registry`: the registry for a sync backend (the Redis one;
its implementation is :mod:`pyresque.backends.redis.aio.workers`). The interface is a
:class:`~typing.Protocol` so that the implementation needs nothing from this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pyresque.core.errors import ConfigurationError
from pyresque.core.failure import FailureRecord
from pyresque.core.reservation import Held, Reservation

if TYPE_CHECKING:
    from pyresque.backends.base import Backend

__all__ = ["AsyncWorkerRegistry", "SlotResult", "SlotStep", "open_worker_registry"]


@dataclasses.dataclass(frozen=True, slots=True)
class SlotStep:
    """One slot's part of a batch.

    Attributes:
        worker_id: the slot's worker id.
        run_at: the new reservation's run-at time (drawn once: a repeat is the same call).
        token: the new reservation's token (``""`` when not taking a job).
        take: whether to reserve a job for the slot.
        done: a success to write first: (its token, job id, result); fused into the reserve.
        fail: a failure to write first: (its token, record or ``None`` when a plugin
            handled it, job id); a FAIL script ahead of the reserve.
    """

    worker_id: str
    run_at: str
    token: str
    take: bool = True
    done: tuple[str, str | None, Any] | None = None
    fail: tuple[str, FailureRecord | None, str | None] | None = None


#: What one :class:`SlotStep` did: ``(finished, failed, taken)``. ``finished``: the
#: success's fate, as :attr:`Step.finished <pyresque.core.reservation.Step>` (0 none, 1
#: written, -1 no longer held); ``failed``: the failure's (``None`` none asked, ``True``
#: written, ``False`` no longer held: nothing written); ``taken``: the new reservation,
#: a :class:`Held` record (nothing reserved: the id holds a previous process's job), or
#: ``None`` (queues empty). A plain tuple, so the implementation needs nothing from here.
SlotResult = tuple[int, bool | None, Reservation | Held | None]


class AsyncWorkerRegistry(Protocol):
    """The async worker's writes and reads (see the module docstring).

    Attributes:
        connection_errors: the exceptions that mean "cannot reach the server now"
            (retried with backoff; every step here is safe to repeat).
    """

    connection_errors: tuple[type[BaseException], ...]

    async def prepare(self) -> None:
        """Connect and load the scripts (a first round trip, ahead of the first job)."""

    async def step(self, steps: Sequence[SlotStep], queues: Sequence[str]) -> list[SlotResult]:
        """Run every slot's step in one round trip (queues in priority order); safe to
        repeat with the same arguments after a lost reply."""

    async def fail(
        self, worker_id: str, record: FailureRecord | None, job_id: str | None, token: str
    ) -> bool:
        """Write one failure and release the job (only under ``token``)."""

    async def register(self, worker_ids: Sequence[str], started: str) -> None:
        """Add the ids to ``workers``; write their ``started`` and a heartbeat."""

    async def registered(self, worker_ids: Sequence[str]) -> list[bool]:
        """Whether each id is in ``workers`` now."""

    async def heartbeat(self, worker_ids: Sequence[str]) -> float:
        """Write a heartbeat (the server's clock) for each id; returns that time."""

    async def claim(self, worker_ids: Sequence[str], nonce: str, detail: str, ttl: float) -> list[str | None]:
        """Take or refresh each id's lease for the process ``nonce``; per id, ``None``
        when the lease is ours, else the value another process holds it with."""

    async def drop_lease(self, worker_id: str, expected: str) -> bool:
        """Delete the id's lease if its value is still ``expected``."""

    async def unregister(self, worker_id: str, nonce: str) -> bool:
        """Remove the id's records; ``False`` (nothing removed) while it holds a job."""

    async def held(self, worker_id: str) -> bytes | None:
        """The raw ``worker:<id>`` record, or ``None``."""

    async def paused_all(self) -> bool:
        """Whether ``pause-all-workers`` says ``true``."""

    async def wait_for_jobs(self, queues: Sequence[str], timeout: float) -> None:
        """Return when a job may be waiting in ``queues`` or after ``timeout`` seconds;
        takes nothing. On a connection of its own, with a socket timeout above ``timeout``."""

    async def close(self) -> None:
        """Close every connection of this registry."""


def open_worker_registry(backend: Backend) -> AsyncWorkerRegistry:
    """The async worker registry for ``backend`` (same server, namespace, credentials),
    on connections of its own. Nothing connects until first use.

    Raises:
        ConfigurationError: the backend has no async worker registry (only the Redis
            backend has one; fakeredis apps run in one process: use ``inprocess``; over
            shards, run it per shard).
    """
    from pyresque.backends.redis import RedisBackend
    from pyresque.backends.redis.shards import ShardedBackend

    if isinstance(backend, ShardedBackend):
        raise ConfigurationError(
            "the async worker does not work over shards yet: run it per shard "
            "(--shard NAME), or use mode='fork' or 'inprocess', which reserve across shards"
        )
    if not isinstance(backend, RedisBackend) or backend.process_local:
        raise ConfigurationError(
            "the async worker needs a Redis server "
            "(a fakeredis app lives in one process: use mode='inprocess')"
        )
    from pyresque.backends.redis.aio.workers import RedisAsyncWorkerRegistry

    return RedisAsyncWorkerRegistry.from_backend(backend)
