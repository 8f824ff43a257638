-- extend: move a live lease's deadline to now + a duration.
-- KEYS: the common keys (common.lua).
-- ARGV[1] token  ARGV[2] task ID  ARGV[3] lease ms
-- Returns {now ms, deadline ms}, or {"lost"} when the lease is not live.
--@common
local now = now_ms()
housekeep(now)
local q = take_lease(ARGV[1], ARGV[2], now)
if not q then return {'lost'} end
local deadline = now + tonumber(ARGV[3])
local m = pad16(tonumber(ARGV[1]))
redis.call('ZADD', K_LEASES, deadline, m)
new_event(K_LEASES, m)
return {now, deadline}
