-- dequeue: lease up to a count of tasks from queues in priority order, dropping
-- tasks whose key has an answer (and refreshing that answer's TTL).
-- KEYS: the common keys (common.lua).
-- ARGV[1] count  ARGV[2] lease ms  ARGV[3..] queue names
-- Returns {now ms, deadline ms, deduped, ms to the next event or -1, more,
--          then per lease: token, queue, blob}. more is 1 when the script stopped
-- after DEDUPE_CAP dropped tasks, to keep the server responsive: call it again.
--@common
local count, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
housekeep(now)
local deadline = now + lease
local out = {now, deadline, 0, 0, 0}
local got, deduped = 0, 0
local taken = {} -- {queue, blob} per lease, in delivery order
local DEDUPE_CAP = 1000
for i = 3, #ARGV do
  local q = ARGV[i]
  local qk = queue_key(q)
  while got < count and deduped < DEDUPE_CAP do
    local b = redis.call('LPOP', qk)
    if not b then break end
    local digest = blob_digest(b)
    local ak = answer_key(digest)
    local ttl = redis.call('HGET', ak, 'ttl')
    if ttl then
      redis.call('PEXPIRE', ak, ttl)
      deduped = deduped + 1
      index_add(digest, -1)
      job_end(b, 'finished', now, nil)
    else
      got = got + 1
      taken[got] = {q, b}
    end
  end
  if got >= count or deduped >= DEDUPE_CAP then break end
end
if deduped >= DEDUPE_CAP and got < count then out[5] = 1 end
-- Tokens come from the sequence in delivery order, one INCRBY for the whole batch.
local base = got > 0 and redis.call('INCRBY', K_SEQ, got) - got or 0
local per_queue = {}
for i, t in ipairs(taken) do
  local q, b = t[1], t[2]
  local token = itoa(base + i)
  redis.call('ZADD', K_LEASES, deadline, pad16(base + i))
  redis.call('HSET', K_LEASE, token, pack(q) .. b)
  per_queue[q] = (per_queue[q] or 0) + 1
  job_set(b, 'status', 'running', 'start', now)
  out[#out + 1] = token
  out[#out + 1] = q
  out[#out + 1] = b
end
for q, k in pairs(per_queue) do bump('l:' .. q, k) end
if got > 0 then
  bump('delivered', got)
  new_event(K_LEASES, pad16(tonumber(out[6])))
end
if deduped > 0 then bump('deduped', deduped) end
out[3] = deduped
out[4] = next_event(now)
return out
