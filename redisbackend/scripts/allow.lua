-- allow: GCRA rate limiter; one token every interval, up to burst at once.
-- KEYS[1] the limiter's theoretical arrival time (µs, string).
-- ARGV[1] interval µs  ARGV[2] burst
-- Returns 0 when a token was granted, else µs to wait before trying again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then return allow_at - now end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 0
