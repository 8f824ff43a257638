-- common/jobs.lua: job records, one hash per tracked task (inspect.go, Job).

-- job_key names task id's job record. DESIGN's exception: built from the prefix,
-- because the tasks a call touches (popped, reclaimed, acked) are known only
-- inside the script.
local function job_key(id) return P .. KS_JOB .. id end

local function job_set(b, ...)
  if blob_tracked(b) then redis.call('HSET', job_key(blob_id(b)), ...) end
end

-- job_final gives the job record of task id a final status, with err as its last
-- error unless err is '' and the field, value pairs that follow, and makes it
-- expire after its job TTL: ttl, the one its blob carries (blob_job_ttl), or, when
-- nil, the record's own.
local function job_final(id, ttl, status, err, ...)
  local k = job_key(id)
  if err ~= '' then
    redis.call('HSET', k, 'status', status, 'end', now_s, 'err', err, ...)
  else
    redis.call('HSET', k, 'status', status, 'end', now_s, ...)
  end
  if not ttl then ttl = redis.call('HGET', k, 'ttl') end
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
  job_final(blob_id(b), blob_job_ttl(b), status, err or '')
end
