-- exchange: settle leases as settle.lua does, then lease tasks as dequeue.lua
-- does, in one call: a worker hands in what its handlers finished and takes its
-- next tasks in one round trip.
-- KEYS: dequeue.lua's. KEYS[11], the request key, holds both parts' outcomes:
-- settle's, '|', then dequeue's, or nothing after the '|' while the dequeue part
-- has none to keep (it leased nothing, or failed). Without a request TTL it is
-- not touched.
-- ARGV[1] n; ARGV[2 .. 1 + n] settle.lua's arguments and ARGV[2 + n .. #ARGV - 1]
-- dequeue.lua's, each without its request TTL; ARGV[#ARGV] request TTL ms or "".
-- Returns {settle.lua's reply, dequeue.lua's reply}; or settle.lua's error, before
-- anything changed; or dequeue.lua's, after the settlements took effect.
--@common
--@part settle
--@part dequeue
local n, ttl = tonumber(ARGV[1]), ARGV[#ARGV]
if not n or n < 2 or n + 6 > #ARGV then return redis.error_reply('ERR keyq: bad exchange argument count') end
-- sub returns t[i .. j] as a new table: made by a constructor from unpack, sized
-- once, where Lua's stack takes that many values (about 8,000); else filled one
-- by one, growing as it goes.
local function sub(t, i, j)
  if j - i < 4000 then return {unpack(t, i, j)} end
  local out = {}
  for k = i, j do out[k - i + 1] = t[k] end
  return out
end
-- One request key for the call: read once here, written once at the end. Each
-- part sees its piece of what a run before stored (req_check) and leaves its
-- outcome in its table (req_done); an empty piece is none.
local rk, seen = KEYS[11], req_check(ttl)
local ps, pd = {}, {}
if seen then
  local c = sfind(seen, '|', 1, true) or #seen + 1
  if c > 1 then ps.seen = ssub(seen, 1, c - 1) end
  if c < #seen then pd.seen = ssub(seen, c + 1) end
end
local sa = sub(ARGV, 2, n + 1)
sa[n + 1] = ttl
KEYS[11] = ps -- settle.lua reads no key past KEYS[11]
local s = part_settle(KEYS, sa)
if s.err then return s end
KEYS[11] = pd
local d = part_dequeue(KEYS, sub(ARGV, n + 2, #ARGV))
if ttl ~= '' then
  local rec = (ps.done or ps.seen or '') .. '|' .. (not d.err and (pd.done or pd.seen) or '')
  if rec ~= seen and rec ~= '|' then redis.call('SET', rk, rec, 'PX', ttl) end
end
if d.err then return d end
return {s, d}
