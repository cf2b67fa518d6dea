"""Shards: one app over several Redis servers, each a complete Resque namespace, for
throughput past one Redis core.

Start with :class:`ShardedBackend` (``backend.py``): ``Resque(ShardedBackend({"a": URL,
"b": URL}, queue_map={...}))``. Queues without an entry in the map are placed by a
stable hash of their name (:class:`ShardMap`, ``routing.py``); the stores that route and
add up are in ``stores.py``. A worker over the shards writes through its own
:class:`~pyresque.backends.redis.shards.worker_side.ShardedWorkerSide`
(``ShardedBackend.worker_side``; ``lane_set.py``, ``lanes.py``, ``wait.py``). See
``docs/scaling.md`` and ``docs/sharded-workers.md``.
"""

from __future__ import annotations

from pyresque.backends.redis.shards.backend import ShardedBackend
from pyresque.backends.redis.shards.routing import ShardMap

__all__ = ["ShardMap", "ShardedBackend"]
