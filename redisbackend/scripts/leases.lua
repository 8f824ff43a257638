-- leases: list live leases, earliest deadline first. Expired leases that
-- housekeeping has not reached yet are not live.
-- KEYS: the common keys (common.lua).
-- ARGV[1] count
-- Returns {now ms, then per lease: token, deadline ms, pack(queue) .. blob}.
--@common
local now = now_ms()
housekeep(now)
local r = redis.call('ZRANGEBYSCORE', K_LEASES, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {now}
for i = 1, #r, 2 do
  local token = itoa(tonumber(r[i]))
  out[#out + 1] = token
  out[#out + 1] = r[i + 1]
  out[#out + 1] = redis.call('HGET', K_LEASE, token)
end
return out
