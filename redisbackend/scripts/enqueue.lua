-- enqueue: add tasks to one queue, all or nothing.
-- KEYS: the common keys (common/begin.lua), the optional request key KEYS[11]
-- (else the prefix key, untouched), KEYS[12] the queue's list. The job records'
-- keys are built from the prefix (job_key): their IDs are taken here.
-- ARGV[1] queue name        ARGV[2] "1" to push at the head
-- ARGV[3] delay ms (0: now) ARGV[4] "1" for a unique enqueue
-- ARGV[5] job TTL ms, or "0" when jobs are not tracked
-- ARGV[6..] per task: the blob's bytes before B_ENQ, the blob's rest, and when jobs are tracked
--           the task type
-- ARGV[#ARGV - 1] an epoch for a new sequence  ARGV[#ARGV] request TTL ms or ""
-- Returns {now ms, first ID - 1, epoch}: the tasks' IDs follow it, one by one; or
-- {"dup"} when a unique enqueue finds a key present. A resent request returns what
-- its first run did.
--@common
local reqttl, cand = table.remove(ARGV), table.remove(ARGV)
local q, at_head, delay, unique, jobttl = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5])
local now = now_ms()
local seen = req_check(reqttl)
if seen then
  if seen == 'dup' then return {'dup'} end
  local c = sfind(seen, ' ', 1, true)
  return {now, tonumber(ssub(seen, 1, c - 1)), ssub(seen, c + 1)}
end
housekeep(now)
local w = jobttl > 0 and 3 or 2 -- arguments per task
local n = (#ARGV - 5) / w
if unique then
  index_build()
  local seen = {}
  for i = 0, n - 1 do
    local digest = ssub(ARGV[6 + w * i], B_DIGEST, B_DIGEST_END)
    if seen[digest] or redis.call('EXISTS', answer_key(digest)) == 1 or index_has(digest) then
      req_done('dup')
      return {'dup'}
    end
    seen[digest] = true
  end
end
local base, ep = take_seq(n, cand) -- the batch's IDs: base+1 .. base+n
local enq = enc48(now)
local items = {} -- blobs for the list, or score, member pairs for the delayed set
local ix = indexed()
local due = delay > 0 and itoa(now_up + delay)
local idlen = {} -- string.char(#id), by #id
local ids = decimals(base + 1, n)
for i = 0, n - 1 do
  local pre, rest = ARGV[6 + w * i], ARGV[7 + w * i]
  local id = ids[i + 1]
  local l = idlen[#id]
  if not l then
    l = string.char(#id)
    idlen[#id] = l
  end
  local b = pre .. enq .. l .. id .. rest
  if ix then index_add(b) end
  if delay > 0 then
    items[#items + 1] = due
    items[#items + 1] = pad16(base + i + 1) .. pack(q) .. b
  else
    items[i + 1] = b
  end
  if jobttl > 0 then
    -- No status and no attempts yet: a record without them is pending, at 0.
    redis.call('HSET', job_key(id), 'queue', q, 'type', ARGV[8 + w * i], 'enq', now_s, 'ttl', ARGV[5])
  end
end
if delay > 0 then
  many('ZADD', K_DELAYED, items, 2)
  bump(ST_DELAYED .. q, n)
  note_event(now_up + delay)
  new_event(K_DELAYED, items[2], delay)
else
  -- One LPUSH of many puts them in the order of as many LPUSHes: the last first.
  many(at_head and 'LPUSH' or 'RPUSH', KEYS[12], items, 1)
  wake(q, n)
end
-- The queue's count of enqueued tasks: at its first enqueue (or the first since
-- the stats hash was lost) the queue joins the queues set, which then keeps it.
if redis.call('HINCRBY', K_STATS, ST_ENQUEUED .. q, itoa(n)) == n then redis.call('SADD', K_QUEUES, q) end
req_done(string.format('%d %s', base, ep))
return {now, base, ep}
