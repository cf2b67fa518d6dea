"""Lua scripts of the scheduler: atomic promotion, the leader lock, recurring ticks.

Every script runs as one command (one round trip, atomic on the server) and takes
every key through KEYS. Exactly-once promotion rests on ``LREM <list> 1 <item>``:
whichever caller removes the item pushes it, any other caller gets 0 and pushes
nothing, and a caller killed mid-way has either run the whole script or none of it.
"""

from __future__ import annotations

from pyresque.backends.redis.scripts import LuaScript

__all__ = [
    "LEADER_ACQUIRE",
    "LEADER_RELEASE",
    "PROMOTE",
    "RECURRING_TICK",
    "REMOVE_ITEMS",
    "TIDY_TIMESTAMP",
]

#: Move items of one ``delayed:<ts>`` list, each atomically.
#:
#: KEYS: [1] delayed:<ts>, [2] delayed_queue_schedule, [3] queues set, then per item i:
#: [2+2i] destination list (``queue:<q>`` or ``failed``), [3+2i] ``timestamps:<item>``.
#: ARGV: [1] ZSET member (``<ts>``), [2] index member (``delayed:<ts>``), then per item i:
#: [4i-1] item bytes, [4i] queue name ('' = the destination is the failure list),
#: [4i+1] value to push ('' = the item itself), [4i+2] the item's position + 1 when read.
#: Per item: LREM 1 == 1 -> SADD queues + RPUSH destination + SREM reverse index.
#: Items are only ever removed from these lists or appended at the tail, so an item
#: read at position p is now at p or before: ``LPOS .. MAXLEN p+1`` bounds the search
#: (a losing racer does not scan a long list for an item another scheduler took).
#: Then, if the list is empty, ZREM the timestamp. Returns one 0/1 flag per item.
#: Repeat after a lost reply: the items the first call moved are no longer in the list
#: (LREM finds nothing), so nothing is pushed twice; the scheduler's next pass re-reads.
PROMOTE = LuaScript(
    """
local moved = {}
local n = (#ARGV - 2) / 4
for i = 1, n do
  local item = ARGV[4 * i - 1]
  if redis.call('LPOS', KEYS[1], item, 'MAXLEN', ARGV[4 * i + 2])
     and redis.call('LREM', KEYS[1], 1, item) == 1 then
    local queue = ARGV[4 * i]
    local value = ARGV[4 * i + 1]
    if value == '' then value = item end
    if queue ~= '' then redis.call('SADD', KEYS[3], queue) end
    redis.call('RPUSH', KEYS[2 + 2 * i], value)
    redis.call('SREM', KEYS[3 + 2 * i], ARGV[2])
    moved[i] = 1
  else
    moved[i] = 0
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return moved
"""
)

#: KEYS: delayed:<ts>, delayed_queue_schedule  ARGV: ZSET member
#: Drop the timestamp from the schedule when its list is empty. Returns 1 if dropped.
#: Repeat after a lost reply: already dropped (or refilled): nothing happens (0).
TIDY_TIMESTAMP = LuaScript(
    """
if redis.call('LLEN', KEYS[1]) == 0 then
  return redis.call('ZREM', KEYS[2], ARGV[1])
end
return 0
"""
)

#: KEYS: lock key  ARGV: our value (``host:pid``), ttl seconds
#: Acquire (SET NX EX) or, if we already hold it, refresh the TTL (compare-and-expire).
#: Returns 2 when we just took the lock, 1 when we refreshed ours, 0 when someone else holds it.
#: Repeat after a lost reply: the lock is ours, so it is refreshed (1).
LEADER_ACQUIRE = LuaScript(
    """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 2 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
)

#: KEYS: lock key  ARGV: our value -> 1 if it was ours and is deleted, else 0.
#: Repeat after a lost reply: already gone: nothing happens (0).
LEADER_RELEASE = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)

#: Enqueue one recurring tick unless it (or a later one) was already enqueued.
#:
#: KEYS: [1] schedule_ticks hash, [2] delayed:last_enqueued_at hash, [3] queues set,
#: [4] queue:<q>.  ARGV: [1] schedule name, [2] tick (epoch seconds), [3] queue name,
#: [4] payload, [5] enqueue time as resque-scheduler writes it (``Time#to_s``).
#: Returns 1 when enqueued, 0 when the tick was already taken.
#: Repeat after a lost reply: the tick is taken, so nothing is enqueued twice (0).
RECURRING_TICK = LuaScript(
    """
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if last and last >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('RPUSH', KEYS[4], ARGV[4])
return 1
"""
)

#: Remove given items (one copy each) from one ``delayed:<ts>`` list.
#:
#: KEYS: [1] delayed:<ts>, [2] delayed_queue_schedule, then per item i: [2+i]
#: ``timestamps:<item>``.  ARGV: [1] ZSET member, [2] index member, then the items.
#: The reverse index loses ``delayed:<ts>`` only when no copy is left in the list.
#: Returns how many items were removed.
#: Repeat after a lost reply: would remove one more copy of an item queued twice, so
#: it is never repeated (client calls do not retry a lost reply).
REMOVE_ITEMS = LuaScript(
    """
local removed = 0
for i = 3, #ARGV do
  if redis.call('LREM', KEYS[1], 1, ARGV[i]) == 1 then
    removed = removed + 1
    if not redis.call('LPOS', KEYS[1], ARGV[i]) then
      redis.call('SREM', KEYS[i], ARGV[2])
    end
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return removed
"""
)
