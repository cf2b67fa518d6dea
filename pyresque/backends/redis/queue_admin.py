"""Queue administration on Redis: unregister empty queues without orphaning a job.

``<ns>:queues`` (SET) names the queues; ``<ns>:queue:<q>`` (LIST) holds the jobs, and
Redis deletes a list when its last job is popped. Unregistering a queue is safe only
when its list does not exist *at that instant*, so the check and the SREM run in one
script (:data:`UNREGISTER_EMPTY`): a push by pyresque or node-resque (SADD + RPUSH in
one script or MULTI) lands either before it (the list exists: the queue is kept) or
after it (its SADD registers the queue again).

Writers that register and push in two separate commands (php-resque; Ruby Resque's
pipelined ``push``; pyresque's own ``push_many`` pipeline) leave a gap between their
SADD and their RPUSH: a queue pruned inside that gap holds a job while unregistered
(not lost: a worker naming the queue still takes it, and the next push registers it
again). :data:`REGISTER_NONEMPTY`
mends that: called a moment after the prune, it registers again every pruned queue
that holds jobs.

:class:`QueueAdmin` is mixed into :class:`~pyresque.backends.redis.broker.RedisBroker`.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import LuaScript

__all__ = ["REGISTER_NONEMPTY", "UNREGISTER_EMPTY", "QueueAdmin"]

#: KEYS: queues set, then one queue list per queue  ARGV: the queue names, same order
#: Returns, per queue, 1 if this call unregistered it (its list did not exist), else 0.
#: Atomic as a whole. Repeat after a lost reply: a queue the first run unregistered is
#: no longer a member (0, nothing changes); a queue that got a job in between is kept
#: (its list exists). So a repeat never unregisters a queue holding a job.
UNREGISTER_EMPTY = LuaScript(
    """
local out = {}
for i, name in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    out[i] = 0
  else
    out[i] = redis.call('SREM', KEYS[1], name)
  end
end
return out
"""
)

#: KEYS: queues set, then one queue list per queue  ARGV: the queue names, same order
#: Returns, per queue, 1 if this call registered it again (its list holds jobs and it
#: was not a member), else 0. Repeat after a lost reply: the queues are members now (0).
REGISTER_NONEMPTY = LuaScript(
    """
local out = {}
for i, name in ipairs(ARGV) do
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    out[i] = redis.call('SADD', KEYS[1], name)
  else
    out[i] = 0
  end
end
return out
"""
)

#: Queues per script call (keeps each script's time on the server short).
CHUNK = 500


class QueueAdmin:
    """The broker's queue administration (needs ``_r``, the client, and ``_k``, the keys)."""

    _r: redis.Redis
    _k: Keys

    def _each(self, script: LuaScript, queues: Sequence[str]) -> list[str]:
        done: list[str] = []
        for start in range(0, len(queues), CHUNK):
            names = list(queues[start : start + CHUNK])
            keys = [self._k.queues, *(self._k.queue(q) for q in names)]
            flags = script(self._r, keys, names)
            done += [q for q, flag in zip(names, flags, strict=True) if int(flag)]
        return done

    def unregister_empty(self, queues: Sequence[str]) -> list[str]:
        """The ``UNREGISTER_EMPTY`` script per 500 queues. Round trips: 1 per 500."""
        return self._each(UNREGISTER_EMPTY, queues)

    def register_nonempty(self, queues: Sequence[str]) -> list[str]:
        """The ``REGISTER_NONEMPTY`` script per 500 queues. Round trips: 1 per 500."""
        return self._each(REGISTER_NONEMPTY, queues)
