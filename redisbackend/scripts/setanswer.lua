-- setanswer: store an answer, replacing any value and TTL.
-- KEYS: the common keys (common.lua), KEYS[11] unused, KEYS[12] the answer.
-- ARGV[1] the answer as stored (storedAnswer)  ARGV[2] TTL ms
-- Returns {now ms}.
--@common
local now = now_ms()
redis.call('SET', KEYS[12], ARGV[1], 'PX', ARGV[2])
return {now}
