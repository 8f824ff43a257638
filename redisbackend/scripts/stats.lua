-- stats: count tasks per queue and read the counters. It only reads: it never
-- housekeeps, and counts a delayed task that is due, and a lease past its
-- deadline, as waiting (backend.Inspector).
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1..] queue names; none means every queue the namespace has seen, and every
-- paused queue.
-- Returns {now ms, counters as a flat field/value list,
--          then per queue: name, waiting, leased, delayed, dead, 1 if paused else 0}.
--@common
local now = now_ms()
local stopped = paused() or {}
local qs = ARGV
if #qs == 0 then
  qs = redis.call('SMEMBERS', K_QUEUES)
  -- Pause adds its queues to the set; a set lost with data may lack one.
  local has = {}
  for _, q in ipairs(qs) do has[q] = true end
  for q in pairs(stopped) do
    if not has[q] then qs[#qs + 1] = q end
  end
end
local due, lapsed_n = {}, {} -- per queue: delayed tasks due, leases expired
-- The due delayed tasks are the first of the delayed zset.
local n = redis.call('ZCOUNT', K_DELAYED, '-inf', now_s)
for i = 0, n - 1, CHUNK do
  for _, m in ipairs(redis.call('ZRANGE', K_DELAYED, i, math.min(i + CHUNK, n) - 1)) do
    local q = unpack_n(ssub(m, PAD + 1), 1)[1]
    due[q] = (due[q] or 0) + 1
  end
end
lapsed(now, function(q) lapsed_n[q] = (lapsed_n[q] or 0) + 1 end)
local out = {now, redis.call('HMGET', K_STATS, 'enqueued', 'delivered', 'acked', 'released',
  'reclaimed', 'deduped', 'dead', 'cancelled')}
for _, q in ipairs(qs) do
  local c = redis.call('HMGET', K_STATS, ST_LEASED .. q, ST_DELAYED .. q, ST_DEAD .. q)
  local d, l = due[q] or 0, lapsed_n[q] or 0
  out[#out + 1] = q
  out[#out + 1] = redis.call('LLEN', queue_key(q)) + d + l
  out[#out + 1] = tonumber(c[1] or '0') - l
  out[#out + 1] = tonumber(c[2] or '0') - d
  out[#out + 1] = tonumber(c[3] or '0')
  out[#out + 1] = stopped[q] and 1 or 0
end
return out
