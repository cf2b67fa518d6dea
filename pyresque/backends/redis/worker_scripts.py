"""The worker's Lua scripts: reserve, fail, recover, claim, unregister. Each is one round trip.

The bytes they write are those of the stores: ``worker:<id>`` is Ruby's
``{"queue","run_at","payload"}`` plus ``"worker"`` (``host:pid``, node-resque's worker
name, for its ``allWorkingOn``) and ``"reservation"`` (a token the worker draws for
each reserve; Ruby, PHP and node ignore it); status JSON is :data:`STATUS_SET`'s
(the one status writer: the worker's scripts share its Lua); failure records come
already encoded by :func:`~pyresque.backends.redis.failure.encode_failure`.

**Repeats.** The worker repeats a step whose reply was lost (the script may have run):
each script below says what such a repeat does, and every one of them is safe. The
reservation token is what makes the hot path safe: finishing a job acts only on the
record that carries that job's token, and a reserve that finds its own new token
already recorded hands back the job it took the first time instead of taking another.

A payload that is not a JSON object (msgpack, or garbage) cannot be embedded in the
``worker:<id>`` JSON as is: it is stored as ``{"class":null,"raw_hex":"<hex>"}`` so the
record stays valid JSON for resque-web and the raw bytes are never lost.

Status keys of tracked jobs are built inside RESERVE from a prefix (only the script
knows the job id): fine on one Redis node, which is what Resque runs on.

**Waiting.** For a tracked job only (its status key exists), a final status write also
pushes ``<status key>:done`` (kept :data:`DONE_TTL` s) in the same script, and a
non-final one deletes it; ``tracked(id).wait()`` blocks on that list
(:mod:`pyresque.backends.redis.status`). An untracked job costs one ``GET`` of its
status key, as RESERVE pops it; RESERVE's reply says it was untracked, and the
worker finishes it without its status key (no second ``GET``).

**Cost.** The hot step (RESERVE, an untracked job finished and the next one taken)
runs 6 commands in one EVALSHA; what each piece costs Redis is measured by
``bench/bench_redis_cost.py`` and written up in docs/performance.md.
"""

from __future__ import annotations

from pyresque.backends.redis.scripts import LuaScript

__all__ = ["CLAIM", "DELETE_IF", "DONE_TTL", "FAIL", "RECOVER", "RESERVE", "STATUS_SET", "UNREGISTER"]

#: Seconds the ``<status key>:done`` notification of a final status lives: waiters that
#: read the status before it was final find the notification there when they block.
DONE_TTL = 600

_STATUS_FN = (
    """
local DONE_TTL = """
    + str(DONE_TTL)
    + """
local function set_status(key, st, now, result, ttl)
  local old = redis.call('GET', key)
  if not old then return false end
  local started = string.match(old, '"started":(%-?[%d%.eE%+%-]+)')
  local s = '{"status":' .. st .. ',"updated":' .. now
  if started then s = s .. ',"started":' .. started end
  s = s .. ',"result":' .. result .. '}'
  local done = key .. ':done'
  if ttl ~= '0' then
    redis.call('SET', key, s, 'EX', ttl)
    redis.call('RPUSH', done, st .. ':' .. now)
    redis.call('EXPIRE', done, DONE_TTL)
  else
    redis.call('SET', key, s)
    redis.call('DEL', done)
  end
  return true
end
local function holds(record, token)
  if not record or token == '' then return false end
  local tail = ',"reservation":"' .. token .. '"}'
  return string.sub(record, -#tail) == tail
end
"""
)

#: Write a tracked job's status as the worker's scripts do (only if tracked; keeps
#: ``started``; a final status pushes the ``:done`` notification, any other clears it).
#:
#: KEYS: status key  ARGV: status int, updated epoch, result JSON, ttl seconds (0 = none)
#: Returns 1 if written, 0 if the job is not tracked.
#:
#: Repeat after a lost reply: writes the same status again and, for a final one, pushes
#: one more notification (waiters only look for one being there: harmless).
STATUS_SET = LuaScript(
    _STATUS_FN
    + """
if set_status(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 1 end
return 0
"""
)

