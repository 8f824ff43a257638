-- peek: read waiting tasks of a queue from its head, changing nothing else.
-- KEYS: the common keys (common.lua).
-- ARGV[1] queue  ARGV[2] offset  ARGV[3] count
-- Returns {now ms, blob..., the epoch or ""}.
--@common
local now = now_ms()
housekeep(now)
local off = tonumber(ARGV[2])
local r = redis.call('LRANGE', queue_key(ARGV[1]), off, off + tonumber(ARGV[3]) - 1)
table.insert(r, 1, now)
r[#r + 1] = epoch()
return r
