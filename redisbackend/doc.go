// Package redisbackend is keyq's Redis, Valkey and KeyDB backend, on go-redis v9.
// It works with any redis.UniversalClient: a single node, Sentinel or Cluster,
// Redis 6.2 or later, Valkey 8 and KeyDB 6.3. It needs no module and no command newer than Redis 6.2
// (no LMPOP, BLMPOP, FUNCTION or HEXPIRE) on its required path; where the server
// takes Redis 7 functions, it uses them to make each call cheaper (see Scripts).
//
// # Atomicity and time
//
// Every state change is one Lua script (scripts/*.lua), so a crash or a lost
// connection never leaves half a change. Each script opens with a comment listing
// its KEYS and ARGV, and runs the housekeeping of backend/doc.go first: one read
// of the namespace's next due time (the state key "s:due", never later than the
// first delayed task or lease deadline) tells whether there is any to do. That
// read is one MGET with what else every call must know first: the call's request
// key, the epoch, the paused queues and whether someone listens. Lease
// deadlines, delays, enqueue times and TTLs come from the server's TIME inside the
// script, never from the host, so hosts with skewed clocks behave (S7.3).
//
// # Keys
//
// All keys of a namespace start with "<Prefix>:{<namespace>}:", the namespace
// percent-escaped ('%', '{', '}') so that it is the hash tag: one namespace is one
// cluster slot, and two namespaces never share a key. Per namespace:
//
//	seq        string  one sequence for task IDs and lease tokens (backend/doc.go)
//	epoch      string  the name of the sequence's life, in every ID and token
//	q:<queue>  list    waiting tasks, as compact blobs (encoding.go)
//	delayed    zset    delayed tasks by due time, then ID
//	l:<n>      hash    lease records of tokens 128n to 128n+127: deadline, queue, task,
//	                   in fixed-width fields so that a script reads them by offset
//	leases     zset    lease groups (one bucket's leases with one deadline) by
//	                   deadline, then bucket; lease: group -> leases it holds. A
//	                   lease a call puts alone in its bucket and deadline is a
//	                   single: its own member, no count, flagged in its record
//	stats      hash    counters and per-queue leased, delayed and dead counts; the
//	                   paused queues (ps), read with the due time, so that a
//	                   dequeue pays no command for pausing; until when someone
//	                   listens for wake-ups (wt, and its life wl), read with it
//	                   too: scripts publish only while someone does
//	dead       hash    dead tasks by ID; deadz orders them oldest first
//	queues     set     every queue the namespace has seen
//	a:<digest> string  an answer: outcome, full TTL and value; PX of that TTL
//	k:<bits>   hash    the key index: one field per queued task, split 4096 ways
//	                   by the digest's first 12 bits so each hash stays small
//	j:<id>     hash    a job record (only for tasks enqueued with tracking)
//	r:<name>   string  a rate limiter's state
//	c:<token>  string  a lease that Cancel ended: its task ID and deadline, until
//	                   then (PX), for Extend to report it cancelled (S12.4)
//	i:<16 bytes> string  a state change's outcome, kept for a resend (Retries)
//	w          channel wake-ups for waiting consumers (Pub/Sub)
//
// # IDs and tokens
//
// A task ID or lease token is "<epoch>-<n>", as "k3v9a0c2-17": n comes from the
// sequence, and the epoch, 8 random characters, names the sequence's life. When the
// sequence starts again at 1, because the namespace is new or because the store
// lost its data (a server restarted without persistence, keys evicted), the call
// that takes numbers stores a new epoch. So an ID or token handed out before a
// loss never names a task or lease handed out after it, though the numbers repeat:
// a Settle or Extend of an old lease finds it lost, a Job with an
// old ID is backend.ErrNotFound, and a dead-letter action skips old IDs. The check
// costs one GET per call, whatever the number of tasks. A store that goes back in
// time without starting its sequence again (a replica promoted with writes missing)
// is not covered: its epoch is the same.//
// Answers and the key index are addressed by the first 16 bytes of the SHA-256 of
// the task key, in raw bytes, so keys may be payloads of any size. A queued task
// costs its payload, about 35 bytes of header, and the key when it is not the
// payload. Measured on Redis 7.0 (BenchmarkMemory): 144 bytes per queued 100-byte
// task against 105 for a bare list of the payloads, 313 with job tracking on.
//
// The key index serves unique enqueues (S2.4) only, so a namespace keeps it from its
// first unique enqueue on: that enqueue indexes every waiting, delayed and leased
// task, in time proportional to their number, and every later change keeps the
// index. It then costs about 25 bytes per queued task while it stays in listpack
// encoding, up to about 4096 × hash-max-listpack-entries (128 by default, so about
// 500,000) queued tasks per namespace; beyond that each costs about 40 bytes more.
//
// Per task, a batched cycle runs about three commands inside scripts (an answer
// SET, and a key index write and delete once the index is kept) and the rest in one
// call per batch; leases share records per bucket of 128 tokens and one zset entry
// per bucket and deadline, so reclaiming still goes by deadline, then token.
//
// Scripts that touch keys named after queues, task IDs or key digests get the
// namespace prefix as KEYS[9] and build those names from it; they all share the
// namespace's hash tag and so its slot. See scripts/common/begin.lua.
//
// # Waking consumers
//
// Blocking inside a script is impossible, and a Dequeue never waits: when it
// finds nothing it returns when the next delayed task is due or lease expires
// (DequeueResult.Next), and package keyq waits. It listens through Notify: every
// script that makes tasks available publishes how many and in which queue on the
// namespace's Pub/Sub channel, unless the queue is paused, and scripts that
// bring the next event forward, or resume a queue, publish an empty message; a
// cancel of a running task publishes "c:" and its ID, which Notify turns into
// Wake{Cancelled}. One Pub/Sub connection per Backend serves every
// Notify (notify.go), so a waiting consumer holds no pool connection. A
// (re)subscription sends every listener Wake{}, since messages may have been
// lost while the connection was down. Most calls are made while nobody waits,
// so the scripts publish a wake-up only while some Notify listener is
// registered: Notify records that in a state key (s:wt) before it returns, and
// its Backend renews it every 3s for 10s while a listener remains; a renewal
// that finds it lapsed meanwhile (a failover, a lost key) sends the listeners
// Wake{}. A cancel's and a resume's messages are published always. While idle
// nothing else polls; go-redis pings the Pub/Sub connection every few seconds
// to check it. Publishing is best
// effort: a server whose ACL refuses the user the channel (Redis 7's default for
// new users, acl-pubsub-default resetchannels) fails no call; the Backend finds
// the refusal when its subscription is not confirmed within 200ms, logs it once
// (Options.Logger), and then sends its listeners Wake{} every 50ms, so that
// they poll.
//
// # Retries
//
// go-redis sends a command again after some network errors, and the first send may
// have run. So every call that changes state (Enqueue, Dequeue, Settle, Extend,
// RequeueDead, PurgeDead, DeleteAnswer, Reclaim, Pause, Cancel) names a fresh request key, i:<16
// random bytes>: its script first looks for it and, when found, returns the outcome stored
// there without changing anything; else it does its work and stores its outcome
// there, with a PX of the time left until the call's deadline plus 2s (2s to 1
// minute; 1 minute without a deadline). A resent Enqueue returns the IDs of the
// first run, a resent Settle or Extend its outcome, a resent Dequeue the
// leases the first run took that are still live. Each call pays one SET on the
// server (the key is read in the MGET of the namespace's state that the call makes
// anyway), and the server keeps one small key per call for that time. A client
// that never resends (MaxRetries: -1, and MaxRedirects: -1 for a cluster) sends no
// request key and pays nothing. Scripts are sent with EVALSHA
// and fall back to EVAL after NOSCRIPT, so a SCRIPT FLUSH, restart or failover
// costs one extra round trip; a function library lost the same way is loaded again
// and the call repeated, which is safe because a missing function runs nothing.
//
// # Scripts
//
// A script that includes the common code (scripts/common/*.lua) defines some fifty Lua functions before
// it does its work, which costs a third of the server's time for a small call. So
// the Backend tries FUNCTION LOAD once: where it works (Redis 7), every such script
// is a function of one library, keyq_<hash of its code>, defined once per server
// and called with FCALL; on every master of a cluster. Where the server refuses it
// (Redis 6.2, KeyDB, miniredis, or an ACL without FUNCTION) the Backend sends
// scripts by EVALSHA for its lifetime; Options.NoFunctions asks for that anywhere.
// Both ways run the same Lua, and the real-server conformance suite runs both.
// Libraries of other keyq builds stay on the server; FUNCTION DELETE removes one.
//
// # Memory
//
// Run the server with maxmemory-policy noeviction. Any other policy may delete
// keyq's keys when memory runs short: allkeys-* any key, so waiting tasks vanish
// with no error; volatile-* the keys with a TTL, which are answers, finished job
// records and rate limiters, so an answer may go before its TTL and its task be
// delivered again. The first call that reaches the server reads the policy (on
// every master of a cluster; OpenURL at once) and refuses to go on with any other
// than noeviction: the calls fail with ErrEvictionPolicy (and backend.ErrInvalid)
// unless Options.AllowEviction accepts the risk. Where the server will not say
// (an ACL without CONFIG), the policy is unknown and the Backend runs.
//
// A server over its maxmemory under noeviction refuses writes: the call fails with
// backend.ErrFull and changed nothing (oom.go). Stats, Peek, Leases, Dead, Job and
// GetAnswer without refresh keep working, without housekeeping until there is room.
//
// # KeyDB
//
// KeyDB active replication (multi-master) may apply one pop on two masters; use a
// single writer per namespace.
package redisbackend
