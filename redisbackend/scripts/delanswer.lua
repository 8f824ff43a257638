-- delanswer: delete an answer.
-- KEYS: the common keys (common.lua).
-- ARGV[1] digest of the task key
-- Returns {now ms, 1 when deleted or 0 when there was none}.
--@common
local now = now_ms()
housekeep(now)
return {now, redis.call('DEL', answer_key(ARGV[1]))}
