-- common/keyindex.lua: the key index. It holds one field, digest .. ID, per task
-- that is waiting, delayed or leased; unique enqueues look a digest up in it
-- (S2.4). A field per task, rather than a count per digest, makes adding and
-- removing one call each. A namespace keeps it only from its first unique enqueue
-- on (index_build), so namespaces that never enqueue uniquely do not pay for it;
-- the state key ix (K_ST[2]) marks it as kept.

local function indexed()
  if ix_kept == nil then read_due() end
  return ix_kept
end
-- index_key names the index bucket of a digest: its first 12 bits, 4096 buckets.
-- DESIGN's exception: built from the prefix, because the bucket follows from the
-- digest of a task the script pops, reclaims or acks.
local function index_key(digest)
  return P .. KS_INDEX .. string.sub(digest, 1, 1) .. string.char(math.floor(string.byte(digest, 2) / 16))
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
    local r = redis.call('HSCAN', k, cursor, 'COUNT', CHUNK)
    for i = 1, #r[2], 2 do
      if string.sub(r[2][i], 1, DIGEST_LEN) == d then return true end
    end
    cursor = r[1]
  until cursor == '0'
  return false
end

-- index_build starts keeping the key index: it indexes every waiting, delayed and
-- leased task of the namespace, once, at its first unique enqueue. That one call
-- takes time in proportion to the tasks the namespace holds.
local function index_build()
  if indexed() then return end
  redis.call('SET', K_ST[2], '1')
  ix_kept = true
  for _, q in ipairs(redis.call('SMEMBERS', K_QUEUES)) do
    local qk = queue_key(q)
    for i = 0, redis.call('LLEN', qk) - 1, CHUNK do
      for _, b in ipairs(redis.call('LRANGE', qk, i, i + CHUNK - 1)) do index_add(b) end
    end
  end
  for i = 0, redis.call('ZCARD', K_DELAYED) - 1, CHUNK do
    for _, m in ipairs(redis.call('ZRANGE', K_DELAYED, i, i + CHUNK - 1)) do
      index_add(unpack_n(string.sub(m, PAD + 1), 1)[2])
    end
  end
  for _, bk in ipairs(lease_buckets()) do
    local all = redis.call('HGETALL', lease_key(bk))
    for i = 2, #all, 2 do
      local _, _, b = lease_rec(all[i])
      index_add(b)
    end
  end
end
