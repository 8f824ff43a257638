-- deadaction: requeue or purge dead tasks.
-- KEYS: the common keys (common.lua).
-- ARGV[1] "requeue" or "purge"  ARGV[2] "1" for every dead task  ARGV[3..] task IDs
-- Returns {now ms, tasks moved or deleted}.
--@common
local now = now_ms()
housekeep(now)
local ids = {}
if ARGV[2] == '1' then
  ids = redis.call('ZRANGE', K_DEADZ, 0, -1)
else
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
end
local n = 0
for _, id in ipairs(ids) do
  local rec = redis.call('HGET', K_DEAD, id)
  if rec then
    redis.call('HDEL', K_DEAD, id)
    redis.call('ZREM', K_DEADZ, id)
    local f = unpack_n(rec, 5)
    local q, b = f[1], f[6]
    bump('x:' .. q, -1)
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
return {now, n}
