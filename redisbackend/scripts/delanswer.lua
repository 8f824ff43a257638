-- delanswer: delete an answer.
-- KEYS: the common keys (common.lua), the optional request key KEYS[11] (else
-- unused), KEYS[12] the answer.
-- ARGV[1] request TTL ms or ""
-- Returns {now ms, 1 when deleted or 0 when there was none}. A resent request
-- returns what its first run did.
--@common
local now = now_ms()
local seen = req_check(ARGV[1])
if seen then return {now, tonumber(seen)} end
housekeep(now) -- an Admin call, as Reclaim is (backend/doc.go)
local n = redis.call('DEL', KEYS[12])
if n > 0 then req_done('1') end
return {now, n}
