-- ackbatch: ack many leases at once, each as ack.lua would; the items are independent.
-- KEYS: the common keys (common.lua).
-- ARGV: 8 fields per lease: token, task ID, final job status, job error, "1" to store
-- an answer or "0", answer value, "1" ok / "0" error, answer TTL ms.
-- Returns one number per lease, in order: 1 acked, 0 lost (not live).
--@common
local now = now_ms()
housekeep(now)
local out, acked, leased = {}, 0, {}
for i = 1, #ARGV, 8 do
  local token = ARGV[i]
  local q, b = take_lease(token, ARGV[i + 1], now)
  if q then
    redis.call('HDEL', K_LEASE, token)
    redis.call('ZREM', K_LEASES, pad16(tonumber(token)))
    leased[q] = (leased[q] or 0) + 1
    local digest = blob_digest(b)
    index_add(digest, -1)
    if ARGV[i + 4] == '1' then
      local ak = answer_key(digest)
      redis.call('DEL', ak)
      redis.call('HSET', ak, 'v', ARGV[i + 5], 'ok', ARGV[i + 6], 'ttl', ARGV[i + 7])
      redis.call('PEXPIRE', ak, ARGV[i + 7])
    end
    job_end(b, ARGV[i + 2], now, ARGV[i + 3])
    acked = acked + 1
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
for q, n in pairs(leased) do bump('l:' .. q, -n) end
if acked > 0 then bump('acked', acked) end
return out
