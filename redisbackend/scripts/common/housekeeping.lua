-- common/housekeeping.lua: where tasks go when a lease ends, and housekeeping
-- (backend/doc.go), which promotes due delayed tasks and reclaims expired leases.

-- to_dead dead-letters a task that is in no other structure any more.
local function to_dead(q, b, reason, now)
  local id = blob_id(b)
  local order = redis.call('HINCRBY', K_STATS, 'dead', 1)
  -- A tracked task's type and job TTL go along, to rebuild a job record that
  -- expires while the task is dead if the task is requeued (deadaction.lua).
  local typ, ttl = '', ''
  if blob_tracked(b) then
    local j = redis.call('HMGET', job_key(id), 'type', 'ttl')
    typ, ttl = j[1] or '', j[2] or ''
  end
  -- The dead record's DEAD_FIELDS fields, then the blob.
  redis.call('HSET', K_DEAD, id, pack(q, reason, itoa(now), typ, ttl) .. b)
  redis.call('ZADD', K_DEADZ, order, id)
  bump(ST_DEAD .. q, 1)
  index_del(b)
  job_end(b, 'dead', now, reason)
end

-- put_back returns a task whose lease ended (backend/doc.go): with attempt+1 unless
-- keep, to the dead letters when its attempts are used up, else to its queue's head
-- or tail, or to the delayed set when delay > 0. A non-empty reason becomes the
-- job's last error.
local function put_back(q, b, keep, delay, at_tail, reason, now)
  local attempt = blob_attempt(b)
  if not keep then
    attempt = attempt + 1
    b = blob_set_attempt(b, attempt)
    if attempt >= blob_max(b) then
      if reason == '' then reason = 'dead-lettered' end
      to_dead(q, b, reason, now)
      return
    end
  end
  if reason ~= '' then
    job_set(b, 'status', 'pending', 'attempts', itoa(attempt), 'err', reason)
  else
    job_set(b, 'status', 'pending', 'attempts', itoa(attempt))
  end
  if delay > 0 then
    local m = pad16(tonumber(blob_id(b))) .. pack(q) .. b
    redis.call('ZADD', K_DELAYED, itoa(now_up + delay), m)
    note_event(now_up + delay)
    bump(ST_DELAYED .. q, 1)
    new_event(K_DELAYED, m, delay)
  elseif at_tail then
    redis.call('RPUSH', queue_key(q), b)
    wake(q, 1)
  else
    redis.call('LPUSH', queue_key(q), b)
    wake(q, 1)
  end
end

-- housekeep promotes due delayed tasks, then reclaims expired leases, at most
-- HK_BATCH of each, and returns how many leases it reclaimed. It does nothing
-- before the due time (note_event), and sets it again when it has run.
local function housekeep(now)
  if read_only then return 0 end
  if due_at == nil then read_due() end
  if due_at > now then return 0 end
  move_legacy()
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now_s, 'LIMIT', '0', HK_BATCH_S)
  for _, m in ipairs(due) do
    redis.call('ZREM', K_DELAYED, m)
    local f = unpack_n(ssub(m, PAD + 1), 1)
    redis.call('LPUSH', queue_key(f[1]), f[2])
    bump(ST_DELAYED .. f[1], -1)
    wake(f[1], 1)
  end
  local reclaimed = 0
  local ms = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now_s, 'WITHSCORES', 'LIMIT', '0', HK_BATCH_S)
  local gi = 1
  while gi < #ms and reclaimed < HK_BATCH do
    -- The members of one bucket with one deadline, a group and singles, are
    -- adjacent: their leases are reclaimed together, in token order.
    local pb, ds = ssub(ms[gi], 1, PAD), ms[gi + 1]
    local bk, d = tonumber(pb), tonumber(ds)
    local gone, has_group = {}, false -- the members to remove once all are reclaimed
    while gi < #ms and ms[gi + 1] == ds and ssub(ms[gi], 1, PAD) == pb do
      gone[#gone + 1] = ms[gi]
      has_group = has_group or is_group(ms[gi])
      gi = gi + 2
    end
    local lk = lease_key(bk)
    local toks, recs = group_records(bk, d)
    local n, singles, done = 0, {}, true -- n: the group's leases reclaimed
    for _, token in ipairs(toks) do
      if reclaimed >= HK_BATCH then done = false; break end
      local _, q, b, single = lease_rec(recs[token])
      redis.call('HDEL', lk, token)
      if single then singles[#singles + 1] = single_member(bk, token) else n = n + 1 end
      bump(ST_LEASED .. q, -1)
      bump('reclaimed', 1)
      put_back(q, b, false, 0, false, 'lease expired', now)
      reclaimed = reclaimed + 1
    end
    if done then
      -- A member past the LIMIT of ms is not in gone: it is named from what was
      -- reclaimed, a single's from its token, the group's from bucket and deadline.
      for _, m in ipairs(singles) do gone[#gone + 1] = m end
      if n > 0 or has_group then
        local g = group(bk, d)
        redis.call('HDEL', K_LEASE, g)
        gone[#gone + 1] = g
      end
      many('ZREM', K_LEASES, gone, 1)
    else
      if #singles > 0 then many('ZREM', K_LEASES, singles, 1) end
      if n > 0 then group_sub(bk, d, n) end
    end
  end
  local first = NO_EVENT
  for _, k in ipairs({K_DELAYED, K_LEASES}) do
    local r = redis.call('ZRANGE', k, '0', '0', 'WITHSCORES')
    if r[2] and tonumber(r[2]) < first then first = tonumber(r[2]) end
  end
  if first ~= due_at then
    due_at = first
    redis.call('SET', K_ST[1], itoa(first))
  end
  return reclaimed
end

-- next_event returns ms until the next delayed task is due or lease expires, or -1.
local function next_event(now)
  local best = -1
  for _, k in ipairs({K_DELAYED, K_LEASES}) do
    local r = redis.call('ZRANGE', k, '0', '0', 'WITHSCORES')
    if r[2] then
      local d = tonumber(r[2]) - now
      if d < 0 then d = 0 end
      if best < 0 or d < best then best = d end
    end
  end
  return best
end
