-- peek: read waiting tasks of a queue from its head, as the queue stands: it only
-- reads, and never housekeeps.
-- KEYS: the common keys (common/begin.lua), KEYS[11] unused (the prefix key),
-- KEYS[12] the queue's list.
-- ARGV[1] queue  ARGV[2] offset  ARGV[3] count
-- Returns {now ms, blob..., the epoch or ""}.
--@common
local now = now_ms()
local off = tonumber(ARGV[2])
local r = redis.call('LRANGE', KEYS[12], off, off + tonumber(ARGV[3]) - 1)
table.insert(r, 1, now)
r[#r + 1] = epoch()
return r
