-- job: read a job record, as it stands: it only reads, and never housekeeps.
-- KEYS: the common keys (common/begin.lua), KEYS[11] unused (the prefix key),
-- KEYS[12] the job record.
-- ARGV[1] task ID without its epoch  ARGV[2] its epoch
-- Returns {now ms, the record's fields and values...}: none when the epoch is not
-- the current one.
--@common
local now = now_ms()
if not epoch_is(ARGV[2]) then return {now} end
local r = redis.call('HGETALL', KEYS[12])
table.insert(r, 1, now)
return r
