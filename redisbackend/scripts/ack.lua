-- ack: end a live lease, remove its task, and maybe store its answer.
-- KEYS: the common keys (common.lua).
-- ARGV[1] token  ARGV[2] task ID  ARGV[3] final job status  ARGV[4] job error
-- ARGV[5] "1" to store an answer, then ARGV[6] value, ARGV[7] "1" ok / "0" error,
-- ARGV[8] answer TTL ms.
-- Returns {now ms}, or {"lost"} when the lease is not live.
--@common
local now = now_ms()
housekeep(now)
local q, b = take_lease(ARGV[1], ARGV[2], now)
if not q then return {'lost'} end
drop_lease(ARGV[1], q)
local digest = blob_digest(b)
index_add(digest, -1)
if ARGV[5] == '1' then
  local ak = answer_key(digest)
  redis.call('DEL', ak)
  redis.call('HSET', ak, 'v', ARGV[6], 'ok', ARGV[7], 'ttl', ARGV[8])
  redis.call('PEXPIRE', ak, ARGV[8])
end
job_end(b, ARGV[3], now, ARGV[4])
bump('acked', 1)
return {now}
