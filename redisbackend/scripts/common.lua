-- common.lua: definitions shared by every script; the Go side splices it in where a
-- script says --@common. Every script gets the same KEYS:
--   KEYS[1] seq      string  the namespace's sequence (task IDs and lease tokens)
--   KEYS[2] delayed  zset    due ms -> pad16(id) .. pack(queue) .. blob
--   KEYS[3] leases   zset    deadline ms -> lease group pad16(bucket) .. '@' .. deadline
--   KEYS[4] lease    hash    lease group -> how many live leases it holds
--   KEYS[5] stats    hash    counters, and per queue l:<q> leased, d:<q> delayed, x:<q> dead
--   KEYS[6] dead     hash    id -> pack(queue, reason, died ms, job type, job TTL) .. blob
--   KEYS[7] deadz    zset    dead order -> id
--   KEYS[8] queues   set     every queue the namespace has seen
--   KEYS[9] prefix   string  never read or written: the namespace's key prefix. The
--                            per-queue, per-key and per-task keys below are built from
--                            it and share its hash tag, so they lie in its slot:
--                            q:<queue> list of blobs, a:<digest> answer string,
--                            j:<id> job record hash, k:<12 bits of digest> key
--                            index hash (field digest .. id per task), l:<bucket>
--                            lease records hash (token -> enc48(deadline) ..
--                            enc32(#queue) .. queue .. blob) of tokens bucket*128
--                            to bucket*128+127.
--   KEYS[10] epoch   string  the name of the sequence's life (see Epochs below)
--   KEYS[11] request string  optional: the outcome of this call, for a resend
--                            (see Requests below)
--
-- Leases are kept in buckets of 128 consecutive tokens, and a lease group is the
-- leases of one bucket with one deadline. The leases zset orders groups by deadline
-- then bucket, so by deadline then token, as housekeeping reclaims them; a dequeue
-- of n tasks costs one record each and a group or two, not a zset entry each.
-- The wake-up channel is prefix .. 'w'; its messages are "<count>:<queue>", or
-- empty to wake every waiter.
--
-- A blob is a task as stored. Bytes (1-based): 1 flags, 2-3 attempt, 4-5 max
-- attempts, 6-21 key digest, 22-27 enqueued ms, 28 id length, then the id, then the
-- rest, which only Go reads (encoding.go).
--
-- This file is loaded two ways (scripts.go): spliced into each script for EVALSHA,
-- or once, as a Redis 7 function library that holds every script as a function.
-- A library outlives its calls, so whatever belongs to one call is set by begin,
-- which every script calls first.
local K_SEQ, K_DELAYED, K_LEASES, K_LEASE, K_STATS, K_DEAD, K_DEADZ, K_QUEUES, P
local K_EPOCH, K_REQ, req_ttl
local ix_kept -- indexed()'s answer, once asked
local now_s   -- now_ms() as a string
-- now_up is now_ms() rounded up to the millisecond: deadlines and due times start
-- from it, so that a lease or a delay never ends before its full duration has
-- passed on the server's clock (S4.1, S7.2), while now_ms(), rounded down, says
-- what has ended.
local now_up
-- The string functions every task goes through, as locals: a global lookup per call
-- is a table read. Loading a library may not read globals, so begin sets them.
local sbyte, ssub, sfind, floor

-- read_only is true in the read-only twins of the scripts that only read
-- (readOnly in scripts.go): housekeeping, which writes, is skipped there.
local read_only

local function begin(keys, ro)
  read_only = ro == true
  K_SEQ, K_DELAYED, K_LEASES, K_LEASE = keys[1], keys[2], keys[3], keys[4]
  K_STATS, K_DEAD, K_DEADZ, K_QUEUES, P = keys[5], keys[6], keys[7], keys[8], keys[9]
  ix_kept, now_s = nil, nil
  K_EPOCH, K_REQ, req_ttl = keys[10], keys[11], nil
  sbyte, ssub, sfind, floor = string.byte, string.sub, string.find, math.floor
end

local HK_BATCH, HK_BATCH_S = 1000, '1000'

-- A number given to redis.call is formatted with %.17g, which costs more than the
-- rest of a small call: arguments that are numbers in Lua go as strings where they
-- are built once anyway, or are literals.

local function now_ms()
  local t = redis.call('TIME')
  local now = t[1] * 1000 + floor(t[2] / 1000)
  now_up = t[1] * 1000 + math.ceil(t[2] / 1000)
  now_s = string.format('%d', now)
  return now
end

local function pad16(n) return string.format('%016d', n) end
local function itoa(n) return string.format('%d', n) end

-- D2[i + 1] is i in two digits, '00' to '99', made on first use. In a function
-- library it outlives the call, which is safe: it never changes.
local D2 = {}
-- decimals returns the decimal strings of the n numbers first, first + 1, ...: a
-- batch's IDs or tokens. Formatting a number is the dearest step of a small call,
-- so it formats only the hundreds, once per hundred, and appends two digits.
local function decimals(first, n)
  local out, k, x = {}, 0, first
  while k < n do
    local hi, lo = floor(x / 100), x % 100
    local last = math.min(99, lo + n - k - 1)
    if hi == 0 then
      for j = lo, last do out[k + j - lo + 1] = itoa(j) end
    else
      local hs = itoa(hi)
      for j = lo, last do
        local d = D2[j + 1]
        if not d then
          d = string.char(48 + floor(j / 10), 48 + j % 10)
          D2[j + 1] = d
        end
        out[k + j - lo + 1] = hs .. d
      end
    end
    k, x = k + last - lo + 1, x + last - lo + 1
  end
  return out
end

local function pack(...)
  local out = {}
  for i, s in ipairs({...}) do out[i] = #s .. ':' .. s end
  return table.concat(out)
end

-- unpack_n reads n packed fields from s and returns them, then the rest of s.
local function unpack_n(s, n)
  local out, pos = {}, 1
  for i = 1, n do
    local c = string.find(s, ':', pos, true)
    local len = tonumber(string.sub(s, pos, c - 1))
    out[i] = string.sub(s, c + 1, c + len)
    pos = c + len + 1
  end
  out[n + 1] = string.sub(s, pos)
  return out
end

local function u16(s, i) return string.byte(s, i) * 256 + string.byte(s, i + 1) end
local function enc16(n) return string.char(math.floor(n / 256) % 256, n % 256) end
local function enc48(n)
  local b = {}
  for i = 6, 1, -1 do b[i] = n % 256; n = math.floor(n / 256) end
  return string.char(b[1], b[2], b[3], b[4], b[5], b[6])
end

local function blob_attempt(b) return u16(b, 2) end
local function blob_max(b) return u16(b, 4) end
local function blob_digest(b) return string.sub(b, 6, 21) end
local function blob_tracked(b) return math.floor(string.byte(b, 1) / 2) % 2 == 1 end
local function blob_enqueued(b)
  local n = 0
  for i = 22, 27 do n = n * 256 + string.byte(b, i) end
  return n
end
local function blob_id(b) return string.sub(b, 29, 28 + string.byte(b, 28)) end
local function blob_set_attempt(b, a) return string.sub(b, 1, 1) .. enc16(a) .. string.sub(b, 4) end

-- Answer and index keys hold the raw digest bytes: formatting 16 bytes as hex costs
-- more in Lua than the rest of a task's bookkeeping.
local function answer_key(digest) return P .. 'a:' .. digest end
local function index_key(digest)
  return P .. 'k:' .. string.sub(digest, 1, 1) .. string.char(math.floor(string.byte(digest, 2) / 16))
end
local function job_key(id) return P .. 'j:' .. id end
local function queue_key(q) return P .. 'q:' .. q end

-- wake tells waiting consumers that n tasks became available in queue q: it
-- publishes "<n>:<q>" on the namespace's channel. An empty message wakes every
-- waiter of the namespace (new_event).
-- A wake-up is best effort: with PUBLISH refused (an ACL without the channel) the
-- call goes on, and waiters poll instead (wait.go).
local function wake(q, n)
  redis.pcall('PUBLISH', P .. 'w', n .. ':' .. q)
end

-- new_event wakes the waiters when the member just added to a delayed or leases
-- zset is now its earliest: they time their next try by the earliest event, and
-- this one is sooner than they know. The message is an empty queue name.
local function new_event(zkey, member)
  local first = redis.call('ZRANGE', zkey, '0', '0')
  if first[1] == member then redis.pcall('PUBLISH', P .. 'w', '') end
end

-- The key index holds one field, digest .. ID, per task that is waiting, delayed or
-- leased; unique enqueues look a digest up in it (S2.4). A field per task, rather
-- than a count per digest, makes adding and removing one call each. A namespace
-- keeps it only from its first unique enqueue on (index_build), so namespaces that
-- never enqueue uniquely do not pay for it; the stats field ix marks it as kept.
local function indexed()
  if ix_kept == nil then ix_kept = redis.call('HEXISTS', K_STATS, 'ix') == 1 end
  return ix_kept
end
local function index_add(b)
  if not indexed() then return end
  local d = blob_digest(b)
  redis.call('HSET', index_key(d), d .. blob_id(b), '')
end
local function index_del(b)
  if not indexed() then return end
  local d = blob_digest(b)
  redis.call('HDEL', index_key(d), d .. blob_id(b))
end
-- index_has tells whether a task with the digest is waiting, delayed or leased. Its
-- bucket is small (a 4096th of the tasks), so it is read whole.
local function index_has(d)
  local k, cursor = index_key(d), '0'
  repeat
    local r = redis.call('HSCAN', k, cursor, 'COUNT', 1000)
    for i = 1, #r[2], 2 do
      if string.sub(r[2][i], 1, 16) == d then return true end
    end
    cursor = r[1]
  until cursor == '0'
  return false
end

-- An answer is one string, "<ok><full TTL ms>:<value>" with ok "1" or "0", built by
-- Go (storedAnswer in answers.go), and a PX of that TTL; a refresh (dedupe,
-- refreshing read) is PEXPIRE with the stored TTL.
-- answer_ttl returns the full TTL, as a string, of the answer at key k, or nil.
local function answer_ttl(k)
  local h = redis.call('GETRANGE', k, 0, 24)
  if h == '' then return nil end
  return string.sub(h, 2, string.find(h, ':', 2, true) - 1)
end

-- many calls cmd on key with args[1..n] in chunks of at most 1000 groups of width
-- arguments, which keeps unpack within Lua's stack.
local function many(cmd, key, args, width)
  local step = 1000 * width
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function job_set(b, ...)
  if blob_tracked(b) then redis.call('HSET', job_key(blob_id(b)), ...) end
end

-- job_final gives the job record of task id a final status, with err as its last
-- error unless err is '' and the field, value pairs that follow, and makes it
-- expire after its job TTL.
local function job_final(id, status, err, ...)
  local k = job_key(id)
  if err ~= '' then
    redis.call('HSET', k, 'status', status, 'end', now_s, 'err', err, ...)
  else
    redis.call('HSET', k, 'status', status, 'end', now_s, ...)
  end
  local ttl = redis.call('HGET', k, 'ttl')
  if ttl and ttl ~= '' and ttl ~= '0' then redis.call('PEXPIRE', k, ttl) end
end

-- job_end gives a tracked task's record a final status. now is the script's
-- now_ms(), which now_s holds as a string. It leaves the attempt count as it is:
-- the delivery's start wrote it (dequeue.lua), and so did every step that put the
-- task back since (put_back, deadaction.lua). An ack calls job_final itself, so
-- that the blob need not be copied out of its lease record to name the record.
--
-- A record's attempts counts the deliveries that started, as backend.Job says: 0
-- until the first, the delivered attempt + 1 from a delivery's start, and the
-- blob's attempt again when a release with keep takes its delivery back.
local function job_end(b, status, now, err)
  if not blob_tracked(b) then return end
  job_final(blob_id(b), status, err or '')
end

local function bump(field, n) redis.call('HINCRBY', K_STATS, field, itoa(n)) end

-- to_dead dead-letters a task that is in no other structure any more.
local function to_dead(q, b, reason, now)
  local id = blob_id(b)
  local order = redis.call('HINCRBY', K_STATS, 'dead', 1)
  -- A tracked task's type and job TTL go along, to rebuild a job record that
  -- expires while the task is dead if the task is requeued (deadaction.lua).
  local typ, ttl = '', ''
  if blob_tracked(b) then
    local j = redis.call('HMGET', job_key(id), 'type', 'ttl')
    typ, ttl = j[1] or '', j[2] or ''
  end
  redis.call('HSET', K_DEAD, id, pack(q, reason, itoa(now), typ, ttl) .. b)
  redis.call('ZADD', K_DEADZ, order, id)
  bump('x:' .. q, 1)
  index_del(b)
  job_end(b, 'dead', now, reason)
end

-- put_back returns a task whose lease ended (backend/doc.go): with attempt+1 unless
-- keep, to the dead letters when its attempts are used up, else to its queue's head
-- or tail, or to the delayed set when delay > 0. A non-empty reason becomes the
-- job's last error.
local function put_back(q, b, keep, delay, at_tail, reason, now)
  local attempt = blob_attempt(b)
  if not keep then
    attempt = attempt + 1
    b = blob_set_attempt(b, attempt)
    if attempt >= blob_max(b) then
      if reason == '' then reason = 'dead-lettered' end
      to_dead(q, b, reason, now)
      return
    end
  end
  if reason ~= '' then
    job_set(b, 'status', 'pending', 'attempts', itoa(attempt), 'err', reason)
  else
    job_set(b, 'status', 'pending', 'attempts', itoa(attempt))
  end
  if delay > 0 then
    local m = pad16(tonumber(blob_id(b))) .. pack(q) .. b
    redis.call('ZADD', K_DELAYED, itoa(now_up + delay), m)
    bump('d:' .. q, 1)
    new_event(K_DELAYED, m)
  elseif at_tail then
    redis.call('RPUSH', queue_key(q), b)
    wake(q, 1)
  else
    redis.call('LPUSH', queue_key(q), b)
    wake(q, 1)
  end
end

local LB = 128 -- tokens per lease bucket
local function lease_bucket(token) return math.floor(token / LB) end
local function lease_key(bk) return P .. 'l:' .. itoa(bk) end
local function group(bk, d) return pad16(bk) .. '@' .. itoa(d) end
local function dec48(s, i)
  local a, b, c, d, e, f = sbyte(s, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end
local function enc32(n)
  return string.char(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end
-- A lease record is enc48(deadline) .. enc32(#queue) .. queue .. blob: fixed-width
-- fields, so that reading one takes no number parsing.
local function rec_queue(q) return enc32(#q) .. q end
-- rec_blob_at returns o such that byte k of the record's blob is byte o + k of rec.
local function rec_blob_at(rec)
  local a, b, c, d = sbyte(rec, 7, 10)
  return 10 + ((a * 256 + b) * 256 + c) * 256 + d
end
-- lease_rec splits a lease record into deadline, queue and blob.
local function lease_rec(rec)
  local o = rec_blob_at(rec)
  return dec48(rec, 1), ssub(rec, 11, o), ssub(rec, o + 1)
end
-- group_records returns the tokens and records of bucket bk's leases with
-- deadline d, in token order (a hash has no order of its own).
local function group_records(bk, d)
  local all = redis.call('HGETALL', lease_key(bk))
  local toks, recs = {}, {}
  for i = 1, #all, 2 do
    if dec48(all[i + 1], 1) == d then
      toks[#toks + 1] = tonumber(all[i])
      recs[all[i]] = all[i + 1]
    end
  end
  table.sort(toks)
  for i, t in ipairs(toks) do toks[i] = itoa(t) end
  return toks, recs
end

-- group_add counts n more leases in bucket bk with deadline d.
local function group_add(bk, d, n)
  local ds = itoa(d)
  local g = pad16(bk) .. '@' .. ds
  if redis.call('HINCRBY', K_LEASE, g, itoa(n)) == n then redis.call('ZADD', K_LEASES, ds, g) end
  return g
end
-- group_sub counts n leases fewer in bucket bk with deadline d, and forgets the
-- group when none is left.
local function group_sub(bk, d, n)
  local g = group(bk, d)
  if redis.call('HINCRBY', K_LEASE, g, itoa(-n)) <= 0 then
    redis.call('HDEL', K_LEASE, g)
    redis.call('ZREM', K_LEASES, g)
  end
end

-- index_build starts keeping the key index: it indexes every waiting, delayed and
-- leased task of the namespace, once, at its first unique enqueue. That one call
-- takes time in proportion to the tasks the namespace holds.
local function index_build()
  if indexed() then return end
  redis.call('HSET', K_STATS, 'ix', 1)
  ix_kept = true
  for _, q in ipairs(redis.call('SMEMBERS', K_QUEUES)) do
    local qk = queue_key(q)
    for i = 0, redis.call('LLEN', qk) - 1, 1000 do
      for _, b in ipairs(redis.call('LRANGE', qk, i, i + 999)) do index_add(b) end
    end
  end
  for i = 0, redis.call('ZCARD', K_DELAYED) - 1, 1000 do
    for _, m in ipairs(redis.call('ZRANGE', K_DELAYED, i, i + 999)) do
      index_add(unpack_n(string.sub(m, 17), 1)[2])
    end
  end
  local seen = {}
  for _, g in ipairs(redis.call('HKEYS', K_LEASE)) do
    local bk = tonumber(string.sub(g, 1, 16))
    if not seen[bk] then
      seen[bk] = true
      local all = redis.call('HGETALL', lease_key(bk))
      for i = 2, #all, 2 do
        local _, _, b = lease_rec(all[i])
        index_add(b)
      end
    end
  end
end

-- housekeep promotes due delayed tasks, then reclaims expired leases, at most
-- HK_BATCH of each, and returns how many leases it reclaimed.
local function housekeep(now)
  if read_only then return 0 end
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now_s, 'LIMIT', '0', HK_BATCH_S)
  for _, m in ipairs(due) do
    redis.call('ZREM', K_DELAYED, m)
    local f = unpack_n(string.sub(m, 17), 1)
    redis.call('LPUSH', queue_key(f[1]), f[2])
    bump('d:' .. f[1], -1)
    wake(f[1], 1)
  end
  local reclaimed = 0
  local groups = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now_s, 'WITHSCORES', 'LIMIT', '0', HK_BATCH_S)
  for gi = 1, #groups, 2 do
    if reclaimed >= HK_BATCH then break end
    local g, d = groups[gi], tonumber(groups[gi + 1])
    local bk = tonumber(string.sub(g, 1, 16))
    local lk = lease_key(bk)
    local toks, recs = group_records(bk, d)
    local n, done = 0, true
    for _, token in ipairs(toks) do
      if reclaimed >= HK_BATCH then done = false; break end
      local _, q, b = lease_rec(recs[token])
      redis.call('HDEL', lk, token)
      bump('l:' .. q, -1)
      bump('reclaimed', 1)
      put_back(q, b, false, 0, false, 'lease expired', now)
      n, reclaimed = n + 1, reclaimed + 1
    end
    if done then
      redis.call('HDEL', K_LEASE, g)
      redis.call('ZREM', K_LEASES, g)
    else
      group_sub(bk, d, n)
    end
  end
  return reclaimed
end

-- next_event returns ms until the next delayed task is due or lease expires, or -1.
local function next_event(now)
  local best = -1
  for _, k in ipairs({K_DELAYED, K_LEASES}) do
    local r = redis.call('ZRANGE', k, '0', '0', 'WITHSCORES')
    if r[2] then
      local d = tonumber(r[2]) - now
      if d < 0 then d = 0 end
      if best < 0 or d < best then best = d end
    end
  end
  return best
end

-- take_lease finds a live lease by token and task ID; it returns queue, blob,
-- deadline and record, or nil. Housekeeping may not have reached an expired lease
-- yet: it is lost all the same.
local function take_lease(token, id, now)
  local t = tonumber(token)
  if not t then return nil end
  local rec = redis.call('HGET', lease_key(lease_bucket(t)), token)
  if not rec then return nil end
  local dl, q, b = lease_rec(rec)
  if dl <= now or blob_id(b) ~= id then return nil end
  return q, b, dl, rec
end

local function drop_lease(token, q, dl)
  local bk = lease_bucket(tonumber(token))
  redis.call('HDEL', lease_key(bk), token)
  group_sub(bk, dl, 1)
  bump('l:' .. q, -1)
end

-- ack_all acks leases given in groups (ackArgs in ackbatch.go): per group its lease
-- bucket, the answers' TTL in ms, the job outcome ("" for finished without error,
-- else status, newline, error) and a count n; then per lease of the group its
-- token, its task ID after one byte of the ID's length, and its answer as stored
-- (storedAnswer) or "" for none. The leases are independent: each is acked when
-- live, as if alone; Go sends each token once. Returns one number per lease, in
-- order: 1 acked, 0 lost. A group's records are read, and dropped, in one call
-- each, and read in place, by offsets: the blob is copied out only for a job
-- record.
local function ack_all(args, now)
  local out, acked, leased, pa, ix = {}, 0, {}, P .. 'a:', indexed()
  local pos, no = 1, 0 -- no: #out, kept by hand, as # is a search
  while pos <= #args do
    local bk, ttl, job, n = args[pos], args[pos + 1], args[pos + 2], tonumber(args[pos + 3])
    pos = pos + 4
    local lk = lease_key(bk)
    local drop, nd, per_dl = {}, 0, {}
    for c = 0, n - 1, 1000 do
      local e = math.min(c + 999, n - 1)
      local toks = {}
      for j = c, e do toks[#toks + 1] = args[pos + 3 * j] end
      local recs = redis.call('HMGET', lk, unpack(toks))
      for j = c, e do
        local a, rec, ok = pos + 3 * j, recs[j - c + 1], 0
        if rec then
          local d1, d2, d3, d4, d5, d6, l1, l2, l3, l4 = sbyte(rec, 1, 10)
          local dl = ((((d1 * 256 + d2) * 256 + d3) * 256 + d4) * 256 + d5) * 256 + d6
          local o = 10 + ((l1 * 256 + l2) * 256 + l3) * 256 + l4 -- blob byte k is rec byte o + k
          -- Blob byte 28 is the ID's length, and the ID follows: one find checks both.
          if dl > now and sfind(rec, args[a + 1], o + 28, true) == o + 28 then
            local q, ans = ssub(rec, 11, o), args[a + 2]
            nd = nd + 1
            drop[nd] = args[a]
            per_dl[dl] = (per_dl[dl] or 0) + 1
            leased[q] = (leased[q] or 0) + 1
            if ans ~= '' or ix then
              local d = ssub(rec, o + 6, o + 21) -- the key digest, blob bytes 6-21
              if ix then redis.call('HDEL', index_key(d), d .. ssub(args[a + 1], 2)) end
              -- GET makes the reply the old value, mostly nil: cheaper for a script to
              -- take than the status reply OK, which becomes a table.
              if ans ~= '' then redis.call('SET', pa .. d, ans, 'PX', ttl, 'GET') end
            end
            if sbyte(rec, o + 1) % 4 >= 2 then -- tracked (blob_tracked)
              local id = ssub(args[a + 1], 2)
              if job == '' then
                job_final(id, 'finished', '')
              else
                local nl = sfind(job, '\n', 1, true)
                job_final(id, ssub(job, 1, nl - 1), ssub(job, nl + 1))
              end
            end
            acked, ok = acked + 1, 1
          end
        end
        no = no + 1
        out[no] = ok
      end
    end
    many('HDEL', lk, drop, 1)
    for dl, k in pairs(per_dl) do group_sub(bk, dl, k) end
    pos = pos + 3 * n
  end
  for q, k in pairs(leased) do bump('l:' .. q, -k) end
  if acked > 0 then bump('acked', acked) end
  return out
end

-- Epochs. A task ID or lease token is "<epoch>-<n>" (epoch.go): n from the
-- sequence, and the epoch a random name of the sequence's life, made by Go and
-- stored at KEYS[10]. Whenever the sequence starts again at 1 (a new namespace,
-- or a store that lost its data) or the epoch is missing, the call that takes
-- numbers stores a new one, so numbers handed out again never carry the epoch
-- they were handed out with before. Stored tasks and leases hold n alone: Go adds
-- the epoch on the way out, splits it off on the way in and passes it once per
-- call, and a call whose epoch is not the current one names nothing.

-- epoch returns the current epoch, or '' when there is none.
local function epoch() return redis.call('GET', K_EPOCH) or '' end

-- epoch_is tells whether e is the current epoch.
local function epoch_is(e) return e ~= '' and redis.call('GET', K_EPOCH) == e end

-- take_seq takes n numbers from the sequence and returns the first minus one and
-- their epoch; cand is the epoch to store when a new one is needed.
local function take_seq(n, cand)
  local last = redis.call('INCRBY', K_SEQ, itoa(n))
  local e = last ~= n and redis.call('GET', K_EPOCH)
  if not e then
    redis.call('SET', K_EPOCH, cand)
    e = cand
  end
  return last - n, e
end

-- Requests. go-redis sends a command again after some network errors, and the
-- first send may have run. So a call that changes state may name a request key,
-- KEYS[11], unique to the call, and pass how long to keep it (ms) as its last
-- argument. req_check, called before any write, returns the outcome a run of the
-- same request stored, or nil; req_done stores this run's outcome. Without a
-- request key both do nothing.
local function req_check(ttl)
  if not K_REQ or ttl == '' then return nil end
  req_ttl = ttl
  return redis.call('GET', K_REQ) or nil
end
local function req_done(outcome)
  if req_ttl then redis.call('SET', K_REQ, outcome, 'PX', req_ttl) end
end

-- ack_check checks the group headers of ack_all's arguments before anything is
-- written, and returns what is wrong or nil: a script that fails after a write
-- leaves that write, since Redis does not roll a script back. An answer TTL must
-- be whole ms that a PX takes.
local function ack_check(args)
  local pos = 1
  while pos <= #args do
    local ttl, n = args[pos + 1], tonumber(args[pos + 3])
    if not n or not sfind(ttl, '^%d+$') or #ttl > 15 then
      return 'ERR keyq: bad ack group at argument ' .. itoa(pos)
    end
    pos = pos + 4 + 3 * n
  end
  return nil
end
