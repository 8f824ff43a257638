-- ack: end a live lease, remove its task, and maybe store its answer.
-- KEYS: the common keys (common.lua).
-- ARGV: one group of one lease, as ack_all in common.lua reads them.
-- Returns {now ms}, or {"lost"} when the lease is not live.
--@common
local now = now_ms()
housekeep(now)
if ack_all(ARGV, now)[1] == 0 then return {'lost'} end
return {now}
