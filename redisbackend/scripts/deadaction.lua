-- deadaction: requeue or purge dead tasks.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] "requeue" or "purge"  ARGV[2] "1" for every dead task
-- ARGV[3..#ARGV-1] task IDs, with their epochs  ARGV[#ARGV] request TTL ms or ""
-- Returns {now ms, tasks moved or deleted}. A resent request returns what its
-- first run did.
--@common
local reqttl = table.remove(ARGV)
local now = now_ms()
local seen = req_check(reqttl)
if seen then return {now, tonumber(seen)} end
housekeep(now)
local ids = {}
if ARGV[2] == '1' then
  ids = redis.call('ZRANGE', K_DEADZ, 0, -1)
else
  -- An ID of another epoch names no task of this one.
  local cur = epoch() .. '-'
  for i = 3, #ARGV do
    local id = ARGV[i]
    if cur ~= '-' and ssub(id, 1, #cur) == cur then ids[#ids + 1] = ssub(id, #cur + 1) end
  end
end
local n = 0
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', K_DEAD, id)
  if rec then
    redis.call('HDEL', K_DEAD, id)
    redis.call('ZREM', K_DEADZ, id)
    local f = unpack_n(rec, DEAD_FIELDS)
    local q, b = f[1], f[DEAD_FIELDS + 1]
    bump(ST_DEAD .. q, -1)
    if ARGV[1] == 'requeue' then
      b = blob_set_attempt(b, 0)
      redis.call('RPUSH', queue_key(q), b)
      index_add(b)
      if blob_tracked(b) then
        local k = job_key(blob_id(b))
        if redis.call('EXISTS', k) == 1 then
          redis.call('HSET', k, 'status', 'pending', 'attempts', 0)
          redis.call('PERSIST', k)
        else
          redis.call('HSET', k, 'status', 'pending', 'attempts', 0, 'queue', q, 'type', f[4],
            'enq', blob_enqueued(b), 'ttl', f[5])
        end
      end
      wake(q, 1)
    end
    n = n + 1
  end
end
if n > 0 then req_done(itoa(n)) end
return {now, n}
