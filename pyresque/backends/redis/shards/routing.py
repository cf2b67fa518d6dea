"""Which shard a queue lives on: :class:`ShardMap`.

A queue lives on exactly one shard (a complete Resque namespace on its own Redis), so
everything Resque keeps per queue (its list, its jobs' statuses and failures, the
workers taking from it) stays on one server that any Resque tool can read.

The shard of a queue is the one an explicit map names, else the one a stable hash of
the queue name picks: rendezvous hashing (each shard scores ``crc32(name NUL queue)``,
the highest score wins), which every process, Python version and machine computes the
same, and which moves only the queues the new shard wins when a shard is added (about
1/N of them), never a queue between two old shards. Moving a queue's waiting jobs when
the map changes is the operator's (drain the old shard first).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

from pyresque.core.errors import ConfigurationError

__all__ = ["ShardMap"]


class ShardMap:
    """Queue name -> shard name.

    Args:
        names: the shards' names, in order (what the hash scores: renaming a shard
            moves its queues; changing its URL does not).
        explicit: queue -> shard name, for queues the hash must not place.

    Raises:
        ConfigurationError: no shard, a name twice, or a map naming an unknown shard.
    """

    def __init__(self, names: Sequence[str], explicit: Mapping[str, str] | None = None) -> None:
        if not names:
            raise ConfigurationError("a sharded app needs at least one shard")
        if len(set(names)) != len(names):
            raise ConfigurationError(f"shard names must be unique: {list(names)}")
        self.names = tuple(names)
        self.explicit = dict(explicit or {})
        unknown = sorted({shard for shard in self.explicit.values() if shard not in self.names})
        if unknown:
            raise ConfigurationError(
                f"the queue map names unknown shards {unknown}; shards: {list(self.names)}"
            )
        self._cache: dict[str, str] = {}

    def shard_of(self, queue: str) -> str:
        """The name of the shard ``queue`` lives on."""
        shard = self._cache.get(queue)
        if shard is None:
            shard = self.explicit.get(queue) or self.hashed(queue)
            if len(self._cache) < 10_000:
                self._cache[queue] = shard
        return shard

    def hashed(self, queue: str) -> str:
        """The shard the stable hash picks for ``queue`` (the explicit map aside)."""
        data = queue.encode("utf-8", "surrogatepass")
        return max(self.names, key=lambda name: (zlib.crc32(name.encode() + b"\x00" + data), name))

    def __repr__(self) -> str:
        return f"ShardMap({list(self.names)!r}, explicit={self.explicit!r})"
