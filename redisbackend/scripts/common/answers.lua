-- common/answers.lua: answers. An answer is one string, "<ok><full TTL ms>:<value>"
-- with ok "1" or "0", built by Go (storedAnswer in answers.go), and a PX of that
-- TTL; a refresh (dedupe, refreshing read) is PEXPIRE with the stored TTL.

-- answer_key names the answer of the task key with this digest. It holds the raw
-- digest bytes: formatting 16 bytes as hex costs more in Lua than the rest of a
-- task's bookkeeping. DESIGN's exception: built from the prefix, because the
-- digests a dequeue checks are known only once it has popped the tasks.
local function answer_key(digest) return P .. KS_ANSWER .. digest end

-- answer_ttl returns the full TTL, as a string, of the answer at key k, or nil.
local function answer_ttl(k)
  local h = redis.call('GETRANGE', k, 0, 24)
  if h == '' then return nil end
  return string.sub(h, 2, string.find(h, ':', 2, true) - 1)
end
