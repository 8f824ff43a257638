-- reclaim: run housekeeping until no expired lease is left, or for ten rounds.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] request TTL ms or ""
-- Returns {now ms, leases reclaimed, 1 when expired leases may be left, else 0}. A
-- resent request returns what its first run did.
--@common
local now = now_ms()
local seen = req_check(ARGV[1])
if seen then
  local c = sfind(seen, ' ', 1, true)
  return {now, tonumber(ssub(seen, 1, c - 1)), tonumber(ssub(seen, c + 1))}
end
local total, n = 0, 0
for _ = 1, 10 do
  n = housekeep(now)
  total = total + n
  if n < HK_BATCH then break end
end
local more = 0
if n >= HK_BATCH then more = 1 end
if total > 0 then req_done(itoa(total) .. ' ' .. itoa(more)) end
return {now, total, more}
