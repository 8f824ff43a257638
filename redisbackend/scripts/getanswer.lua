-- getanswer: read an answer and reset its TTL to the full TTL it was stored with.
-- KEYS[1] the answer hash.
-- ARGV: none.
-- Returns {value, ok, ttl ms}, or {} when there is no answer.
local r = redis.call('HMGET', KEYS[1], 'v', 'ok', 'ttl')
if not r[3] then return {} end
redis.call('PEXPIRE', KEYS[1], r[3])
return r
