-- setanswer: store an answer, replacing any value and TTL.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] digest of the task key  ARGV[2] the answer as stored (storedAnswer)
-- ARGV[3] TTL ms
-- Returns {now ms}.
--@common
local now = now_ms()
housekeep(now)
redis.call('SET', answer_key(ARGV[1]), ARGV[2], 'PX', ARGV[3])
return {now}
