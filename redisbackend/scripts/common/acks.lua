-- common/acks.lua: acking leases in groups.

-- ack_all acks leases given in groups, args[from] to args[to] (settleArgs in
-- settle.go; read in place, not copied out): per group its lease
-- bucket, the answers' TTL in ms, the job outcome ("" for finished without error,
-- else status, newline, error) and a count n; then per lease of the group its
-- token, its task ID after one byte of the ID's length, and its answer as stored
-- (storedAnswer) or "" for none. The leases are independent: each is acked when
-- live, as if alone; Go sends each token once. Returns one number per lease, in
-- order: 1 acked, 0 lost. A group's records are read, and dropped, in one call
-- each, and read in place, by offsets: the blob is copied out only for a job
-- record.
local function ack_all(args, from, to, now)
  -- pa starts answer keys, as answer_key builds them: the digests are read from
  -- the lease records, so only the script knows them (DESIGN's exception).
  local out, leased, pa, ix = {}, {}, P .. KS_ANSWER, indexed()
  local pos, no = from, 0 -- no: #out, kept by hand, as # is a search
  local singles, ns = {}, 0 -- the members of acked singles, for one ZREM
  while pos <= to do
    local bk, ttl, job, n = args[pos], args[pos + 1], args[pos + 2], tonumber(args[pos + 3])
    pos = pos + 4
    -- lease_key(bk), from the decimal Go sent: not read as a number and formatted
    -- again. Another spelling of the number names no record: its leases are lost.
    local lk = P .. KS_RECORDS .. bk
    local drop, nd, per_dl, pb = {}, 0, {}, nil -- pb: pad16(bk), once needed
    for c = 0, n - 1, CHUNK do
      local e = math.min(c + CHUNK - 1, n - 1)
      local toks = {}
      for j = c, e do toks[#toks + 1] = args[pos + 3 * j] end
      local recs = redis.call('HMGET', lk, unpack(toks))
      for j = c, e do
        local a, rec, ok = pos + 3 * j, recs[j - c + 1], 0
        if rec then
          -- The deadline and the queue's length, adjacent at the record's start;
          -- the deadline's first byte holds the flag of a single (rec_deadline).
          local d1, d2, d3, d4, d5, d6, l1, l2, l3, l4 = sbyte(rec, R_DEADLINE, R_QUEUE - 1)
          local single = d1 >= R_SINGLE
          if single then d1 = d1 - R_SINGLE end
          local dl = ((((d1 * 256 + d2) * 256 + d3) * 256 + d4) * 256 + d5) * 256 + d6
          local o = R_QUEUE - 1 + ((l1 * 256 + l2) * 256 + l3) * 256 + l4 -- blob byte k is rec byte o + k
          -- Blob byte B_IDLEN is the ID's length, and the ID follows: one find checks both.
          if dl > now and sfind(rec, args[a + 1], o + B_IDLEN, true) == o + B_IDLEN then
            local q, ans = ssub(rec, R_QUEUE, o), args[a + 2]
            nd = nd + 1
            drop[nd] = args[a]
            if single then
              pb = pb or pad16(tonumber(bk))
              ns = ns + 1
              singles[ns] = pb .. M_SINGLE .. args[a]
            else
              per_dl[dl] = (per_dl[dl] or 0) + 1
            end
            leased[q] = (leased[q] or 0) + 1
            if ans ~= '' or ix then
              local d = ssub(rec, o + B_DIGEST, o + B_DIGEST_END)
              if ix then redis.call('HDEL', index_key(d), d .. ssub(args[a + 1], 2)) end
              -- GET makes the reply the old value, mostly nil: cheaper for a script to
              -- take than the status reply OK, which becomes a table.
              if ans ~= '' then redis.call('SET', pa .. d, ans, 'PX', ttl, 'GET') end
            end
            local fl = sbyte(rec, o + B_FLAGS)
            if fl % (2 * F_TRACKED) >= F_TRACKED then -- blob_tracked
              local id = ssub(args[a + 1], 2)
              local ttl -- blob_job_ttl, read in place: the TTL follows the ID
              if fl % (2 * F_JOBTTL) >= F_JOBTTL then ttl = itoa(dec48(rec, o + B_IDLEN + #id + 1)) end
              if job == '' then
                job_final(id, ttl, 'finished', '')
              else
                local nl = sfind(job, '\n', 1, true)
                job_final(id, ttl, ssub(job, 1, nl - 1), ssub(job, nl + 1))
              end
            end
            ok = 1
          end
        end
        no = no + 1
        out[no] = ok
      end
    end
    many('HDEL', lk, drop, 1)
    for dl, k in pairs(per_dl) do group_sub(bk, dl, k) end
    pos = pos + 3 * n
  end
  if ns > 0 then many('ZREM', K_LEASES, singles, 1) end
  -- Counted as acked per queue, which counts them as no longer leased (lua.StatAcked).
  for q, k in pairs(leased) do bump(ST_ACKED .. q, k) end
  return out
end

-- ack_check checks the group headers of ack_all's arguments, args[from] to
-- args[to], before anything is written, and returns what is wrong or nil: a script
-- that fails after a write leaves that write, since Redis does not roll a script
-- back. An answer TTL must be whole ms that a PX takes. A position in a message
-- counts from from, as 1.
local function ack_check(args, from, to)
  local pos = from
  while pos <= to do
    local ttl, n = args[pos + 1], tonumber(args[pos + 3])
    if not n or n < 0 or pos + 3 + 3 * n > to or not sfind(ttl, '^%d+$') or #ttl > 15 then
      return 'ERR keyq: bad ack group at argument ' .. itoa(pos - from + 1)
    end
    pos = pos + 4 + 3 * n
  end
  return nil
end
