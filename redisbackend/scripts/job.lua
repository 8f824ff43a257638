-- job: read a job record.
-- KEYS: the common keys (common.lua).
-- ARGV[1] task ID
-- Returns {now ms, the record's fields and values...}.
--@common
local now = now_ms()
housekeep(now)
local r = redis.call('HGETALL', job_key(ARGV[1]))
table.insert(r, 1, now)
return r
