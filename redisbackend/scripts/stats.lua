-- stats: count tasks per queue and read the counters. It only reads: it never
-- housekeeps, and counts what housekeeping would find (backend.Inspector): a
-- delayed task that is due as waiting, and a lease past its deadline as waiting,
-- or as dead when its attempts are used up (put_back), and counts it in the
-- reclaimed and dead counters.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1..] queue names; none means every queue the namespace has seen.
-- Returns {now ms, counters as a flat field/value list,
--          then per queue: name, waiting, leased, delayed, dead}.
--@common
local now = now_ms()
local qs = ARGV
if #qs == 0 then qs = redis.call('SMEMBERS', K_QUEUES) end
local due, lapsed_n, spent = {}, {}, {} -- per queue: delayed due, leases expired, of which dead
-- The due delayed tasks are the first of the delayed zset.
local n = redis.call('ZCOUNT', K_DELAYED, '-inf', now_s)
for i = 0, n - 1, CHUNK do
  for _, m in ipairs(redis.call('ZRANGE', K_DELAYED, i, math.min(i + CHUNK, n) - 1)) do
    local q = unpack_n(ssub(m, PAD + 1), 1)[1]
    due[q] = (due[q] or 0) + 1
  end
end
local reclaimed, died = 0, 0 -- by housekeeping to come, in every queue
lapsed(now, function(q, b)
  lapsed_n[q] = (lapsed_n[q] or 0) + 1
  reclaimed = reclaimed + 1
  if blob_attempt(b) + 1 >= blob_max(b) then
    spent[q] = (spent[q] or 0) + 1
    died = died + 1
  end
end)
local counters = redis.call('HMGET', K_STATS, 'enqueued', 'delivered', 'acked', 'released',
  'reclaimed', 'deduped', 'dead')
counters[5] = tonumber(counters[5] or '0') + reclaimed
counters[7] = tonumber(counters[7] or '0') + died
local out = {now, counters}
for _, q in ipairs(qs) do
  local c = redis.call('HMGET', K_STATS, ST_LEASED .. q, ST_DELAYED .. q, ST_DEAD .. q)
  local d, l, s = due[q] or 0, lapsed_n[q] or 0, spent[q] or 0
  out[#out + 1] = q
  out[#out + 1] = redis.call('LLEN', queue_key(q)) + d + l - s
  out[#out + 1] = tonumber(c[1] or '0') - l
  out[#out + 1] = tonumber(c[2] or '0') - d
  out[#out + 1] = tonumber(c[3] or '0') + s
end
return out
