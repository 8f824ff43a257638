-- ack: end a live lease, remove its task, and maybe store its answer.
-- KEYS: the common keys (common.lua).
-- ARGV: one group of one lease, as ack_all in common.lua reads them, then the
-- lease's epoch and the request TTL ms or "".
-- Returns {now ms}, or {"lost"} when the lease is not live. A resent request
-- returns what its first run did.
--@common
local reqttl, ep = table.remove(ARGV), table.remove(ARGV)
local now = now_ms()
if req_check(reqttl) then return {now} end
if not epoch_is(ep) then return {'lost'} end
local bad = ack_check(ARGV)
if bad then return redis.error_reply(bad) end
housekeep(now)
if ack_all(ARGV, now)[1] == 0 then return {'lost'} end
req_done('1')
return {now}
