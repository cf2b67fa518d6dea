"""A worker over several shards (a :class:`~pyresque.backends.redis.shards.ShardedBackend`):
what the worker does per shard beside its registry.

- :func:`worker_registry`: the registry a worker writes through (``worker.registry``):
  the backend's own, or, on shards, a
  :class:`~pyresque.backends.redis.shards.worker_side.ShardedWorkerSide` of its own
  (reserves across shards in priority order, see that module).
- :func:`prune`: pruning dead workers and recovering their jobs, shard by shard, each
  on that shard's own records (a :class:`ShardView` of the worker), so that a dead
  worker on one shard is pruned there, whatever the others say; a shard that is down
  is skipped.
- :class:`ShardedRemote`: quiet/stop through Redis read on every shard (the strongest
  command wins), ``paused-queues`` of every shard, and ``pause-all-workers`` per shard
  (a paused shard's queues are skipped; the worker pauses when all its shards are).
- :func:`queue_names`: the known queues a pattern (``*``) expands over, and
  :func:`glob_order`: in what order. On shards, a pattern's matches are grouped by
  shard (one reserve call per shard when they are all empty, not one per run of
  alphabetical neighbours), alphabetical within a shard; the shards in their order,
  starting at shard ``pid % N`` so that N workers spread over the shards.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyresque.backends.workers import WorkerRegistry
from pyresque.core.control import ControlReader, strongest_command
from pyresque.core.worker.pruning import prune_dead_workers
from pyresque.core.worker.remote import RemoteControl

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = [
    "ShardView",
    "ShardedRemote",
    "glob_order",
    "lanes_of",
    "prune",
    "queue_names",
    "worker_registry",
]

log = logging.getLogger("pyresque.worker")


def worker_registry(worker: Worker) -> WorkerRegistry:
    """The registry ``worker`` writes through (see the module docstring)."""
    make = getattr(worker.app.backend, "worker_side", None)
    if not callable(make):
        return worker.app.backend.workers
    side: WorkerRegistry = make(worker.selector.included, dynamic=worker.selector.dynamic)
    return side


def lanes_of(worker: Worker) -> list[Any] | None:
    """The worker's shards (:class:`~pyresque.backends.redis.shards.lanes.Lane`), or
    ``None`` when it runs on one backend."""
    lanes = getattr(worker.registry, "lanes", None)
    return list(lanes) if lanes is not None else None


def glob_order(worker: Worker) -> Callable[[str], Any] | None:
    """The sort key of a pattern's matches (``None``: alphabetical), see the module
    docstring."""
    lanes = lanes_of(worker)
    side: Any = worker.registry
    if not lanes or not hasattr(side, "lane_of"):
        return None
    count = len(side.all_lanes)
    start = os.getpid() % count

    def key(queue: str) -> tuple[int, str]:
        return ((side.lane_of(queue).index - start) % count, queue)

    return key


class _ShardApp:
    """The worker's app, seen on one shard (its backend is that shard's)."""

    def __init__(self, app: Any, backend: Any) -> None:
        self._app = app
        self.backend = backend

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)


class ShardView:
    """The worker, seen on one shard: ``app.backend`` is the shard's, the SCAN cursor of
    pruning is the shard's; everything else is the worker's."""

    def __init__(self, worker: Worker, lane: Any) -> None:
        object.__setattr__(self, "_worker", worker)
        object.__setattr__(self, "_lane", lane)
        object.__setattr__(self, "app", _ShardApp(worker.app, lane.backend))

    @property
    def orphan_cursor(self) -> int:
        """Where pruning's SCAN resumes on this shard."""
        return int(self._lane.orphan_cursor)

    @orphan_cursor.setter
    def orphan_cursor(self, value: int) -> None:
        self._lane.orphan_cursor = value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._worker, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "orphan_cursor":
            object.__setattr__(self, name, value)  # the property
        else:
            setattr(self._worker, name, value)


def prune(worker: Worker) -> list[str]:
    """Prune dead workers (see :func:`~pyresque.core.worker.pruning.prune_dead_workers`),
    on each shard for a worker over shards (a shard that is down is skipped)."""
    lanes = lanes_of(worker)
    if lanes is None:
        return prune_dead_workers(worker)
    pruned: list[str] = []
    now = time.monotonic()
    for lane in lanes:
        if not lane.up(now):
            continue
        try:
            pruned += prune_dead_workers(ShardView(worker, lane))  # type: ignore[arg-type]
        except worker.app.backend.connection_errors as exc:
            lane.mark_down(exc)
    return pruned


def queue_names(worker: Worker) -> list[str]:
    """The known queues, for patterns: every shard's that is up, on shards."""
    known = getattr(worker.registry, "known_queues", None)
    if callable(known):
        names: list[str] = known()
        return names
    return worker.app.backend.broker.queues()


class ShardedRemote(RemoteControl):
    """:class:`~pyresque.core.worker.remote.RemoteControl` over every shard of a worker."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(worker)
        self.lanes = lanes_of(worker) or []
        self.readers = [(lane, ControlReader(lane.backend)) for lane in self.lanes]

    def poll(self) -> str | None:
        """Read the worker's command on every shard (the heartbeat thread); obey the
        strongest if new. Round trips: 1 per shard (a shard that fails is skipped)."""
        w = self.worker
        found: list[str | None] = []
        for _, reader in self.readers:
            try:
                found.append(reader.command(w.id, w.nonce))
            except w.app.backend.connection_errors:
                continue
        command = strongest_command(found, w.nonce)
        if command is not None and command != self.obeyed and self.obeyed != "stop":
            self.obey(command)
        return command

    def refresh(self, *, force: bool = False) -> None:
        """Re-read every shard's pause state if over a second old: ``paused-queues``
        (their union is skipped) and ``pause-all-workers`` (per shard). Round trips:
        0 or 1 per shard; a shard that fails keeps its last state."""
        now = time.monotonic()
        if not force and now - self._read_at < 1.0:
            return
        self._read_at = now
        paused: set[str] = set()
        for lane, reader in self.readers:
            if not lane.up(now):
                paused.update(q for q in self.paused)
                continue
            try:
                lane.paused_all, queues = reader.pause_state()
            except self.worker.app.backend.connection_errors:
                log.debug("could not read the pause state of shard %s; keeping the last", lane.name)
                continue
            paused.update(queues)
        self.paused = frozenset(paused)
        self.paused_all = bool(self.lanes) and all(lane.paused_all for lane in self.lanes)

    def pause_all(self, fallback: Any) -> bool:
        """Every shard of the worker says ``pause-all-workers``."""
        self.refresh()
        return self.paused_all
