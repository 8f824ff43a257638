-- listen: keep the namespace's wake-ups published for a while, for a Notify
-- listener (common/begin.lua, Listeners). It moves the state key wt (K_ST[4]) to now +
-- ARGV[1] ms unless it ends later already. When the key had lapsed or was
-- missing, or its life wl (K_ST[5]) was, wake-ups may have gone unpublished: the key
-- starts a new life, named ARGV[2]. No housekeeping: it
-- changes no task (backend/doc.go).
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] ms to publish for  ARGV[2] the name of a new life
-- Returns {the field's life}: a listener that renewed the field before and now
-- sees another life tells its waiters to look again.
--@common
local now = now_ms()
local r = redis.call('MGET', K_ST[4], K_ST[5])
local until_at, life = tonumber(r[1]), r[2]
if not until_at or until_at <= now or not life then life = ARGV[2] end
local want = now + tonumber(ARGV[1])
if until_at and until_at > want then want = until_at end
redis.call('MSET', K_ST[4], itoa(want), K_ST[5], life)
return {life}
