-- reclaim: run housekeeping until no expired lease is left, or for ten rounds.
-- KEYS: the common keys (common.lua).
-- ARGV: none.
-- Returns {now ms, leases reclaimed, 1 when expired leases may be left, else 0}.
--@common
local now = now_ms()
local total, n = 0, 0
for _ = 1, 10 do
  n = housekeep(now)
  total = total + n
  if n < HK_BATCH then break end
end
local more = 0
if n >= HK_BATCH then more = 1 end
return {now, total, more}
