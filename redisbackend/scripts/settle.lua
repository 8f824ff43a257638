-- settle: end many leases at once, each with its own outcome; the items are
-- independent, each settled when its lease is live, as if alone.
-- KEYS: the common keys (common/begin.lua), with the optional request key KEYS[11].
-- ARGV[1] the leases' epoch  ARGV[2] n, how many arguments the acks take
-- ARGV[3 .. 2 + n] the acks, in groups as ack_all in common/acks.lua reads them
-- then per release or dead-letter: token, task ID, mode, delay ms, error; mode is
--   "d" to dead-letter, or "r" then "1" or "0" for to the tail, then "1" or "0"
--   for keeping the attempt count
-- ARGV[#ARGV] request TTL ms or ""
-- Returns one number per item, the acks first, each part in order: 1 done, 0 lost
-- (not live), 2 dead (a release that used up the task's attempts); or {"lost"}
-- when the epoch is not the current one. A resent request returns what its first
-- run did. Go sends each token once.
--@common
local reqttl = table.remove(ARGV)
local now = now_ms()
local seen = req_check(reqttl)
if seen then
  local out = {}
  for i = 1, #seen do out[i] = sbyte(seen, i) - 48 end
  return out
end
if not epoch_is(ARGV[1]) then return {'lost'} end
-- Everything is checked before the first write: a script is not rolled back.
local na = tonumber(ARGV[2])
if not na then return redis.error_reply('ERR keyq: bad ack count') end
local bad = ack_check(ARGV, 3, 2 + na)
if bad then return redis.error_reply(bad) end
for i = 3 + na, #ARGV, 5 do
  if not tonumber(ARGV[i + 3]) then return redis.error_reply('ERR keyq: bad delay at argument ' .. itoa(i + 3)) end
end
housekeep(now)
local out = ack_all(ARGV, 3, 2 + na, now)
local no, released = #out, 0
for i = 3 + na, #ARGV, 5 do
  local token, id, mode, err = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 4]
  local q, b, dl, _, single = take_lease(token, id, now)
  local r = 0
  if q then
    drop_lease(token, q, dl, single)
    released, r = released + 1, 1
    if mode == 'd' then
      if err == '' then err = 'dead-lettered' end
      to_dead(q, b, err, now)
    else
      local keep = ssub(mode, 3, 3) == '1'
      if not keep and blob_attempt(b) + 1 >= blob_max(b) then r = 2 end
      put_back(q, b, keep, tonumber(ARGV[i + 3]), ssub(mode, 2, 2) == '1', err, now)
    end
  end
  no = no + 1
  out[no] = r
end
if released > 0 then bump('released', released) end
req_done(table.concat(out))
return out
