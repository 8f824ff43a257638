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
local sa, da = {}, {}
for i = 1, n do sa[i] = ARGV[i + 1] end
sa[n + 1] = ttl
for i = n + 2, #ARGV do da[i - n - 1] = ARGV[i] end
local s = part_settle({KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]}, sa)
if s.err then return s end
KEYS[11] = KEYS[11] .. 'd'
local d = part_dequeue(KEYS, da)
if d.err then return d end
return {s, d}
