-- setanswer: store an answer, replacing any value and TTL.
-- KEYS: the common keys (common.lua).
-- ARGV[1] digest of the task key  ARGV[2] value  ARGV[3] "1" ok / "0" error
-- ARGV[4] TTL ms
-- Returns {now ms}.
--@common
local now = now_ms()
housekeep(now)
answer_set(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
return {now}
