-- job: read a job record. It only reads, and never housekeeps: a record that says
-- running while its lease is past its deadline shows what housekeeping will make
-- of it (put_back): pending at the next attempt, or dead when its attempts are
-- used up, with the last error "lease expired".
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] task ID without its epoch  ARGV[2] its epoch
-- Returns {now ms, the record's fields and values...}: none when the epoch is not
-- the current one.
--@common
local now = now_ms()
if not epoch_is(ARGV[2]) then return {now} end
local r = redis.call('HGETALL', job_key(ARGV[1]))
local at = {} -- field -> its index in r
for i = 1, #r, 2 do at[r[i]] = i end
local function set(f, v)
  local i = at[f]
  if not i then
    i = #r + 1
    r[i] = f
  end
  r[i + 1] = v
end
if at.status and r[at.status + 1] == 'running' then
  lapsed(now, function(_, b)
    if blob_id(b) ~= ARGV[1] then return end
    local attempt = blob_attempt(b) + 1
    if attempt >= blob_max(b) then
      set('status', 'dead')
      set('end', now_s)
    else
      set('status', 'pending')
      set('attempts', itoa(attempt))
    end
    set('err', 'lease expired')
  end)
end
table.insert(r, 1, now)
return r
