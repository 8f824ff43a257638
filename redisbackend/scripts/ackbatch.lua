-- ackbatch: ack many leases at once, each as ack.lua would; the items are independent.
-- KEYS: the common keys (common.lua).
-- ARGV: groups of leases, as ack_all in common.lua reads them, then the leases'
-- epoch and the request TTL ms or "".
-- Returns one number per lease, in order: 1 acked, 0 lost (not live); or {"lost"}
-- when the epoch is not the current one. A resent request returns what its first
-- run did.
--@common
local reqttl, ep = table.remove(ARGV), table.remove(ARGV)
local now = now_ms()
local seen = req_check(reqttl)
if seen then
  local out = {}
  for i = 1, #seen do out[i] = sbyte(seen, i) - 48 end
  return out
end
if not epoch_is(ep) then return {'lost'} end
local bad = ack_check(ARGV)
if bad then return redis.error_reply(bad) end
housekeep(now)
local out = ack_all(ARGV, now)
req_done(table.concat(out))
return out
