-- job: read a job record.
-- KEYS: the common keys (common.lua).
-- ARGV[1] task ID without its epoch  ARGV[2] its epoch
-- Returns {now ms, the record's fields and values...}: none when the epoch is not
-- the current one.
--@common
local now = now_ms()
if not epoch_is(ARGV[2]) then return {now} end
housekeep(now)
local r = redis.call('HGETALL', job_key(ARGV[1]))
table.insert(r, 1, now)
return r
