-- stats: count tasks per queue and read the counters.
-- KEYS: the common keys (common.lua).
-- ARGV[1..] queue names; none means every queue the namespace has seen.
-- Returns {now ms, counters as a flat field/value list,
--          then per queue: name, waiting, leased, delayed, dead}.
--@common
local now = now_ms()
housekeep(now)
local qs = ARGV
if #qs == 0 then qs = redis.call('SMEMBERS', K_QUEUES) end
local out = {now, redis.call('HMGET', K_STATS, 'enqueued', 'delivered', 'acked', 'released',
  'reclaimed', 'deduped', 'dead')}
for _, q in ipairs(qs) do
  local c = redis.call('HMGET', K_STATS, 'l:' .. q, 'd:' .. q, 'x:' .. q)
  out[#out + 1] = q
  out[#out + 1] = redis.call('LLEN', queue_key(q))
  out[#out + 1] = tonumber(c[1] or '0')
  out[#out + 1] = tonumber(c[2] or '0')
  out[#out + 1] = tonumber(c[3] or '0')
end
return out
