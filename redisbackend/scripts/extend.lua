-- extend: move live leases' deadlines to now + a duration.
-- KEYS: the common keys (common/begin.lua), with the optional request key KEYS[11].
-- ARGV[1] the leases' epoch  ARGV[2] lease ms  ARGV[3..] per lease: token, task ID
-- ARGV[#ARGV] request TTL ms or ""
-- Returns {now ms, then per lease its new deadline ms, 0 when it is not live, or
-- -1 when cancel.lua ended it and its old deadline has not passed (S12.4)}; or
-- {"lost"} when the epoch is not the current one. A resent request returns what
-- its first run did.
--@common
local reqttl = table.remove(ARGV)
local now = now_ms()
local seen = req_check(reqttl)
if seen then
  local out = {now}
  for w in string.gmatch(seen, '%S+') do out[#out + 1] = tonumber(w) end
  return out
end
if not epoch_is(ARGV[1]) then return {'lost'} end
local lease = tonumber(ARGV[2])
if not lease then return redis.error_reply('ERR keyq: bad lease') end
housekeep(now)
local deadline = now_up + lease
local ds = itoa(deadline)
local out, done, added = {now}, {}, {}
-- The live leases whose deadline changes, per bucket (moves[bk], buckets in order
-- of first sight): each as {token, record, old deadline, single}. A token sent
-- twice moves once.
local moves, order, moving = {}, {}, {}
for i = 3, #ARGV, 2 do
  local token = ARGV[i]
  local q, _, dl, rec, single = take_lease(token, ARGV[i + 1], now)
  local d, s = 0, '0'
  if q then
    d, s = deadline, ds
    if deadline ~= dl and not moving[token] then
      moving[token] = true
      local bk = lease_bucket(tonumber(token))
      local m = moves[bk]
      if not m then
        m = {}
        moves[bk], order[#order + 1] = m, bk
      end
      m[#m + 1] = {token, rec, dl, single}
    end
  else
    -- A lease not live is rare: looking for its tombstone (cancel.lua), ID '@'
    -- deadline, costs the common case nothing. The key is built from the prefix
    -- (DESIGN's exception): which leases are not live is known only here. The
    -- deadline is checked here too: a key lives until its PX has passed.
    local c = redis.call('GET', P .. KS_CANCELLED .. token)
    local id = ARGV[i + 1]
    if c and ssub(c, 1, #id + 1) == id .. '@' and tonumber(ssub(c, #id + 2)) > now then d, s = -1, '-1' end
  end
  out[#out + 1], done[#done + 1] = d, s
end
-- The moves, as a dequeue puts leases (common/leases.lua): a lease that moves alone
-- in its bucket is a single at the new deadline, a single's member taking the new
-- score in place; two or more join their bucket's group there.
for _, bk in ipairs(order) do
  local m, lk = moves[bk], lease_key(bk)
  if #m == 1 then
    local token, rec, dl, single = m[1][1], m[1][2], m[1][3], m[1][4]
    redis.call('HSET', lk, token, rec_head(deadline, true) .. ssub(rec, R_QLEN))
    if not single then group_sub(bk, dl, 1) end
    added[single_add(bk, token, deadline)] = true
  else
    local recs, singles, per_dl, head = {}, {}, {}, rec_head(deadline, false)
    for j, l in ipairs(m) do
      recs[2 * j - 1], recs[2 * j] = l[1], head .. ssub(l[2], R_QLEN)
      if l[4] then
        singles[#singles + 1] = single_member(bk, l[1])
      else
        per_dl[l[3]] = (per_dl[l[3]] or 0) + 1
      end
    end
    many('HSET', lk, recs, 2)
    if #singles > 0 then many('ZREM', K_LEASES, singles, 1) end
    for dl, k in pairs(per_dl) do group_sub(bk, dl, k) end
    added[group_add(bk, deadline, #m)] = true
  end
end
-- Waiters time their next try by the earliest deadline: tell them when it is new
-- and someone may listen (heard).
if next(added) and heard() then
  local first = redis.call('ZRANGE', K_LEASES, '0', '0')
  if added[first[1]] then redis.pcall('PUBLISH', P .. KS_CHANNEL, MSG_EVENT .. itoa(math.max(lease, 1))) end
end
req_done(table.concat(done, ' '))
return out
