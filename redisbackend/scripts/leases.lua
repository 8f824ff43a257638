-- leases: list live leases, earliest deadline first, then by token. It only reads,
-- and never housekeeps: expired leases that housekeeping has not reached yet are
-- not live, and not listed.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] count
-- Returns {now ms, then per lease: token, deadline ms, pack(queue) .. blob, then the
-- epoch or ""}.
--@common
local now = now_ms()
local limit = tonumber(ARGV[1])
-- Every member (a group or a single) stands for at least one lease, so limit
-- members are enough. The members of one bucket with one deadline are adjacent,
-- and group_records lists all their leases at the first of them.
local groups = redis.call('ZRANGEBYSCORE', K_LEASES, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
local out, n = {now}, 0
local pb, pd
for gi = 1, #groups, 2 do
  local at, d = ssub(groups[gi], 1, PAD), tonumber(groups[gi + 1])
  local toks, recs = {}, nil
  if at ~= pb or d ~= pd then
    pb, pd = at, d
    toks, recs = group_records(tonumber(at), d)
  end
  for _, token in ipairs(toks) do
    if n >= limit then
      out[#out + 1] = epoch()
      return out
    end
    out[#out + 1] = token
    out[#out + 1] = itoa(d)
    local _, q, b = lease_rec(recs[token])
    out[#out + 1] = pack(q) .. b
    n = n + 1
  end
end
out[#out + 1] = epoch()
return out
