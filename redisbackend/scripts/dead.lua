-- dead: list dead-lettered tasks, oldest first. It only reads, and never
-- housekeeps.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] offset  ARGV[2] count
-- Returns {now ms, pack(queue, reason, died ms, job type, job TTL) .. blob..., the
-- epoch or ""}.
--@common
local now = now_ms()
local off = tonumber(ARGV[1])
local ids = redis.call('ZRANGE', K_DEADZ, off, off + tonumber(ARGV[2]) - 1)
local out = {now}
for _, id in ipairs(ids) do out[#out + 1] = redis.call('HGET', K_DEAD, id) end
out[#out + 1] = epoch()
return out
