-- getanswer: read an answer, and with refresh reset its TTL to the full TTL it was
-- stored with.
-- KEYS: the common keys (common.lua).
-- ARGV[1] digest of the task key  ARGV[2] "1" to refresh
-- Returns {now ms, value, ok, ttl ms}, or {now ms} when there is no answer.
--@common
local now = now_ms()
housekeep(now)
local k = answer_key(ARGV[1])
local r = redis.call('HMGET', k, 'v', 'ok', 'ttl')
if not r[3] then return {now} end
if ARGV[2] == '1' then redis.call('PEXPIRE', k, r[3]) end
return {now, r[1], r[2], r[3]}
