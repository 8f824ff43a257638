-- release: end a live lease and put its task back, delay it, or dead-letter it.
-- KEYS: the common keys (common.lua).
-- ARGV[1] token  ARGV[2] task ID  ARGV[3] "1" to the tail  ARGV[4] delay ms
-- ARGV[5] error (job last error and dead reason)  ARGV[6] "1" to keep the attempt
-- ARGV[7] "1" to dead-letter now  ARGV[8] the lease's epoch
-- ARGV[9] request TTL ms or ""
-- Returns {now ms}, or {"lost"} when the lease is not live. A resent request
-- returns what its first run did.
--@common
local now = now_ms()
if req_check(ARGV[9]) then return {now} end
if not epoch_is(ARGV[8]) then return {'lost'} end
local delay = tonumber(ARGV[4]) -- checked before any write: a script is not rolled back
if not delay then return redis.error_reply('ERR keyq: bad delay') end
housekeep(now)
local q, b, dl = take_lease(ARGV[1], ARGV[2], now)
if not q then return {'lost'} end
drop_lease(ARGV[1], q, dl)
bump('released', 1)
if ARGV[7] == '1' then
  local reason = ARGV[5]
  if reason == '' then reason = 'dead-lettered' end
  to_dead(q, b, reason, now)
else
  put_back(q, b, ARGV[6] == '1', delay, ARGV[3] == '1', ARGV[5], now)
end
req_done('1')
return {now}
