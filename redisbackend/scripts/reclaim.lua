-- reclaim: run housekeeping until no expired lease is left.
-- KEYS: the common keys (common.lua).
-- ARGV: none.
-- Returns {now ms, leases reclaimed}.
--@common
local now = now_ms()
local total = 0
repeat
  local n = housekeep(now)
  total = total + n
until n < HK_BATCH
return {now, total}
