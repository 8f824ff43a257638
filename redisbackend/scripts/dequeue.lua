-- dequeue: lease up to a count of tasks from queues in priority order, skipping
-- paused queues (S12.1), dropping tasks whose key has an answer (and refreshing
-- that answer's TTL).
-- KEYS: the common keys (common/begin.lua), the optional request key KEYS[11]
-- (else the prefix key, untouched), then the queues' lists in the order of
-- ARGV[3..]: KEYS[12] is ARGV[3]'s. The keys housekeeping, dedupe and lease
-- records touch are built from the prefix: which ones depends on what it finds.
-- ARGV[1] count  ARGV[2] lease ms  ARGV[3..] queue names
-- ARGV[#ARGV - 1] an epoch for a new sequence  ARGV[#ARGV] request TTL ms or ""
-- Returns {now ms, deadline ms, deduped, ms to the next event or -1 (always -1
--          when leases are returned), more, first token - 1, then per queue that
--          gave leases: queue, count, that many blobs, then the epoch}. The
--          leases' tokens are consecutive, in delivery order. more is 1 when the
--          script stopped after DEDUPE_CAP dropped tasks, to keep the server
--          responsive: call it again. A resent request returns the leases its
--          first run took that are still live.
--@common
local reqttl, cand = table.remove(ARGV), table.remove(ARGV)
local count, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_ms()
local seen = req_check(reqttl)
if seen then
  local f = {} -- first token - 1, leases, deduped, more, deadline, epoch
  for w in string.gmatch(seen, '%S+') do f[#f + 1] = w end
  local base, dl = tonumber(f[1]), tonumber(f[5])
  local out = {now, dl, tonumber(f[3]), -1, tonumber(f[4]), base}
  if f[2] == '0' then out[4] = next_event(now) end
  local run_q, run_at = nil, 0
  for t = base + 1, base + tonumber(f[2]) do
    local rec = redis.call('HGET', lease_key(lease_bucket(t)), itoa(t))
    if not rec or dl <= now then break end -- expired: the caller cannot have them
    local _, q, b = lease_rec(rec)
    if q ~= run_q then
      run_q = q
      out[#out + 1] = q
      out[#out + 1] = 0
      run_at = #out
    end
    out[run_at] = out[run_at] + 1
    out[#out + 1] = b
  end
  out[#out + 1] = f[6] or ''
  return out
end
housekeep(now)
local stopped = paused() -- read by housekeep's read of the due time
local deadline = now_up + lease
local out = {now, deadline, 0, 0, 0, 0}
local got, deduped = 0, 0
local tq, tb = {}, {} -- queue and blob per lease, in delivery order
local pa = P .. KS_ANSWER -- answer keys as answer_key builds them, and why
for i = 3, #ARGV do
  local q = ARGV[i]
  local qk = KEYS[i + 9] -- ARGV[i]'s list
  while got < count and deduped < DEDUPE_CAP and not (stopped and stopped[q]) do
    -- Pop what is still wanted, at most DEDUPE_CAP - deduped so that the cap holds
    -- even if every popped task is dropped, and at most CHUNK at a time.
    local want = math.min(count - got, DEDUPE_CAP - deduped, CHUNK)
    local bs = redis.call('LPOP', qk, itoa(want))
    if not bs then break end
    local keys = {}
    for j, b in ipairs(bs) do keys[j] = pa .. ssub(b, B_DIGEST, B_DIGEST_END) end
    -- Usually no popped task has an answer: one EXISTS for all of them says so.
    local any = redis.call('EXISTS', unpack(keys)) > 0
    for j, b in ipairs(bs) do
      local ttl = any and answer_ttl(keys[j])
      if ttl then
        redis.call('PEXPIRE', keys[j], ttl)
        deduped = deduped + 1
        index_del(b)
        job_end(b, 'finished', now, nil)
      else
        got = got + 1
        tq[got], tb[got] = q, b
      end
    end
    if #bs < want then break end
  end
  if got >= count or deduped >= DEDUPE_CAP then break end
end
if deduped >= DEDUPE_CAP and got < count then out[5] = 1 end
-- Tokens come from the sequence in delivery order, one INCRBY for the whole batch.
local base, ep = 0, ''
if got > 0 then base, ep = take_seq(got, cand) end
out[6] = base
-- Each lease is one record in its token's bucket; the batch's records share one
-- deadline, so a bucket gets one HSET and one lease group, or, for a lease alone in
-- its bucket, a single (common/leases.lua).
local per_queue, recs, first_group = {}, {}, nil
local enc_dl -- enc48(deadline), once a lease that is no single needs it
local pre, run_q, run_at = {}, nil, 0
local nr, no = 0, #out -- #recs and #out, kept by hand, as # is a search
local toks = decimals(base + 1, got)
local bk = floor((base + 1) / LB) -- the bucket of token base + i
local next_bk = (bk + 1) * LB     -- the first token of the bucket after it
for i = 1, got do
  local q, b = tq[i], tb[i]
  local last = i == got or base + i + 1 == next_bk -- the last lease of its bucket
  local pq
  if nr == 0 and last then -- alone in its bucket: a single, flagged
    pq = rec_head(deadline, true) .. rec_queue(q)
  else
    pq = pre[q]
    if not pq then
      enc_dl = enc_dl or enc48(deadline)
      pq = enc_dl .. rec_queue(q)
      pre[q] = pq
    end
  end
  recs[nr + 1], recs[nr + 2] = toks[i], pq .. b
  nr = nr + 2
  if last then
    local g
    if nr == 2 then
      redis.call('HSET', lease_key(bk), recs[1], recs[2])
      g = single_add(bk, recs[1], deadline)
    else
      many('HSET', lease_key(bk), recs, 2)
      g = group_add(bk, deadline, nr / 2)
    end
    first_group = first_group or g
    recs, nr = {}, 0
    bk, next_bk = bk + 1, next_bk + LB
  end
  per_queue[q] = (per_queue[q] or 0) + 1
  if sbyte(b, B_FLAGS) % (2 * F_TRACKED) >= F_TRACKED then -- blob_tracked
    -- The record counts this delivery as it starts: attempts is its attempt + 1,
    -- mostly 1, which then needs no formatting (common/jobs.lua, job_end).
    local a = u16(b, B_ATTEMPT)
    job_set(b, 'status', 'running', 'start', now_s, 'attempts', a == 0 and '1' or itoa(a + 1))
  end
  if q ~= run_q then
    run_q = q
    out[no + 1], out[no + 2] = q, 0
    no = no + 2
    run_at = no
  end
  out[run_at] = out[run_at] + 1
  no = no + 1
  out[no] = b
end
-- Counted as delivered per queue, which counts them as leased too (lua.StatDelivered).
for q, k in pairs(per_queue) do bump(ST_DELIVERED .. q, k) end
if got > 0 then new_event(K_LEASES, first_group, lease) end
if deduped > 0 then bump('deduped', deduped) end
out[3] = deduped
-- Only a caller that got nothing waits, and times its next try by the next event.
if got == 0 then out[4] = next_event(now) else out[4] = -1 end
if got > 0 or deduped > 0 then
  -- One format for the six: cheaper than five itoa and a concat, and it keeps
  -- the script within the registers Lua gives a chunk (TestLocalsBelowLimit).
  req_done(string.format('%d %d %d %d %d %s', base, got, deduped, out[5], deadline, ep))
end
out[no + 1] = ep
return out
