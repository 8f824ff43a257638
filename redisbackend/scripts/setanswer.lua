-- setanswer: store an answer, replacing any value and TTL.
-- KEYS: the common keys (common.lua).
-- ARGV[1] digest of the task key  ARGV[2] value  ARGV[3] "1" ok / "0" error
-- ARGV[4] TTL ms
-- Returns {now ms}.
--@common
local now = now_ms()
housekeep(now)
local k = answer_key(ARGV[1])
redis.call('DEL', k)
redis.call('HSET', k, 'v', ARGV[2], 'ok', ARGV[3], 'ttl', ARGV[4])
redis.call('PEXPIRE', k, ARGV[4])
return {now}
