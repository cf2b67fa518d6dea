"""The worker's Lua scripts: reserve, done, fail, recover. Each is one round trip.

The bytes they write are those of the stores: ``worker:<id>`` is Ruby's
``{"queue","run_at","payload"}`` plus ``"worker"`` (``host:pid``, node-resque's worker
name, for its ``allWorkingOn``); status JSON is
:data:`~pyresque.backends.redis.scripts.STATUS_UPDATE`'s; failure records come already
encoded by :func:`~pyresque.backends.redis.failure.encode_failure`.

A payload that is not a JSON object (msgpack, or garbage) cannot be embedded in the
``worker:<id>`` JSON as is: it is stored as ``{"class":null,"raw_hex":"<hex>"}`` so the
record stays valid JSON for resque-web and the raw bytes are never lost.

Status keys of tracked jobs are built inside RESERVE from a prefix (only the script
knows the job id): fine on one Redis node, which is what Resque runs on.
"""

from __future__ import annotations

from pyresque.backends.redis.scripts import LuaScript

__all__ = ["DELETE_IF", "FAIL", "RECOVER", "RESERVE", "UNREGISTER"]

_STATUS_FN = """
local function set_status(key, st, now, result, ttl)
  local old = redis.call('GET', key)
  if not old then return end
  local started = string.match(old, '"started":(%-?[%d%.eE%+%-]+)')
  local s = '{"status":' .. st .. ',"updated":' .. now
  if started then s = s .. ',"started":' .. started end
  s = s .. ',"result":' .. result .. '}'
  if ttl ~= '0' then redis.call('SET', key, s, 'EX', ttl) else redis.call('SET', key, s) end
end
"""

#: Finish the previous job (optional) and reserve the next, atomically.
#:
#: KEYS: worker key, stat:processed, stat:processed:<id>, queue keys ...
#: ARGV: done ('1'/'0'), done status key or '', result JSON, now (epoch s), run_at,
#:       worker id as a JSON string, status key prefix, status key suffix,
#:       reserve ('1'/'0'), queue names as JSON strings ... (aligned with the queue keys)
#: Returns nil (nothing reserved), {index, payload} (1-based queue index), or
#: {-1, held record} when the worker key still holds an unfinished job (nothing popped).
RESERVE = LuaScript(
    _STATUS_FN
    + """
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('INCR', KEYS[2])
  redis.call('INCR', KEYS[3])
  if ARGV[2] ~= '' then set_status(ARGV[2], '4', ARGV[4], ARGV[3], '86400') end
end
if ARGV[9] ~= '1' then return nil end
local held = redis.call('GET', KEYS[1])
if held then return {-1, held} end
for i = 4, #KEYS do
  local payload = redis.call('LPOP', KEYS[i])
  if payload then
    local ok, decoded = pcall(cjson.decode, payload)
    local body
    if ok and type(decoded) == 'table' and string.sub(payload, 1, 1) == '{' then
      body = payload
      local id = decoded['id']
      if type(id) == 'string' and id ~= '' then
        set_status(ARGV[7] .. id .. ARGV[8], '2', ARGV[4], 'null', '0')
      end
    else
      body = '{"class":null,"raw_hex":"' .. string.gsub(payload, '.', function(c)
        return string.format('%02x', string.byte(c)) end) .. '"}'
    end
    redis.call('SET', KEYS[1], '{"queue":' .. ARGV[i + 6] .. ',"run_at":"' .. ARGV[5] ..
      '","payload":' .. body .. ',"worker":' .. ARGV[6] .. '}')
    return {i - 3, payload}
  end
end
return nil
"""
)

#: Record a failed job and release it.
#:
#: KEYS: worker key, failed list, stat:failed, stat:failed:<id>, stat:processed,
#:       stat:processed:<id>
#: ARGV: failure JSON ('' when a plugin handled it), status key or '', now,
#:       only-if-held ('1': do nothing unless the worker key still exists)
#: Returns 1 when recorded, 0 when only-if-held found nothing.
FAIL = LuaScript(
    _STATUS_FN
    + """
if ARGV[4] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[4])
redis.call('INCR', KEYS[5])
redis.call('INCR', KEYS[6])
if ARGV[2] ~= '' then set_status(ARGV[2], '3', ARGV[3], 'null', '86400') end
return 1
"""
)

#: Recover the job a (dead) worker holds: only if the record is still the one read.
#:
#: KEYS: worker key, failed list, stat:failed, stat:processed, queues set, target queue key
#: ARGV: expected record, mode ('fail'/'requeue'/'handled'), failure JSON, queue name,
#:       payload to requeue, status key or '', now
#: Returns 1 when done, 0 when the record changed (someone else recovered it).
RECOVER = LuaScript(
    _STATUS_FN
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == 'requeue' then
  redis.call('SADD', KEYS[5], ARGV[4])
  redis.call('LPUSH', KEYS[6], ARGV[5])
  if ARGV[6] ~= '' then set_status(ARGV[6], '1', ARGV[7], 'null', '0') end
  return 1
end
if ARGV[2] == 'fail' then redis.call('RPUSH', KEYS[2], ARGV[3]) end
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[4])
if ARGV[6] ~= '' then set_status(ARGV[6], '3', ARGV[7], 'null', '86400') end
return 1
"""
)

#: Remove a worker's records (after its job, if any, was recovered).
#:
#: KEYS: workers set, worker key, started key, heartbeat hash, stat:processed:<id>,
#:       stat:failed:<id>
#: ARGV: worker id
#: Returns 1 if the worker key was empty, 0 if it still held a job (nothing removed).
UNREGISTER = LuaScript(
    """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[5], KEYS[6])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
"""
)

#: KEYS: key  ARGV: expected value -> 1 if deleted (it held that value), else 0
DELETE_IF = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)
