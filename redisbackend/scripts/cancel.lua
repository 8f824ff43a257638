-- cancel: remove a waiting or delayed task by its ID, or end its lease (S12.2 to
-- S12.4).
-- KEYS: the common keys (common/begin.lua), the optional request key KEYS[11]
-- (else the prefix key, untouched), KEYS[12] the task's job record. The queue
-- lists, lease buckets and the tombstone of a cancelled lease are built from the
-- prefix: which ones depends on where the task is found.
-- ARGV[1] task ID without its epoch  ARGV[2] its epoch  ARGV[3] "1" to end a live
-- lease of the task (Running)  ARGV[#ARGV] request TTL ms or ""
-- Returns {now ms, outcome}: "removed" (it was waiting or delayed), "running" (its
-- lease ended), "leased" (a live lease, and ARGV[3] is not "1": nothing changed)
-- or "none" (no such task is waiting, delayed or leased). A resent request
-- returns what its first run did.
--
-- Finding the task takes time in proportion to what the namespace holds, since
-- nothing is indexed by task ID: the delayed zset is scanned (ZSCAN MATCH on the
-- padded ID that starts its members), every lease bucket in use is read, and the
-- queue's list is read in chunks, comparing the ID in each blob: the queue of the
-- job record, or every queue of the namespace for a task without one. A job
-- record in a final status ends the search at once; one that says running starts
-- it with the leases. A lease past its deadline that housekeeping has not
-- reclaimed yet (more than HK_BATCH expired at once) is reclaimed here, as
-- housekeeping would: its task is then waiting, and removed, or dead.
--@common
local reqttl = table.remove(ARGV)
local id, ep, running = ARGV[1], ARGV[2], ARGV[3] == '1'
local now = now_ms()
local seen = req_check(reqttl)
if seen then return {now, seen} end
-- A task ID is the decimal of a number below 2^53, at most PAD digits.
if not epoch_is(ep) or not sfind(id, '^%d+$') or #id > PAD then return {now, 'none'} end
housekeep(now)

local function done(outcome)
  req_done(outcome)
  return {now, outcome}
end

-- cancelled ends what the task had: its key in the index, its job record, and
-- counts it.
local function cancelled(b)
  index_del(b)
  job_end(b, 'cancelled', now)
  bump('cancelled', 1)
end

local job = redis.call('HMGET', KEYS[12], 'status', 'queue')
local status = job[1]
if status == 'finished' or status == 'failed' or status == 'timeout' or status == 'dead' or
  status == 'cancelled' then
  return done('none')
end

-- in_delayed returns the task's member of the delayed zset, or nil.
local function in_delayed()
  local pat, cursor = pad16(tonumber(id)) .. '*', '0'
  repeat
    local r = redis.call('ZSCAN', K_DELAYED, cursor, 'MATCH', pat, 'COUNT', CHUNK)
    for i = 1, #r[2], 2 do
      local m = r[2][i]
      -- The padded ID matches "07" as it does "7": the blob's ID tells.
      if blob_id(unpack_n(ssub(m, PAD + 1), 1)[2]) == id then return m end
    end
    cursor = r[1]
  until cursor == '0'
  return nil
end

-- in_leases returns the token and record of the task's lease, or nil.
local function in_leases()
  for _, bk in ipairs(lease_buckets()) do
    local all = redis.call('HGETALL', lease_key(bk))
    for i = 1, #all, 2 do
      local rec = all[i + 1]
      local o = rec_blob_at(rec)
      if ssub(rec, o + B_IDLEN + 1, o + B_IDLEN + sbyte(rec, o + B_IDLEN)) == id then
        return all[i], rec
      end
    end
  end
  return nil
end

-- in_queue returns the task's blob in queue q's list, or nil.
local function in_queue(q)
  local qk = queue_key(q)
  local n = redis.call('LLEN', qk)
  for i = 0, n - 1, CHUNK do
    for _, b in ipairs(redis.call('LRANGE', qk, itoa(i), itoa(i + CHUNK - 1))) do
      if blob_id(b) == id then return b end
    end
  end
  return nil
end

local function try_leases()
  local token, rec = in_leases()
  if not token then return nil end
  local dl, q, b, single = lease_rec(rec)
  if dl <= now then
    -- Expired, and housekeeping has not reclaimed it yet (more expired at once
    -- than a round takes): reclaim it now, as housekeeping would, and then it is
    -- waiting, at the head of its queue, or dead.
    drop_lease(token, q, dl, single)
    bump('reclaimed', 1)
    local a = blob_attempt(b) + 1
    put_back(q, b, false, 0, false, 'lease expired', now)
    if a >= blob_max(b) then return done('none') end
    cancelled(redis.call('LPOP', queue_key(q)))
    return done('removed')
  end
  if not running then return done('leased') end
  drop_lease(token, q, dl, single)
  cancelled(b)
  -- Extend of the token reports the lease cancelled until its deadline: the
  -- tombstone holds the task ID and the deadline, and expires then.
  redis.call('SET', P .. KS_CANCELLED .. token, id .. '@' .. itoa(dl), 'PX', itoa(dl - now))
  -- The ID as Go shows it, "<epoch>-<n>" (epoch.go), after the mark of a cancel.
  redis.pcall('PUBLISH', P .. KS_CHANNEL, MSG_CANCELLED .. ep .. '-' .. id)
  return done('running')
end

if status == 'running' then
  local r = try_leases()
  if r then return r end
end
local m = in_delayed()
if m then
  redis.call('ZREM', K_DELAYED, m)
  local f = unpack_n(ssub(m, PAD + 1), 1)
  bump(ST_DELAYED .. f[1], -1)
  cancelled(f[2])
  return done('removed')
end
if status ~= 'running' then
  local r = try_leases()
  if r then return r end
end
local qs = {job[2]}
if not job[2] then qs = redis.call('SMEMBERS', K_QUEUES) end
for _, q in ipairs(qs) do
  local b = in_queue(q)
  if b then
    redis.call('LREM', queue_key(q), '1', b)
    cancelled(b)
    return done('removed')
  end
end
return done('none')