#: Finish the previous job (optional) and reserve the next, atomically.
#:
#: KEYS: worker key, stat:processed, stat:processed:<id>, workers set, started key,
#:       heartbeat hash, queue keys ...
#: ARGV: [1] finish ('1'/'0'), [2] status key of the finished job or '' (untracked: the
#:       caller knows from the reply that reserved it), [3] its result JSON, [4] now
#:       (epoch s), [5] run_at, [6] worker name as a JSON string, [7] status key prefix,
#:       [8] status key suffix, [9] reserve ('1'/'0'), [10] token of the job being
#:       finished ('' = whatever is held: the test kit), [11] token for the new
#:       reservation, [12] worker id, [13...] queue names as JSON strings (aligned with
#:       the queue keys)
#: Returns {finished} or {finished, index, payload, tracked} (1-based queue index;
#: tracked 1 when the job's status key existed as it was popped, so its status was
#: set WORKING, 0 when it did not: an untracked job) or {finished, -1, held record}
#: (the worker key holds another job: nothing popped), with finished 0 (nothing
#: asked), 1 (recorded done) or -1 (the job is no longer held by this worker: pruned
#: while it ran, so its outcome is not this worker's to write).
#: A popped job re-registers a worker missing from the workers set in the same step
#: (Redis lost its data, or it was pruned while paused): never a held job without a
#: registered worker. (Checked unless the step just finished a job under this
#: worker's own token: its record was there, so its registration is too.)
#:
#: The hot step (untracked job finished, next one popped) runs 6 commands: GET of the
#: record (the token check), the two INCRs, LPOP, GET of the new job's status key (is
#: it tracked?), SET of the new record over the old one (no DEL first).
#:
#: Repeat after a lost reply: the record then carries the new token, so the repeat
#: reports the job finished and returns the reservation the first call made (nothing
#: counted twice, nothing popped twice; tracked reads 1, which only costs the finish a
#: status GET). Finishing alone (no reserve) repeated finds no record and reports -1,
#: which the caller, knowing it repeated, reads as done.
RESERVE = LuaScript(
    _STATUS_FN
    + """
local held = redis.call('GET', KEYS[1])
-- the usual finish: the record carries the finished job's token (then it cannot carry
-- the new one, a repeat's sign, unless the caller passed one token twice)
local mine = ARGV[1] == '1' and ARGV[10] ~= '' and ARGV[10] ~= ARGV[11] and holds(held, ARGV[10])
local again = not mine and holds(held, ARGV[11])
local finished = 0
local release = false
if ARGV[1] == '1' then
  if again then
    finished = 1
  elseif mine or ARGV[10] == '' then
    redis.call('INCR', KEYS[2])
    redis.call('INCR', KEYS[3])
    if ARGV[2] ~= '' then set_status(ARGV[2], '4', ARGV[4], ARGV[3], '86400') end
    finished = 1
    held = false
    release = true
  else
    finished = -1
  end
end
if ARGV[9] ~= '1' then
  if release then redis.call('DEL', KEYS[1]) end
  return {finished}
end
if again then
  local tail = ',"worker":' .. ARGV[6] .. ',"reservation":"' .. ARGV[11] .. '"}'
  for i = 7, #KEYS do
    local head = '{"queue":' .. ARGV[i + 6] .. ',"run_at":"' .. ARGV[5] .. '","payload":'
    if string.sub(held, 1, #head) == head then
      local body = string.sub(held, #head + 1, #held - #tail)
      local hex = string.match(body, '^{"class":null,"raw_hex":"(%x*)"}$')
      if hex then
        body = string.gsub(hex, '..', function(h) return string.char(tonumber(h, 16)) end)
      end
      return {finished, i - 6, body, 1}
    end
  end
end
if held then return {finished, -1, held} end
for i = 7, #KEYS do
  local payload = redis.call('LPOP', KEYS[i])
  if payload then
    local ok, decoded = pcall(cjson.decode, payload)
    local body
    local tracked = 0
    if ok and type(decoded) == 'table' and string.sub(payload, 1, 1) == '{' then
      body = payload
      local id = decoded['id']
      if type(id) == 'string' and id ~= '' and
        set_status(ARGV[7] .. id .. ARGV[8], '2', ARGV[4], 'null', '0') then
        tracked = 1
      end
    else
      body = '{"class":null,"raw_hex":"' .. string.gsub(payload, '.', function(c)
        return string.format('%02x', string.byte(c)) end) .. '"}'
    end
    -- over the finished job's record, if any: one SET, no DEL before it
    redis.call('SET', KEYS[1], '{"queue":' .. ARGV[i + 6] .. ',"run_at":"' .. ARGV[5] ..
      '","payload":' .. body .. ',"worker":' .. ARGV[6] .. ',"reservation":"' .. ARGV[11] .. '"}')
    -- a job just finished under our token proves the records are there: no check then
    if finished ~= 1 and redis.call('SADD', KEYS[4], ARGV[12]) == 1 then
      -- started (Ruby's Time#to_s) and a first heartbeat, from run_at (2026-11-23T17:23:27Z)
      local day, clock = string.sub(ARGV[5], 1, 10), string.sub(ARGV[5], 12, 19)
      redis.call('SET', KEYS[5], day .. ' ' .. clock .. ' +0000')
      redis.call('HSET', KEYS[6], ARGV[12], day .. 'T' .. clock .. '+00:00')
    end
    return {finished, i - 6, payload, tracked}
  end
end
if release then redis.call('DEL', KEYS[1]) end
return {finished}
"""
)

