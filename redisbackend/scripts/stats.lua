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
-- Every queue the namespace has seen, and every paused queue: pause adds its
-- queues to the set, but a set lost with data may lack one. The counters of the
-- calls every task goes through sum theirs (lua.StatEnqueued).
local all, has = redis.call('SMEMBERS', K_QUEUES), {}
for _, q in ipairs(all) do has[q] = true end
for q in pairs(stopped) do
  if not has[q] then all[#all + 1] = q end
end
local qs = ARGV
if #qs == 0 then qs = all end
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
-- The namespace's counters: enqueued, delivered and acked are its fields, where
-- older builds counted them, plus every queue's.
local c = redis.call('HMGET', K_STATS, 'enqueued', 'delivered', 'acked', 'released', 'reclaimed', 'deduped',
  'dead', 'cancelled')
local function num(v) return tonumber(v or '0') or 0 end
local tot, per = {num(c[1]), num(c[2]), num(c[3])}, {}
local function fields(q)
  return redis.call('HMGET', K_STATS, ST_ENQUEUED .. q, ST_DELIVERED .. q, ST_ACKED .. q, ST_LEASED .. q,
    ST_DELAYED .. q, ST_DEAD .. q)
end
for _, q in ipairs(all) do
  local f = fields(q)
  per[q] = f
  for i = 1, 3 do tot[i] = tot[i] + num(f[i]) end
end
c[1], c[2], c[3] = itoa(tot[1]), itoa(tot[2]), itoa(tot[3])
local out = {now, c}
for _, q in ipairs(qs) do
  local f = per[q] or fields(q)
  local d, l = due[q] or 0, lapsed_n[q] or 0
  out[#out + 1] = q
  out[#out + 1] = redis.call('LLEN', queue_key(q)) + d + l
  out[#out + 1] = num(f[4]) + num(f[2]) - num(f[3]) - l -- leased (lua.StatDelivered)
  out[#out + 1] = num(f[5]) - d
  out[#out + 1] = num(f[6])
  out[#out + 1] = stopped[q] and 1 or 0
end
return out
