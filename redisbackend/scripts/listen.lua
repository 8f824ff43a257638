-- listen: keep the namespace's wake-ups published for a while, for a Notify
-- listener (common/begin.lua, Listeners). It moves the stats field ST_LISTEN to
-- now + ARGV[1] ms unless it ends later already. When the field had lapsed or
-- was missing, or its life ST_LISTEN_LIFE was, wake-ups may have gone
-- unpublished: the field starts a new life, named ARGV[2]. No housekeeping: it
-- changes no task (backend/doc.go).
-- KEYS: the common keys (common/begin.lua).
-- ARGV[1] ms to publish for  ARGV[2] the name of a new life
-- Returns {the field's life}: a listener that renewed the field before and now
-- sees another life tells its waiters to look again.
--@common
local now = now_ms()
local r = redis.call('HMGET', K_STATS, ST_LISTEN, ST_LISTEN_LIFE)
local until_at, life = tonumber(r[1]), r[2]
if not until_at or until_at <= now or not life then life = ARGV[2] end
local want = now + tonumber(ARGV[1])
if until_at and until_at > want then want = until_at end
redis.call('HSET', K_STATS, ST_LISTEN, itoa(want), ST_LISTEN_LIFE, life)
return {life}
