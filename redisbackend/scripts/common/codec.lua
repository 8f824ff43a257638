-- common/codec.lua: packed fields, blobs and lease records. Their layout is
-- internal/lua/layout.go's; the prelude names its offsets (B_*, R_*).

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
-- enc48 encodes n in 6 bytes, big endian, with top added to the first byte (a
-- flag: rec_head).
local function enc48(n, top)
  local b6 = n % 256; n = floor(n / 256)
  local b5 = n % 256; n = floor(n / 256)
  local b4 = n % 256; n = floor(n / 256)
  local b3 = n % 256; n = floor(n / 256)
  local b2 = n % 256; n = floor(n / 256)
  return string.char(n % 256 + (top or 0), b2, b3, b4, b5, b6)
end
local function dec48(s, i)
  local a, b, c, d, e, f = sbyte(s, i, i + 5)
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f
end
local function enc32(n)
  return string.char(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end

-- A blob is a task as stored: a fixed header (B_*), then the ID, then what only
-- Go reads.
local function blob_attempt(b) return u16(b, B_ATTEMPT) end
local function blob_max(b) return u16(b, B_MAX) end
local function blob_digest(b) return string.sub(b, B_DIGEST, B_DIGEST_END) end
local function blob_tracked(b) return string.byte(b, B_FLAGS) % (2 * F_TRACKED) >= F_TRACKED end
local function blob_enqueued(b) return dec48(b, B_ENQ) end
local function blob_id(b) return string.sub(b, B_IDLEN + 1, B_IDLEN + string.byte(b, B_IDLEN)) end
-- blob_job_ttl returns the job TTL in ms, as a string, that a tracked task's blob
-- carries after its ID (F_JOBTTL), or nil for a blob without one: a task stored
-- by an older build, whose record's "ttl" field says.
local function blob_job_ttl(b)
  if sbyte(b, B_FLAGS) % (2 * F_JOBTTL) < F_JOBTTL then return nil end
  return itoa(dec48(b, B_IDLEN + sbyte(b, B_IDLEN) + 1))
end
local function blob_set_attempt(b, a)
  return string.sub(b, 1, B_ATTEMPT - 1) .. enc16(a) .. string.sub(b, B_ATTEMPT + 2)
end

-- A lease record is enc48(deadline) .. enc32(#queue) .. queue .. blob (R_*), with
-- R_SINGLE added to the deadline's first byte for a single lease (common/leases.lua).
local function rec_queue(q) return enc32(#q) .. q end
-- rec_head returns the first bytes of a record with deadline d, single or not.
local function rec_head(d, single)
  return enc48(d, single and R_SINGLE or 0)
end
-- rec_deadline returns a record's deadline and whether its lease is a single.
local function rec_deadline(rec)
  local a, b, c, d, e, f = sbyte(rec, R_DEADLINE, R_DEADLINE + 5)
  local single = a >= R_SINGLE
  if single then a = a - R_SINGLE end
  return ((((a * 256 + b) * 256 + c) * 256 + d) * 256 + e) * 256 + f, single
end
-- rec_blob_at returns o such that byte k of the record's blob is byte o + k of rec.
local function rec_blob_at(rec)
  local a, b, c, d = sbyte(rec, R_QLEN, R_QLEN + 3)
  return R_QUEUE - 1 + ((a * 256 + b) * 256 + c) * 256 + d
end
-- lease_rec splits a lease record into deadline, queue and blob, and tells whether
-- its lease is a single.
local function lease_rec(rec)
  local o = rec_blob_at(rec)
  local dl, single = rec_deadline(rec)
  return dl, ssub(rec, R_QUEUE, o), ssub(rec, o + 1), single
end
