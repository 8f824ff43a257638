-- release: end a live lease and put its task back, delay it, or dead-letter it.
-- KEYS: the common keys (common.lua).
-- ARGV[1] token  ARGV[2] task ID  ARGV[3] "1" to the tail  ARGV[4] delay ms
-- ARGV[5] error (job last error and dead reason)  ARGV[6] "1" to keep the attempt
-- ARGV[7] "1" to dead-letter now
-- Returns {now ms}, or {"lost"} when the lease is not live.
--@common
local now = now_ms()
housekeep(now)
local q, b = take_lease(ARGV[1], ARGV[2])
if not q then return {'lost'} end
drop_lease(ARGV[1], q)
bump('released', 1)
local attempt = blob_attempt(b)
if ARGV[6] ~= '1' then attempt = attempt + 1 end
local reason = ARGV[5]
if reason == '' then reason = 'dead-lettered' end
if ARGV[7] == '1' then
  to_dead(q, blob_set_attempt(b, attempt), reason, now)
  return {now}
end
local delay = tonumber(ARGV[4])
if delay > 0 and attempt < blob_max(b) then
  b = blob_set_attempt(b, attempt)
  redis.call('ZADD', K_DELAYED, now + delay, pad16(tonumber(blob_id(b))) .. pack(q, b))
  bump('d:' .. q, 1)
  job_set(b, 'status', 'pending', 'attempts', attempt, 'err', ARGV[5])
  return {now}
end
if attempt >= blob_max(b) then
  to_dead(q, blob_set_attempt(b, attempt), reason, now)
  return {now}
end
requeue(q, b, attempt, ARGV[5], now, ARGV[3] == '1')
return {now}
