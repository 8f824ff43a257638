-- common.lua: definitions shared by every script; the Go side splices it in where a
-- script says --@common. Every script gets the same KEYS:
--   KEYS[1] seq      string  the namespace's sequence (task IDs and lease tokens)
--   KEYS[2] delayed  zset    due ms -> pad16(id) .. pack(queue) .. blob
--   KEYS[3] leases   zset    deadline ms -> pad16(token)
--   KEYS[4] lease    hash    token -> pack(queue) .. blob
--   KEYS[5] stats    hash    counters, and per queue l:<q> leased, d:<q> delayed, x:<q> dead
--   KEYS[6] dead     hash    id -> pack(queue, reason, died ms, job type, job TTL) .. blob
--   KEYS[7] deadz    zset    dead order -> id
--   KEYS[8] queues   set     every queue the namespace has seen
--   KEYS[9] prefix   string  never read or written: the namespace's key prefix. The
--                            per-queue, per-key and per-task keys below are built from
--                            it and share its hash tag, so they lie in its slot:
--                            q:<queue> list of blobs, a:<hex digest> answer hash,
--                            j:<id> job record hash, k:<3 hex> key index hash.
-- The wake-up channel is prefix .. 'w'; its messages are "<count>:<queue>", or
-- empty to wake every waiter.
--
-- A blob is a task as stored. Bytes (1-based): 1 flags, 2-3 attempt, 4-5 max
-- attempts, 6-21 key digest, 22-27 enqueued ms, 28 id length, then the id, then the
-- rest, which only Go reads (encoding.go).
local K_SEQ, K_DELAYED, K_LEASES, K_LEASE = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_STATS, K_DEAD, K_DEADZ, K_QUEUES, P = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local HK_BATCH = 1000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function pad16(n) return string.format('%016d', n) end
local function itoa(n) return string.format('%d', n) end

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

local HEX16 = string.rep('%02x', 16)
local function answer_key(digest) return P .. 'a:' .. string.format(HEX16, string.byte(digest, 1, 16)) end
local function index_key(digest)
  return P .. 'k:' .. string.format('%02x%x', string.byte(digest, 1), math.floor(string.byte(digest, 2) / 16))
end
local function job_key(id) return P .. 'j:' .. id end
local function queue_key(q) return P .. 'q:' .. q end

-- wake tells waiting consumers that n tasks became available in queue q: it
-- publishes "<n>:<q>" on the namespace's channel. An empty message wakes every
-- waiter of the namespace (new_event).
local function wake(q, n)
  redis.call('PUBLISH', P .. 'w', n .. ':' .. q)
end

-- new_event wakes the waiters when the member just added to a delayed or leases
-- zset is now its earliest: they time their next try by the earliest event, and
-- this one is sooner than they know. The message is an empty queue name.
local function new_event(zkey, member)
  local first = redis.call('ZRANGE', zkey, 0, 0)
  if first[1] == member then redis.call('PUBLISH', P .. 'w', '') end
end

local function index_add(digest, n)
  local k = index_key(digest)
  if redis.call('HINCRBY', k, digest, n) <= 0 then redis.call('HDEL', k, digest) end
end

local function job_set(b, ...)
  if blob_tracked(b) then redis.call('HSET', job_key(blob_id(b)), ...) end
end

-- job_end gives a tracked task's record a final status; it expires after its TTL.
local function job_end(b, status, now, err)
  if not blob_tracked(b) then return end
  local k = job_key(blob_id(b))
  if err and err ~= '' then
    redis.call('HSET', k, 'status', status, 'end', now, 'err', err, 'attempts', blob_attempt(b))
  else
    redis.call('HSET', k, 'status', status, 'end', now, 'attempts', blob_attempt(b))
  end
  local ttl = tonumber(redis.call('HGET', k, 'ttl') or '0')
  if ttl and ttl > 0 then redis.call('PEXPIRE', k, ttl) end
end

local function bump(field, n) redis.call('HINCRBY', K_STATS, field, n) end

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
  index_add(blob_digest(b), -1)
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
    job_set(b, 'status', 'pending', 'attempts', attempt, 'err', reason)
  else
    job_set(b, 'status', 'pending', 'attempts', attempt)
  end
  if delay > 0 then
    local m = pad16(tonumber(blob_id(b))) .. pack(q) .. b
    redis.call('ZADD', K_DELAYED, now + delay, m)
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

-- housekeep promotes due delayed tasks, then reclaims expired leases, at most
-- HK_BATCH of each, and returns how many leases it reclaimed.
local function housekeep(now)
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, HK_BATCH)
  for _, m in ipairs(due) do
    redis.call('ZREM', K_DELAYED, m)
    local f = unpack_n(string.sub(m, 17), 1)
    redis.call('LPUSH', queue_key(f[1]), f[2])
    bump('d:' .. f[1], -1)
    wake(f[1], 1)
  end
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, HK_BATCH)
  for _, m in ipairs(expired) do
    local token = itoa(tonumber(m))
    local f = unpack_n(redis.call('HGET', K_LEASE, token), 1)
    redis.call('ZREM', K_LEASES, m)
    redis.call('HDEL', K_LEASE, token)
    bump('l:' .. f[1], -1)
    bump('reclaimed', 1)
    put_back(f[1], f[2], false, 0, false, 'lease expired', now)
  end
  return #expired
end

-- next_event returns ms until the next delayed task is due or lease expires, or -1.
local function next_event(now)
  local best = -1
  for _, k in ipairs({K_DELAYED, K_LEASES}) do
    local r = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    if r[2] then
      local d = tonumber(r[2]) - now
      if d < 0 then d = 0 end
      if best < 0 or d < best then best = d end
    end
  end
  return best
end

-- take_lease finds a live lease by token and task ID; it returns queue, blob or nil.
local function take_lease(token, id, now)
  local rec = redis.call('HGET', K_LEASE, token)
  if not rec then return nil end
  -- Housekeeping may not have reached an expired lease yet: it is lost all the same.
  local deadline = redis.call('ZSCORE', K_LEASES, pad16(tonumber(token)))
  if not deadline or tonumber(deadline) <= now then return nil end
  local f = unpack_n(rec, 1)
  if blob_id(f[2]) ~= id then return nil end
  return f[1], f[2]
end

local function drop_lease(token, q)
  redis.call('HDEL', K_LEASE, token)
  redis.call('ZREM', K_LEASES, pad16(tonumber(token)))
  bump('l:' .. q, -1)
end
