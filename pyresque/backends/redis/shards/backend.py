"""A backend over several Redis servers, each a complete Resque namespace:
:class:`ShardedBackend`. ``Resque(ShardedBackend(...))`` is a sharded app.

Each shard is an ordinary :class:`~pyresque.backends.redis.RedisBackend` (any URL:
``redis://``, Sentinel, Cluster), which resque-web, Ruby, PHP and node read as any
Resque. A queue lives on one shard (:class:`~pyresque.backends.redis.shards.routing.ShardMap`:
an explicit map, else a stable hash of its name). The stores (``stores.py``) route
enqueues, queue reads and new failures by queue, and add up what ``info()``, the CLI's
read commands and the dashboard read (queues, sizes, workers, ``stat:*``, failures).

A worker (``Worker(app, queues)``, ``pyresque worker``) reserves across the shards in
queue-priority order through :meth:`ShardedBackend.worker_side` (one per worker:
``worker_side.py``, see ``docs/sharded-workers.md``); workers per shard (on a shard's
URL and :meth:`ShardedBackend.queues_of` its queues) work too. The scheduler runs per
shard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyresque.backends.base import Backend, PushItem
from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.shards.lanes import Lane
from pyresque.backends.redis.shards.routing import ShardMap
from pyresque.backends.redis.shards.stores import (
    ShardedBroker,
    ShardedDelayed,
    ShardedFailures,
    ShardedStats,
    ShardedStatuses,
    ShardedWorkers,
)
from pyresque.backends.redis.shards.worker_side import ShardedWorkerSide
from pyresque.core.errors import BackendError

__all__ = ["ShardedBackend"]


class ShardedBackend(Backend):
    """Several Redis backends used as one, each queue on one of them.

    Args:
        shards: ``{name: URL or RedisBackend}``, or a list of them (named ``"0"``,
            ``"1"`` ...). The names place the queues: keep them when a server moves.
        queue_map: queue -> shard name, for queues the hash must not place.
        namespace: the namespace of the shards built from URLs.

    Raises:
        ConfigurationError: no shard, a name twice, or a map naming an unknown shard.
    """

    def __init__(
        self,
        shards: Mapping[str, str | RedisBackend] | Sequence[str | RedisBackend],
        *,
        queue_map: Mapping[str, str] | None = None,
        namespace: str = "resque",
    ) -> None:
        named = dict(shards) if isinstance(shards, Mapping) else {str(i): s for i, s in enumerate(shards)}
        self.map = ShardMap(list(named), queue_map)
        self.shards: dict[str, RedisBackend] = {
            name: spec if isinstance(spec, RedisBackend) else RedisBackend.from_url(spec, namespace)
            for name, spec in named.items()
        }
        ordered = list(self.shards.values())
        errors: set[type[BaseException]] = set()
        for shard in ordered:
            errors.update(shard.connection_errors)
        self.connection_errors = tuple(errors)
        self.keys = ordered[0].keys
        self.broker = ShardedBroker(ordered, self.backend_for)
        self.stats = ShardedStats(ordered)
        self.failures = ShardedFailures(ordered, self.backend_for)
        self.statuses = ShardedStatuses(ordered)
        self.workers = ShardedWorkers(ordered, self.backend_for)
        self.delayed = ShardedDelayed(ordered, self.backend_for)

    def backend_for(self, queue: str) -> RedisBackend:
        """The shard ``queue`` lives on."""
        return self.shards[self.map.shard_of(queue)]

    def worker_side(self, included: Sequence[str], *, dynamic: bool) -> ShardedWorkerSide:
        """A new worker's registry over the shards it takes queues from: those of the
        plain names in ``included``, every shard when ``dynamic`` (patterns)."""
        lanes = [Lane(name, i, shard) for i, (name, shard) in enumerate(self.shards.items())]
        if dynamic:
            involved = list(self.shards)
        else:
            involved = list(dict.fromkeys(self.map.shard_of(q) for q in included))
        return ShardedWorkerSide(
            lanes, self.map.shard_of, involved, self.connection_errors, self.workers, dynamic=dynamic
        )

    def queues_of(self, name: str) -> list[str]:
        """The known queues (on any shard) that live on shard ``name``: what its workers
        should take."""
        return [q for q in self.broker.queues() if self.map.shard_of(q) == name]

    def push_durable(self, items: Sequence[PushItem], *, replicas: int, timeout: float) -> list[str | None]:
        """Each shard's :meth:`~pyresque.backends.redis.RedisBackend.push_durable` for its
        items (shards one after the other); markers in the items' order."""
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            groups.setdefault(self.map.shard_of(item.queue), []).append(index)
        markers: list[str | None] = [None] * len(items)
        for name, indexes in groups.items():
            pushed = self.shards[name].push_durable(
                [items[i] for i in indexes], replicas=replicas, timeout=timeout
            )
            for index, marker in zip(indexes, pushed, strict=True):
                markers[index] = marker
        return markers

    def ping(self) -> None:
        """Every shard. Round trips: 1 per shard."""
        for shard in self.shards.values():
            shard.ping()

    def permanent_error(self, exc: BaseException) -> BackendError | None:
        """As the shards' (they share one kind of server)."""
        return next(iter(self.shards.values())).permanent_error(exc)

    def close(self) -> None:
        """Close every shard."""
        for shard in self.shards.values():
            shard.close()

    def describe(self) -> str:
        """Every shard, by name, without passwords."""
        return ", ".join(f"{name}={shard.describe()}" for name, shard in self.shards.items())

    def __repr__(self) -> str:
        return f"ShardedBackend({self.describe()})"
