-- getanswer: read an answer, and with refresh reset its TTL to the full TTL it was
-- stored with.
-- KEYS: the common keys (common.lua).
-- ARGV[1] digest of the task key  ARGV[2] "1" to refresh
-- Returns {now ms, value, ok, ttl ms}, or {now ms} when there is no answer.
--@common
local now = now_ms()
housekeep(now)
local k = answer_key(ARGV[1])
local s = redis.call('GET', k)
if not s then return {now} end
local c = string.find(s, ':', 2, true)
if not c then return {now, s, '', ''} end -- not an answer: Go reports it corrupt
local ttl = string.sub(s, 2, c - 1)
if ARGV[2] == '1' then redis.call('PEXPIRE', k, ttl) end
return {now, string.sub(s, c + 1), string.sub(s, 1, 1), ttl}
