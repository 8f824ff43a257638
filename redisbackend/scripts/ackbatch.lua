-- ackbatch: ack many leases at once, each as ack.lua would; the items are independent.
-- KEYS: the common keys (common.lua).
-- ARGV: groups of leases, as ack_all in common.lua reads them.
-- Returns one number per lease, in order: 1 acked, 0 lost (not live).
--@common
local now = now_ms()
housekeep(now)
return ack_all(ARGV, now)
