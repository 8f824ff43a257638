-- pause: stop deliveries from queues, or start them again (S12.1). The paused
-- queues are the state key ps, K_ST[3] (common/begin.lua, Paused queues); a
-- paused queue also joins the queues set, so that Stats lists it.
-- KEYS: the common keys (common/begin.lua), with the optional request key KEYS[11].
-- ARGV[1] "1" to resume, "0" to pause  ARGV[2..] queue names
-- ARGV[#ARGV] request TTL ms or ""
-- Returns {now ms, how many queues changed state}. A resume that changed a queue
-- publishes an empty message: every waiter looks again. A resent request returns
-- what its first run did.
--@common
local reqttl = table.remove(ARGV)
local now = now_ms()
local seen = req_check(reqttl)
if seen then return {now, tonumber(seen)} end
-- No housekeeping: a pause changes no task (backend/doc.go), as the memory
-- driver's does not.
local set = paused() or {}
local resume, changed = ARGV[1] == '1', 0
for i = 2, #ARGV do
  local q = ARGV[i]
  if (set[q] == true) == resume then
    if resume then set[q] = nil else set[q] = true end
    changed = changed + 1
  end
end
if changed > 0 then
  move_legacy()
  local names = {}
  for q in pairs(set) do names[#names + 1] = q end
  if #names == 0 then
    redis.call('DEL', K_ST[3])
  else
    table.sort(names) -- the same field for the same queues, whatever the table's order
    for i, q in ipairs(names) do names[i] = pack(q) end
    redis.call('SET', K_ST[3], table.concat(names))
  end
  if resume then
    redis.pcall('PUBLISH', P .. KS_CHANNEL, '')
  else
    local qs = {}
    for i = 2, #ARGV do qs[i - 1] = ARGV[i] end
    many('SADD', K_QUEUES, qs, 1)
  end
end
req_done(itoa(changed))
return {now, changed}
