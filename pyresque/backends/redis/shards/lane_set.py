"""The shards of one worker over several: :class:`LaneSet`, the base of
:class:`~pyresque.backends.redis.shards.worker_side.ShardedWorkerSide` (which adds the
hot path: reserve, fail, the idle wait).

Here: routing (a queue's lane, a token's lane, runs of queues by shard), and what goes
to every shard the worker takes queues from: registration, the heartbeat thread's beat,
leases, ``pause-all-workers``; and the read side (the backend's). A connection error on
one shard skips it (the worker's own thread also marks it down: ``mark=True``); the
heartbeat thread never changes a lane's state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from pyresque.backends.redis.shards.lanes import Lane
from pyresque.backends.workers import WorkerRegistry
from pyresque.core.errors import ConfigurationError

__all__ = ["LaneSet"]


class LaneSet(WorkerRegistry):
    """One worker's shards (see the module docstring); arguments as
    :class:`~pyresque.backends.redis.shards.worker_side.ShardedWorkerSide`'s."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        shard_of: Any,
        involved: Sequence[str],
        errors: tuple[type[BaseException], ...],
        reads: WorkerRegistry,
        *,
        dynamic: bool = False,
    ) -> None:
        self.all_lanes = list(lanes)
        self.lanes = [lane for lane in lanes if lane.name in set(involved)]
        #: the last reserve left a shard out because it was away (not asked: not empty)
        self.skipped_away = False
        self._by_name = {lane.name: lane for lane in lanes}
        self._by_prefix = {lane.prefix: lane for lane in lanes}
        self._shard_of = shard_of
        self._errors = errors
        self._reads = reads
        self.dynamic = dynamic
        self._pid = self._owner = os.getpid()
        self._groups: dict[tuple[str, ...], list[tuple[Lane, list[str]]]] = {}
        self._watched: dict[tuple[tuple[str, ...], str], list[str]] = {}

    # -- routing -------------------------------------------------------------------
    def lane_of(self, queue: str) -> Lane:
        """The lane of ``queue``'s shard."""
        return self._by_name[self._shard_of(queue)]

    def lane_of_token(self, token: str) -> Lane:
        """The lane a reservation token was drawn on (its ``s<i>-`` prefix)."""
        lane = self._by_prefix.get(token[: token.find("-") + 1]) if "-" in token else None
        if lane is None:
            raise ConfigurationError(f"reservation token {token!r} names no shard of this app")
        return lane

    def groups(self, queues: Sequence[str]) -> list[tuple[Lane, list[str]]]:
        """Runs of consecutive queues on the same shard, in order."""
        key = tuple(queues)
        found = self._groups.get(key)
        if found is None:
            found = []
            for queue in queues:
                lane = self.lane_of(queue)
                if found and found[-1][0] is lane:
                    found[-1][1].append(queue)
                else:
                    found.append((lane, [queue]))
            if len(self._groups) > 64:
                self._groups.clear()
            self._groups[key] = found
        return found

    @property
    def strict(self) -> bool:
        """In a forked child: outcomes are not deferred (see the module docstring)."""
        pid = os.getpid()
        if pid != self._pid:  # the first call in a new process: the parent's state is not ours
            self._pid = pid
            for lane in self.all_lanes:
                lane.reset_process_state()
        return pid != self._owner

    def watched(self, queues: Sequence[str], lane: Lane) -> list[str]:
        """The queues of ``lane`` in the worker's list (what its tracking covers)."""
        key = (tuple(queues), lane.name)
        found = self._watched.get(key)
        if found is None:
            found = [q for q in queues if self.lane_of(q) is lane]
            if len(self._watched) > 256:
                self._watched.clear()
            self._watched[key] = found
        return found

    def any_down(self) -> bool:
        """Whether an involved shard is left alone after a failure (a burst worker does
        not take "nothing reserved" for "every queue is empty" then): one failed and not
        answered since, one holds a reserve whose reply was lost, or the last reserve left
        one out while it was away (it may have answered another call since)."""
        return self.skipped_away or any(lane.failures or lane.uncertain is not None for lane in self.lanes)

    def known_queues(self) -> list[str]:
        """The queues of every involved shard that is up, sorted. Round trips: 1 per shard."""
        now = time.monotonic()
        out: set[str] = set()
        for lane in self.lanes:
            if not lane.up(now):
                continue
            try:
                out.update(lane.backend.broker.queues())
            except self._errors as exc:
                lane.mark_down(exc)
        return sorted(out)

    # -- registration, leases, heartbeats (every involved shard) --------------------
    def _each(
        self, what: Any, *, need_one: bool = True, skip_down: bool = False, mark: bool = False
    ) -> list[Any]:
        """``what(lane)`` on every involved lane; a connection error skips the lane
        (and, with ``mark``, from the worker's own thread only, marks it down). Raises the
        last error when no lane answered (``need_one``)."""
        out: list[Any] = []
        last: BaseException | None = None
        now = time.monotonic()
        for lane in self.lanes:
            if skip_down and not lane.up(now):
                continue
            try:
                out.append(what(lane))
            except self._errors as exc:
                last = exc
                if mark:
                    lane.mark_down(exc)
        if need_one and not out and last is not None:
            raise last
        return out

    def register(self, worker_id: str, started: str) -> None:
        """On every involved shard that answers (at least one must). Round trips: 3 per shard."""

        def one(lane: Lane) -> None:
            lane.registry.register(worker_id, started)
            lane.registered = True

        self._each(one, mark=True)

    def beat(self, worker_id: str, started: str) -> list[str]:
        """The heartbeat thread's beat: on each shard, register again if the worker is
        missing there (a shard that was down at the start, or lost its data), else
        refresh its heartbeat; the shards registered again. Round trips: 3 per shard."""

        def one(lane: Lane) -> str | None:
            if worker_id not in lane.registry.all():
                lane.registry.register(worker_id, started)
                lane.registered = True
                return lane.name
            lane.registry.heartbeat(worker_id)
            return None

        return [name for name in self._each(one, need_one=False) if name]

    def claim(self, worker_id: str, nonce: str, detail: str, ttl: float) -> str | None:
        """Take or refresh the id's lease on every involved shard that answers; another
        owner's lease value if any shard has one. Round trips: 1 per shard."""
        others = self._each(lambda lane: lane.registry.claim(worker_id, nonce, detail, ttl))
        return next((o for o in others if o is not None), None)

    def drop_lease(self, worker_id: str, expected: str) -> bool:
        """Round trips: 1 per shard."""
        return any(self._each(lambda lane: lane.registry.drop_lease(worker_id, expected), need_one=False))

    def heartbeat(self, worker_id: str) -> float:
        """Round trips: 2 per shard."""
        return float(max(self._each(lambda lane: lane.registry.heartbeat(worker_id))))

    def paused_all(self) -> bool:
        """Reads each shard's ``pause-all-workers`` (a paused shard's queues are
        skipped); ``True`` when every involved shard is paused. Round trips: 1 per shard."""

        def one(lane: Lane) -> bool:
            lane.paused_all = bool(lane.registry.paused_all())
            return lane.paused_all

        self._each(one, need_one=False, skip_down=True, mark=True)
        return all(lane.paused_all for lane in self.lanes)

    def warm_up(self) -> None:
        """Connect every involved shard's hot-path connection."""
        self._each(lambda lane: lane.registry.warm_up(), need_one=False, mark=True)

    def close(self) -> None:
        """Close the lanes' own connections (the worker stopped)."""
        for lane in self.all_lanes:
            lane.close()

    # -- the read side: the backend's ------------------------------------------------
    def all(self) -> list[str]:
        """Every shard's registered workers."""
        return self._reads.all()

    def working(self) -> dict[str, dict[str, Any]]:
        """Every shard's."""
        return self._reads.working()

    def heartbeats(self) -> dict[str, str]:
        """Every shard's."""
        return self._reads.heartbeats()

    def leases(self, worker_ids: Sequence[str]) -> list[str | None]:
        """The first involved shard's (pruning runs per shard, on the lanes' own)."""
        return self.lanes[0].registry.leases(worker_ids)

    def scan_records(self, cursor: int, count: int) -> tuple[int, list[tuple[str, bytes]]]:
        """The first involved shard's (pruning runs per shard)."""
        return self.lanes[0].registry.scan_records(cursor, count)

    def server_time(self) -> float:
        """The first involved shard's clock."""
        return self.lanes[0].registry.server_time()

    def acquire_prune_lock(self, owner: str, ttl: int) -> bool:
        """The first involved shard's (pruning runs per shard)."""
        return self.lanes[0].registry.acquire_prune_lock(owner, ttl)

    def release_prune_lock(self, owner: str) -> None:
        """The first involved shard's."""
        self.lanes[0].registry.release_prune_lock(owner)
