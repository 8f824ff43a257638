-- delayed: list the delayed tasks that are not yet due, earliest due first, then
-- by ID, of one queue or of every queue (S12.5). It only reads, and never
-- housekeeps: a delayed task already due counts as waiting, and is not listed.
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] queue, or "" for every queue  ARGV[2] offset  ARGV[3] count
-- Returns {now ms, then per task: due ms, pack(queue) .. blob, then the epoch or ""}.
-- Every queue: one ZRANGE of the window. One queue: the delayed zset is read from
-- its first task not yet due, in chunks, until the window is full or every
-- delayed task of the queue (its stats count) was seen: time in proportion to
-- the delayed tasks of the namespace due before the window's last.
--@common
local now = now_ms()
local q, off, cnt = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out, no = {now}, 1
-- The members due at or before now are the first of the zset: skip them.
local first = redis.call('ZCOUNT', K_DELAYED, '-inf', now_s)
if q == '' then
  local r = redis.call('ZRANGE', K_DELAYED, itoa(first + off), itoa(first + off + cnt - 1), 'WITHSCORES')
  for i = 1, #r, 2 do
    out[no + 1], out[no + 2] = r[i + 1], ssub(r[i], PAD + 1)
    no = no + 2
  end
else
  local want = pack(q)
  local left = tonumber(redis.call('HGET', K_STATS, ST_DELAYED .. q) or '0') -- q's members not yet met
  local at = first
  while cnt > 0 and left > 0 do
    local r = redis.call('ZRANGE', K_DELAYED, itoa(at), itoa(at + CHUNK - 1), 'WITHSCORES')
    if #r == 0 then break end
    for i = 1, #r, 2 do
      local m = r[i]
      if ssub(m, PAD + 1, PAD + #want) == want then
        left = left - 1
        if off > 0 then
          off = off - 1
        elseif cnt > 0 then
          out[no + 1], out[no + 2] = r[i + 1], ssub(m, PAD + 1)
          no, cnt = no + 2, cnt - 1
        end
      end
    end
    at = at + CHUNK
  end
end
out[no + 1] = epoch()
return out