#: Record a failed job and release it.
#:
#: KEYS: worker key, failed list, stat:failed, stat:failed:<id>, stat:processed,
#:       stat:processed:<id>
#: ARGV: failure JSON ('' when a plugin handled it), status key or '', now,
#:       token of the failed job's reservation ('' = whatever is held: the test kit)
#: Returns 1 when recorded, 0 when the worker no longer holds that job (nothing written).
#: The status goes FAILED, except after a failure a plugin handled by putting the job
#: back (the retry plugin sets it WAITING first): a WAITING status is left as it is, so
#: ``tracked(id).wait()`` keeps waiting for the retry's outcome.
#:
#: Repeat after a lost reply: the record is gone, so the repeat writes nothing and
#: returns 0 (never a failure recorded twice); the caller, knowing it repeated, reads
#: it as recorded.
FAIL = LuaScript(
    _STATUS_FN
    + """
if ARGV[4] ~= '' and not holds(redis.call('GET', KEYS[1]), ARGV[4]) then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[1] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[4])
redis.call('INCR', KEYS[5])
redis.call('INCR', KEYS[6])
if ARGV[2] ~= '' then
  local put_back = false
  if ARGV[1] == '' then
    local cur = redis.call('GET', ARGV[2])
    put_back = cur and string.sub(cur, 1, 12) == '{"status":1,'
  end
  if not put_back then set_status(ARGV[2], '3', ARGV[3], 'null', '86400') end
end
return 1
"""
)

#: Recover the job a (dead) worker holds: only if the record is still the one read.
#:
#: KEYS: worker key, failed list, stat:failed, stat:processed, queues set, target queue key
#: ARGV: expected record, mode ('fail'/'requeue'/'handled'), failure JSON, queue name,
#:       payload to requeue, status key or '', now
#: Returns 1 when done, 0 when the record changed (someone else recovered it). As in
#: FAIL, a 'handled' job whose status a retry set WAITING keeps that status.
#:
#: Repeat after a lost reply: the record is gone, so the repeat does nothing (0).
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
if ARGV[6] ~= '' then
  local cur = ARGV[2] == 'handled' and redis.call('GET', ARGV[6])
  if not (cur and string.sub(cur, 1, 12) == '{"status":1,') then
    set_status(ARGV[6], '3', ARGV[7], 'null', '86400')
  end
end
return 1
"""
)

#: Take or refresh a worker id's lease (a live worker process owns its id).
#:
#: KEYS: lease key  ARGV: instance nonce, detail (``<seq>:<pid namespace>``), ttl (ms)
#: Returns nil when the lease is this instance's now, or the other owner's value.
#:
#: Repeat after a lost reply: the lease is already ours, so it is refreshed again.
CLAIM = LuaScript(
    """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, #ARGV[1] + 1) ~= ARGV[1] .. ':' then return v end
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'PX', ARGV[3])
return nil
"""
)

#: Remove a worker's records (after its job, if any, was recovered).
#:
#: KEYS: workers set, worker key, started key, heartbeat hash, stat:processed:<id>,
#:       stat:failed:<id>, lease key
#: ARGV: worker id, instance nonce ('' = whoever holds the lease: pruning a dead worker)
#: Returns 1 if the worker key was empty, 0 if it still held a job (nothing removed).
#:
#: Repeat after a lost reply: everything is already gone; it removes nothing more (1).
UNREGISTER = LuaScript(
    """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3], KEYS[5], KEYS[6])
redis.call('HDEL', KEYS[4], ARGV[1])
local lease = redis.call('GET', KEYS[7])
if lease and (ARGV[2] == '' or string.sub(lease, 1, #ARGV[2] + 1) == ARGV[2] .. ':') then
  redis.call('DEL', KEYS[7])
end
return 1
"""
)

#: KEYS: key  ARGV: expected value -> 1 if deleted (it held that value), else 0
#:
#: Repeat after a lost reply: the key is gone (or someone else's): nothing happens.
DELETE_IF = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)
