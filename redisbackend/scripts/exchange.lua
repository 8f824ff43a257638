-- exchange: settle leases as settle.lua does, then lease tasks as dequeue.lua
-- does, in one call: a worker hands in what its handlers finished and takes its
-- next tasks in one round trip.
-- KEYS: dequeue.lua's. KEYS[11], the request key, is settle's; dequeue's is
-- KEYS[11] .. 'd'. Without a request TTL neither is touched.
-- ARGV[1] n; ARGV[2 .. 1 + n] settle.lua's arguments and ARGV[2 + n .. #ARGV - 1]
-- dequeue.lua's, each without its request TTL; ARGV[#ARGV] request TTL ms or "".
-- Returns {settle.lua's reply, dequeue.lua's reply}; or settle.lua's error, before
-- anything changed; or dequeue.lua's, after the settlements took effect.
--@common
--@part settle
--@part dequeue
local n, ttl = tonumber(ARGV[1]), ARGV[#ARGV]
if not n or n < 2 or n + 6 > #ARGV then return redis.error_reply('ERR keyq: bad exchange argument count') end
-- sub returns t[i .. j] as a new table: made by a constructor from unpack, sized
-- once, where Lua's stack takes that many values (about 8,000); else filled one
-- by one, growing as it goes.
local function sub(t, i, j)
  if j - i < 4000 then return {unpack(t, i, j)} end
  local out = {}
  for k = i, j do out[k - i + 1] = t[k] end
  return out
end
local sa = sub(ARGV, 2, n + 1)
sa[n + 1] = ttl
local s = part_settle(sub(KEYS, 1, 11), sa)
if s.err then return s end
KEYS[11] = KEYS[11] .. 'd'
local d = part_dequeue(KEYS, sub(ARGV, n + 2, #ARGV))
if d.err then return d end
return {s, d}
