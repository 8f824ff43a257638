-- common/leases.lua: leases. Leases are kept in buckets of LB consecutive tokens,
-- a hash of lease records per bucket. The leases zset holds, at its deadline, a
-- member per lease group or single (lua.GroupMark): a group is the leases of one
-- bucket with one deadline that calls put there two or more at a time, counted in
-- K_LEASE; a single is a lease that a call put alone in its bucket and deadline,
-- marked in its record (R_SINGLE), with a member of its own and no count, so that
-- it costs one command as it starts and one as it ends. A bucket's members of one
-- deadline sort together, after those of the buckets before it, and housekeeping
-- reclaims all their leases at the first of them, in token order: so by deadline
-- then token. A dequeue of n tasks costs one record each and a member or two, not
-- a zset entry each.

local function lease_bucket(token) return math.floor(token / LB) end
-- lease_key names bucket bk's hash of lease records. DESIGN's exception: built
-- from the prefix, because the buckets follow from tokens the script takes from
-- the sequence, or from the lease groups housekeeping finds due.
local function lease_key(bk) return P .. KS_RECORDS .. itoa(bk) end
local function group(bk, d) return pad16(bk) .. M_GROUP .. itoa(d) end
-- single_member names the member of token's single lease in bucket bk: the zset
-- holds its deadline as the score.
local function single_member(bk, token) return pad16(bk) .. M_SINGLE .. token end
-- group_bucket returns the bucket of a member, a group's or a single's.
local function group_bucket(g) return tonumber(ssub(g, 1, PAD)) end
local function is_group(g) return ssub(g, PAD + 1, PAD + 1) == M_GROUP end

-- group_records returns the tokens and records of bucket bk's leases with
-- deadline d, in token order (a hash has no order of its own): the group's and
-- the singles' alike.
local function group_records(bk, d)
  local all = redis.call('HGETALL', lease_key(bk))
  local toks, recs = {}, {}
  for i = 1, #all, 2 do
    if rec_deadline(all[i + 1]) == d then
      toks[#toks + 1] = tonumber(all[i])
      recs[all[i]] = all[i + 1]
    end
  end
  table.sort(toks)
  for i, t in ipairs(toks) do toks[i] = itoa(t) end
  return toks, recs
end

-- group_add counts n more leases in bucket bk with deadline d.
local function group_add(bk, d, n)
  local ds = itoa(d)
  local g = pad16(bk) .. M_GROUP .. ds
  if redis.call('HINCRBY', K_LEASE, g, itoa(n)) == n then
    redis.call('ZADD', K_LEASES, ds, g)
    note_event(d)
  end
  return g
end
-- group_sub counts n leases fewer in bucket bk with deadline d, and forgets the
-- group when none is left.
local function group_sub(bk, d, n)
  local g = group(bk, d)
  if redis.call('HINCRBY', K_LEASE, g, itoa(-n)) <= 0 then
    redis.call('HDEL', K_LEASE, g)
    redis.call('ZREM', K_LEASES, g)
  end
end
-- single_add gives token's single lease in bucket bk, whose record says so, its
-- member at deadline d, or moves it there, and returns the member.
local function single_add(bk, token, d)
  local m = single_member(bk, token)
  redis.call('ZADD', K_LEASES, itoa(d), m)
  note_event(d)
  return m
end

-- lease_buckets returns the buckets that hold leases, each once.
local function lease_buckets()
  local out, seen = {}, {}
  for _, g in ipairs(redis.call('ZRANGE', K_LEASES, '0', '-1')) do
    local bk = group_bucket(g)
    if not seen[bk] then
      seen[bk] = true
      out[#out + 1] = bk
    end
  end
  return out
end

-- take_lease finds a live lease by token and task ID; it returns queue, blob,
-- deadline, record and whether it is a single, or nil. Housekeeping may not have
-- reached an expired lease yet: it is lost all the same.
local function take_lease(token, id, now)
  local t = tonumber(token)
  if not t then return nil end
  local rec = redis.call('HGET', lease_key(lease_bucket(t)), token)
  if not rec then return nil end
  local dl, q, b, single = lease_rec(rec)
  if dl <= now or blob_id(b) ~= id then return nil end
  return q, b, dl, rec, single
end

-- lapsed calls f(queue, blob) for each lease past its deadline at now, which
-- housekeeping has not reclaimed yet; it only reads. Those leases' members are
-- the first of the leases zset.
local function lapsed(now, f)
  local buckets, n = {}, redis.call('ZCOUNT', K_LEASES, '-inf', itoa(now))
  for i = 0, n - 1, CHUNK do
    for _, g in ipairs(redis.call('ZRANGE', K_LEASES, i, math.min(i + CHUNK, n) - 1)) do
      buckets[group_bucket(g)] = true
    end
  end
  for bk in pairs(buckets) do
    local all = redis.call('HGETALL', lease_key(bk))
    for i = 2, #all, 2 do
      local dl, q, b = lease_rec(all[i])
      if dl <= now then f(q, b) end
    end
  end
end

-- drop_lease ends a lease as take_lease found it.
local function drop_lease(token, q, dl, single)
  local bk = lease_bucket(tonumber(token))
  redis.call('HDEL', lease_key(bk), token)
  if single then
    redis.call('ZREM', K_LEASES, single_member(bk, token))
  else
    group_sub(bk, dl, 1)
  end
  bump(ST_LEASED .. q, -1)
end
