-- getanswer: read an answer and the time it has left, and with refresh reset its
-- TTL to the full TTL it was stored with.
-- KEYS: the common keys (common.lua), KEYS[11] unused, KEYS[12] the answer.
-- ARGV[1] "1" to refresh
-- Returns {now ms, value, ok, ttl ms, ms left}, or {now ms} when there is no answer.
-- The time left is PTTL's, or the full TTL after a refresh.
--@common
local now = now_ms()
local k = KEYS[12]
local s = redis.call('GET', k)
if not s then return {now} end
local c = string.find(s, ':', 2, true)
if not c then return {now, s, '', '', ''} end -- not an answer: Go reports it corrupt
local ttl = string.sub(s, 2, c - 1)
local left = ttl
if ARGV[1] == '1' then
  redis.call('PEXPIRE', k, ttl)
else
  left = redis.call('PTTL', k)
end
return {now, string.sub(s, c + 1), string.sub(s, 1, 1), ttl, left}
