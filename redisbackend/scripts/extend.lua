-- extend: move a live lease's deadline to now + a duration.
-- KEYS: the common keys (common.lua).
-- ARGV[1] token  ARGV[2] task ID  ARGV[3] lease ms  ARGV[4] the lease's epoch
-- ARGV[5] request TTL ms or ""
-- Returns {now ms, deadline ms}, or {"lost"} when the lease is not live. A resent
-- request returns what its first run did.
--@common
local now = now_ms()
local seen = req_check(ARGV[5])
if seen then return {now, tonumber(seen)} end
if not epoch_is(ARGV[4]) then return {'lost'} end
housekeep(now)
local q, _, dl, rec = take_lease(ARGV[1], ARGV[2], now)
if not q then return {'lost'} end
local deadline = now_up + tonumber(ARGV[3])
if deadline ~= dl then
  local bk = lease_bucket(tonumber(ARGV[1]))
  redis.call('HSET', lease_key(bk), ARGV[1], enc48(deadline) .. string.sub(rec, 7))
  group_sub(bk, dl, 1)
  new_event(K_LEASES, group_add(bk, deadline, 1))
end
req_done(itoa(deadline))
return {now, deadline}
