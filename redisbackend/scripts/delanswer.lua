-- delanswer: delete an answer.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] digest of the task key  ARGV[2] request TTL ms or ""
-- Returns {now ms, 1 when deleted or 0 when there was none}. A resent request
-- returns what its first run did.
--@common
local now = now_ms()
local seen = req_check(ARGV[2])
if seen then return {now, tonumber(seen)} end
housekeep(now)
local n = redis.call('DEL', answer_key(ARGV[1]))
if n > 0 then req_done('1') end
return {now, n}
