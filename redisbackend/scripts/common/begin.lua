-- common/begin.lua: the KEYS and the per-call state. The common code (common/*.lua,
-- joined in the order of CommonFiles in internal/lua/assemble.go, after the
-- layout's prelude) is spliced into each script where it says --@common. Every
-- script gets the same KEYS (lua.Keys):
--   KEYS[1] seq      string  the namespace's sequence (task IDs and lease tokens)
--   KEYS[2] delayed  zset    due ms -> pad(id) .. pack(queue) .. blob
--   KEYS[3] leases   zset    deadline ms -> lease group pad(bucket) .. '@' .. deadline,
--                            or single lease pad(bucket) .. '!' .. token (common/leases.lua)
--   KEYS[4] lease    hash    lease group -> how many live leases it holds
--   KEYS[5] stats    hash    counters, per queue l:<q> leased, d:<q> delayed, x:<q> dead
--   KEYS[6] dead     hash    id -> pack(queue, reason, died ms, job type, job TTL) .. blob
--   KEYS[7] deadz    zset    dead order -> id
--   KEYS[8] queues   set     every queue the namespace has seen
--   KEYS[9] prefix   string  never read or written: the namespace's key prefix. The
--                            per-queue, per-key and per-task keys are built from it
--                            (queue_key, answer_key, job_key, index_key, lease_key)
--                            and share its hash tag, so they lie in its slot.
--   KEYS[10] epoch   string  the name of the sequence's life (see Epochs below)
--   KEYS[11] request string  optional: the outcome of this call, for a resend
--                            (see Requests below)
-- and the state keys, strings built from the prefix, which a call reads with one
-- MGET with the epoch (read_due, or req_check, which reads the request key too),
-- in K_ST:
--   K_ST[1] due              see The due time
--   K_ST[2] ix               set when the key index is kept (common/keyindex.lua)
--   K_ST[3] ps               the paused queues (see Paused queues)
--   K_ST[4] wt, K_ST[5] wl   while someone listens, and the life of that (see Listeners)
--
-- The code is loaded two ways (scripts.go): spliced into each script for EVALSHA,
-- or once, as a Redis 7 function library that holds every script as a function.
-- A library outlives its calls, so whatever belongs to one call is set by begin,
-- which every script calls first.
local K_SEQ, K_DELAYED, K_LEASES, K_LEASE, K_STATS, K_DEAD, K_DEADZ, K_QUEUES, P
local K_EPOCH, K_REQ, req_ttl
-- K_ST holds the state keys, due, ix, ps, wt and wl in that order (lua.KeyDue ...): one table,
-- not a local each, as the pruned scripts for EVAL come near Lua's limit of 200 locals.
local K_ST
-- st_cache holds K_ST per prefix, and at [0] how many prefixes, in a function
-- library, which outlives its calls: a call of a namespace seen before builds no
-- key names. It keeps at most 1024 namespaces, then starts again. A script for
-- EVALSHA, which starts anew on every call, builds them and keeps none.
local st_cache
local ep_read -- the epoch key's value once read in this call (false: none), or nil
local ix_kept -- indexed()'s answer, once asked
local due_at  -- the state key due as a number, once read (see note_event)
local paused_s -- the state key ps, read with due (false: none paused)
local paused_set -- paused()'s answer, once asked
local listen_at -- the state key wt as a number, read with due (-1: none)
local legacy  -- older builds' state fields, until moved (take_state)
local now_s   -- now_ms() as a string
local now_at  -- now_ms(), for heard(); 0 before this call has read the time
-- now_up is now_ms() rounded up to the millisecond: deadlines and due times start
-- from it, so that a lease or a delay never ends before its full duration has
-- passed on the server's clock (S4.1, S7.2), while now_ms(), rounded down, says
-- what has ended.
local now_up
-- The string functions every task goes through, as locals: a global lookup per call
-- is a table read. Loading a library may not read globals, so begin sets them.
local sbyte, ssub, sfind, floor

-- read_only is true in the read-only twins of the scripts that write only on
-- request (Twins in internal/lua): housekeeping, which writes, is skipped there.
local read_only

-- begin sets up a call: keys are its KEYS, ro is true in a read-only twin, and
-- lib is true where the code outlives the call (a function library). With part,
-- it starts one part of a call that runs several scripts' bodies
-- (scripts/exchange.lua), after the call's own begin: keys, the part's KEYS, name
-- the same namespace, so the time and the state a part before read stay, as its
-- writes kept them up to date; keys[11] is the part's request: a table that
-- stands for the call's one request key (req_check), and its TTL is the part's.
-- (An argument, not a function of its own: the common code's locals are near
-- Lua's limit of 200 in a chunk.)
local function begin(keys, ro, lib, part)
  if part then
    K_REQ, req_ttl = keys[11], nil
    return
  end
  read_only = ro == true
  K_SEQ, K_DELAYED, K_LEASES, K_LEASE = keys[1], keys[2], keys[3], keys[4]
  K_STATS, K_DEAD, K_DEADZ, K_QUEUES, P = keys[5], keys[6], keys[7], keys[8], keys[9]
  ix_kept, now_s, due_at, paused_s, paused_set, legacy = nil, nil, nil, nil, nil, nil
  listen_at, now_at = nil, 0
  K_EPOCH, K_REQ, req_ttl, ep_read = keys[10], keys[11], nil, nil
  K_ST = lib and st_cache and st_cache[P]
  if not K_ST then
    K_ST = {P .. KS_DUE, P .. KS_INDEXED, P .. KS_PAUSED, P .. KS_LISTEN, P .. KS_LISTEN_LIFE}
    if lib then
      if not st_cache or st_cache[0] >= 1024 then st_cache = {[0] = 0} end
      st_cache[P], st_cache[0] = K_ST, st_cache[0] + 1
    end
  end
  sbyte, ssub, sfind, floor = string.byte, string.sub, string.find, math.floor
end

-- A number given to redis.call is formatted with %.17g, which costs more than the
-- rest of a small call: arguments that are numbers in Lua go as strings where they
-- are built once anyway, or are literals.

-- The time is read once per call: the parts of a call that runs several scripts'
-- bodies (begin's part) share it, as they share one hold of the memory backend.
local function now_ms()
  if now_at ~= 0 then return now_at end
  local t = redis.call('TIME')
  -- Each string read as a number once: a conversion is a strtod.
  local sec, us = tonumber(t[1]) * 1000, tonumber(t[2])
  local now = sec + floor(us / 1000)
  now_up = sec + math.ceil(us / 1000)
  now_s = string.format('%d', now)
  now_at = now
  return now
end

local function pad16(n) return string.format(PAD_FMT, n) end
-- itoa formats an integer. One task per call makes most counts 1, which needs no
-- format: string.format is among the dearest steps of a small call.
local function itoa(n)
  if n == 1 then return '1' end
  return string.format('%d', n)
end

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

-- many calls cmd on key with args[1..n] in chunks of at most CHUNK groups of width
-- arguments, which keeps unpack within Lua's stack.
local function many(cmd, key, args, width)
  local step = CHUNK * width
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function bump(field, n) redis.call('HINCRBY', K_STATS, field, itoa(n)) end

-- The due time. The state key due holds a time no later than any delayed
-- task's due time or lease group's deadline, NO_EVENT when the namespace has
-- neither: housekeeping does its work only once that time has come, and then sets
-- the field from the delayed and leases zsets again. Removing an event leaves the
-- field early, which costs one round of housekeeping that finds nothing; adding
-- one earlier than the field lowers it (note_event). A missing field (a new
-- namespace, a key lost) counts as due, so housekeeping runs and sets it.
local NO_EVENT = 9007199254740992 -- 2^53 ms: never

-- State keys of builds before them were fields of the stats hash (ST_*). A call
-- that finds due missing, as it is in such a namespace, reads those fields too
-- and takes each for its key where the key is missing, so that paused queues
-- stay paused and a kept key index stays kept across the upgrade; the first call
-- that may write moves them to the keys (move_legacy). The due time itself is
-- not taken: missing, it counts as due.

-- move_legacy moves the fields take_state found to their keys, where those are
-- still missing, and deletes them. Housekeeping calls it, and so does any other
-- writer of a state key before it writes.
local function move_legacy()
  if not legacy or read_only then return end
  local set, k = {}, 0
  for i, v in pairs(legacy) do
    if redis.call('EXISTS', K_ST[i]) == 0 then set[k + 1], set[k + 2], k = K_ST[i], v, k + 2 end
  end
  if k > 0 then redis.call('MSET', unpack(set)) end
  redis.call('HDEL', K_STATS, ST_INDEXED, ST_PAUSED, ST_LISTEN, ST_LISTEN_LIFE)
  legacy = nil
end

-- take_state takes the state keys' values from r[i], r[i + 1], ... as an MGET of
-- K_ST[1] to K_ST[4] returned them, and, with K_ST[1] missing, the older builds'
-- fields for the keys missing (see above).
local function take_state(r, i)
  due_at = tonumber(r[i]) or -1
  if ix_kept == nil then ix_kept = r[i + 1] ~= false end
  paused_s = r[i + 2]
  listen_at = tonumber(r[i + 3]) or -1
  if r[i] then return end
  local f = redis.call('HMGET', K_STATS, ST_INDEXED, ST_PAUSED, ST_LISTEN, ST_LISTEN_LIFE)
  if not (f[1] or f[2] or f[3] or f[4]) then return end
  legacy = {} -- K_ST index -> value
  if f[1] and not r[i + 1] then ix_kept, legacy[2] = true, f[1] end
  if f[2] and not r[i + 2] then paused_s, legacy[3] = f[2], f[2] end
  if f[3] and not r[i + 3] then listen_at, legacy[4] = tonumber(f[3]) or -1, f[3] end
  if f[4] then legacy[5] = f[4] end
end

-- read_due reads due, with ix (indexed()), ps (paused()) and wt
-- (heard()) in the same call, and with the epoch (epoch_get) when this call has
-- not read it yet: most calls that read one need the other.
local function read_due()
  if ep_read ~= nil then
    take_state(redis.call('MGET', K_ST[1], K_ST[2], K_ST[3], K_ST[4]), 1)
    return
  end
  local r = redis.call('MGET', K_EPOCH, K_ST[1], K_ST[2], K_ST[3], K_ST[4])
  ep_read = r[1]
  take_state(r, 2)
end

-- Paused queues (S12.1). The state key ps holds the names of the paused
-- queues, each as its length, ':', the name (pack in common/codec.lua), and is
-- absent while none is paused. read_due reads it with due, which every call
-- that changes state reads first: a dequeue skips paused queues without a command
-- of its own, and pays for parsing only while some queue is paused.

-- paused returns the set of paused queues (name -> true), or nil when none is.
-- The caller may change the set: pause.lua does, and then writes it.
local function paused()
  if due_at == nil then read_due() end
  if not paused_s then return nil end
  if paused_set then return paused_set end
  local set, pos = {}, 1
  while pos <= #paused_s do
    local c = sfind(paused_s, ':', pos, true)
    local len = tonumber(ssub(paused_s, pos, c - 1))
    set[ssub(paused_s, c + 1, c + len)] = true
    pos = c + len + 1
  end
  paused_set = set
  return set
end

-- note_event keeps the field no later than t, the time of an event just added.
local function note_event(t)
  if due_at == nil then read_due() end
  if t < due_at then
    due_at = t
    redis.call('SET', K_ST[1], itoa(t))
  end
end

-- Listeners. A wake-up is for consumers that wait, and most calls are made while
-- none does: so the scripts publish one only while someone may hear it. The
-- state key wt holds a server time (ms) until which some Notify listener
-- of the namespace may be registered; a Backend with a listener renews it well
-- before it ends (listen.lua, notify.go), and read_due reads it with due, so
-- the check costs no command. A listener renews it after its subscription is
-- confirmed and before Notify returns: every call after that publishes. A
-- missing or lapsed key (a new namespace, a lost key, a failover, no listener for
-- a while) means nobody listens; a Backend that finds it so on a renewal starts a
-- new life of it (wl), and its listeners,
-- and every other Backend's when they renew next, look again (Wake{}), for what
-- was not announced meanwhile. Cancel's message and a resume's are for workers
-- that listen all the time, and are published always.

-- heard tells whether some listener may hear a message on the channel now.
local function heard()
  if due_at == nil then read_due() end
  return now_at < listen_at
end

-- queue_key names queue q's list. DESIGN's exception: built from the prefix,
-- because which queues a call touches is known only inside the script
-- (housekeeping puts tasks back in the queues their records name).
local function queue_key(q) return P .. KS_QUEUE .. q end

-- wake tells waiting consumers that n tasks became available in queue q: it
-- publishes "<n>:<q>" on the namespace's channel, prefix .. KS_CHANNEL. An empty
-- message wakes every waiter of the namespace (new_event). A channel is not a
-- key, so KEYS does not name it. A wake-up is best effort: with PUBLISH refused
-- (an ACL without the channel) the call goes on, and waiters poll instead. The
-- tasks of a paused queue wake nobody: its resume wakes everyone (pause.lua).
-- Nor does anything while no listener is registered (heard). Every script that
-- wakes has housekept first, so reading the paused queues and the listeners'
-- field costs no command.
local function wake(q, n)
  if not heard() then return end
  local stopped = paused()
  if stopped and stopped[q] then return end
  redis.pcall('PUBLISH', P .. KS_CHANNEL, n .. ':' .. q)
end

-- new_event tells the waiters when the member just added to a delayed or leases
-- zset is now its earliest: they time their next try by the earliest event, and
-- this one, due in_ms from now, is sooner than they know. The message is
-- MSG_EVENT .. in_ms (Wake{In}): they look again then, not at once. While
-- no listener is registered (heard) there are no such waiters, and it costs no
-- command.
local function new_event(zkey, member, in_ms)
  if not heard() then return end
  local first = redis.call('ZRANGE', zkey, '0', '0')
  if first[1] == member then
    redis.pcall('PUBLISH', P .. KS_CHANNEL, MSG_EVENT .. itoa(math.max(in_ms, 1)))
  end
end

-- Epochs. A task ID or lease token is "<epoch>-<n>" (epoch.go): n from the
-- sequence, and the epoch a random name of the sequence's life, made by Go and
-- stored at KEYS[10]. Whenever the sequence starts again at 1 (a new namespace,
-- or a store that lost its data) or the epoch is missing, the call that takes
-- numbers stores a new one, so numbers handed out again never carry the epoch
-- they were handed out with before. Stored tasks and leases hold n alone: Go adds
-- the epoch on the way out, splits it off on the way in and passes it once per
-- call, and a call whose epoch is not the current one names nothing.

-- The epoch key is read at most once a call: with the request key, by req_check,
-- or with the state keys, by read_due, or alone once those were read.
local function epoch_get()
  if ep_read == nil then
    if due_at == nil then read_due() else ep_read = redis.call('GET', K_EPOCH) end
  end
  return ep_read
end

-- epoch returns the current epoch, or '' when there is none.
local function epoch() return epoch_get() or '' end

-- epoch_is tells whether e is the current epoch.
local function epoch_is(e) return e ~= '' and epoch_get() == e end

-- take_seq takes n numbers from the sequence and returns the first minus one and
-- their epoch; cand is the epoch to store when a new one is needed.
local function take_seq(n, cand)
  local last = redis.call('INCRBY', K_SEQ, itoa(n))
  local e = last ~= n and epoch_get()
  if not e then
    redis.call('SET', K_EPOCH, cand)
    e, ep_read = cand, cand
  end
  return last - n, e
end

-- Requests. go-redis sends a command again after some network errors, and the
-- first send may have run. So a call that changes state may name a request key,
-- KEYS[11], unique to the call, and pass how long to keep it (ms) as its last
-- argument. req_check, called before any write, returns the outcome a run of the
-- same request stored, or nil; req_done stores this run's outcome. Without a
-- request key both do nothing. req_check reads the epoch and the state keys
-- (read_due) in the same call, as most scripts that take a request key read them
-- too.
local function req_check(ttl)
  if not K_REQ or ttl == '' then return nil end
  req_ttl = ttl
  -- A part of a call (begin's part) has a table for a request key: the call keeps
  -- one key for all its parts, and hands each part its piece (seen) and takes
  -- its outcome (done) (scripts/exchange.lua).
  if type(K_REQ) == 'table' then return K_REQ.seen end
  local r = redis.call('MGET', K_REQ, K_EPOCH, K_ST[1], K_ST[2], K_ST[3], K_ST[4])
  ep_read = r[2]
  take_state(r, 3)
  return r[1] or nil
end
local function req_done(outcome)
  if not req_ttl then return end
  if type(K_REQ) == 'table' then
    K_REQ.done = outcome
  else
    redis.call('SET', K_REQ, outcome, 'PX', req_ttl)
  end
end
