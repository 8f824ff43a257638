// Package lua holds what the Go and Lua sides of redisbackend share: the storage
// layout (key names, record offsets, constants), defined once here, and the
// assembly of the scripts (redisbackend/scripts) into scripts for EVALSHA and one
// Redis 7 function library. The Lua code reads the layout from a prelude that
// Prelude generates from this file, so neither side spells a number the other
// one reads.
package lua

import (
	"fmt"
	"strings"

	"github.com/keyq/keyq/backend"
)

// A namespace's keys are its prefix, "<Prefix>:{<escaped namespace>}:", then one
// of these suffixes. The hash tag puts them all in one cluster slot.
const (
	KeySeq     = "seq"     // string: the sequence of task IDs and lease tokens
	KeyDelayed = "delayed" // zset: due ms -> delayed member (DelayedPad)
	KeyLeases  = "leases"  // zset: deadline ms -> lease group or single (GroupMark)
	KeyLease   = "lease"   // hash: lease group -> live leases it counts
	KeyStats   = "stats"   // hash: counters and per-queue counts (Stat*)
	KeyDead    = "dead"    // hash: task ID -> dead record
	KeyDeadz   = "deadz"   // zset: dead order -> task ID
	KeyQueues  = "queues"  // set: every queue the namespace has seen
	KeyEpoch   = "epoch"   // string: the name of the sequence's life

	// The keys below take a name after the suffix; scripts build them from the
	// prefix, KEYS[9] (see scripts/common/begin.lua).
	KeyQueue   = "q:" // + queue: list of blobs
	KeyAnswer  = "a:" // + digest: answer string
	KeyJob     = "j:" // + task ID: job record hash
	KeyIndex   = "k:" // + 12 bits of the digest: key index hash, field digest .. ID
	KeyRecords = "l:" // + lease bucket: hash of lease records, token -> record
	KeyLimiter = "r:" // + name: a rate limiter (Go only)
	// KeyCancelled + lease token: a lease that Controller.Cancel ended, as its
	// task ID, '@', its deadline ms, kept (PX) until that deadline, so that
	// Extend reports the lease cancelled rather than lost (S12.4).
	KeyCancelled = "c:"
	Channel      = "w" // the wake-up Pub/Sub channel
)

// Keys returns the KEYS every namespace script takes, KEYS[1] to KEYS[10], for
// the namespace whose keys start with prefix. KEYS[9] is the prefix itself, which
// no script reads or writes as a key. A call that names a request key passes it
// as KEYS[11].
func Keys(prefix string) []string {
	p := prefix
	return []string{
		p + KeySeq, p + KeyDelayed, p + KeyLeases, p + KeyLease, p + KeyStats,
		p + KeyDead, p + KeyDeadz, p + KeyQueues, p, p + KeyEpoch,
	}
}

// DigestLen is how many bytes of a key's SHA-256 a task carries. 128 bits keep
// accidental collisions out of reach while keeping each queued task small.
const DigestLen = 16

// A blob is one task as the queue lists store it. Offsets are 0-based here and
// 1-based (B_*) in Lua:
//
//	offset        size       field
//	BlobFlags     1          flags: BlobVersion<<VersionShift | FlagJobTTL | FlagTracked | FlagKeyIsPayload
//	BlobAttempt   2          attempt, big endian
//	BlobMax       2          max attempts, big endian
//	BlobDigest    DigestLen  digest of the task key
//	BlobEnqueued  6          enqueued at, ms since the Unix epoch on the server's clock
//	BlobIDLen     1          length n of the task ID
//	BlobID        n          task ID in decimal
//	BlobID+n      6          with FlagJobTTL only: the job TTL, ms, big endian
//	...                      what only Go reads (redisbackend/encoding.go)
//
// Go writes the bytes before BlobEnqueued (BlobPreLen) and the rest after the
// ID; the enqueue script fills in the enqueued time and the ID.
//
// A tracked task carries its job TTL (FlagJobTTL), so that the call that ends its
// record can make the record expire without reading the TTL from it first.
// Tasks stored by builds before the flag are tracked without it: their records'
// "ttl" field still says.
const (
	BlobFlags    = 0
	BlobAttempt  = 1
	BlobMax      = 3
	BlobDigest   = 5
	BlobEnqueued = BlobDigest + DigestLen
	BlobIDLen    = BlobEnqueued + 6
	BlobID       = BlobIDLen + 1 // the header's length
	BlobPreLen   = BlobEnqueued

	BlobVersion      = 1
	VersionShift     = 4
	FlagKeyIsPayload = 1 << 0
	FlagTracked      = 1 << 1
	FlagJobTTL       = 1 << 2
	BlobJobTTLLen    = 6
)

// A lease record, the value of a token in its bucket's hash (KeyRecords), is
// enc48(deadline ms) .. enc32(#queue) .. queue .. blob: fixed-width fields, so
// that reading one takes no number parsing. A deadline is below 2^47 ms, so the
// top bit of its first byte is free: RecSingle there marks a single lease (see
// GroupMark), and every reader of the deadline masks it.
const (
	RecDeadline = 0  // 6 bytes
	RecQueueLen = 6  // 4 bytes
	RecQueue    = 10 // the queue's bytes, then the blob

	RecSingle = 0x80 // in byte RecDeadline: the lease is a single
)

// The leases zset (KeyLeases) holds, at its deadline, each lease group: the
// leases of one bucket with one deadline that a call put there two or more at a
// time, named pad(bucket) .. GroupMark .. deadline ms and counted in KeyLease,
// so that a batch costs one zset entry per bucket. A lease that a call put alone
// in its bucket and deadline, the common case of one task per call, is a single:
// its record says so (RecSingle), and its zset entry is its own, named
// pad(bucket) .. SingleMark .. token, with no count, so that it costs one
// command as it starts and one as it ends. Members of one bucket with one
// deadline sort together, and housekeeping reclaims all of its leases at the
// first of them, in token order, whatever their kind.
const (
	GroupMark  = "@"
	SingleMark = "!"
)

// LeaseBucket is how many consecutive lease tokens share one hash of lease
// records: token t lives in KeyRecords + t/LeaseBucket.
const LeaseBucket = 128

// Pad is the width, in decimal digits with leading zeros, of the task ID that
// starts a delayed member (pad(ID) .. pack(queue) .. blob) and of the bucket that
// starts a member of the leases zset (GroupMark): zset members with the same
// score sort by it.
const Pad = 16

// DeadFields is how many packed fields start a dead record, before the blob:
// queue, reason, died ms, job type, job TTL ms.
const DeadFields = 5

// Chunk is the most arguments, or argument groups, a script passes to one
// redis.call: Lua's unpack must fit them on its stack.
const Chunk = 1000

// The stats hash holds the counters and, per queue q, StatLeased+q, StatDelayed+q
// and StatDead+q, and the counts of the calls every task goes through,
// StatEnqueued+q, StatDelivered+q and StatAcked+q: those are counted per queue,
// in the one HINCRBY a call makes for its queue, and the namespace's counter is
// its field ("enqueued", "delivered", "acked", where builds before counted
// them) plus the queues' (scripts/stats.lua). A queue's leased tasks are
// StatLeased+q + StatDelivered+q - StatAcked+q: a delivery and an ack count once
// each, and the other ends of a lease (release, reclaim, cancel, dead-letter)
// take one from StatLeased+q.
const (
	StatLeased    = "l:"
	StatDelayed   = "d:"
	StatDead      = "x:"
	StatEnqueued  = "e:"
	StatDelivered = "v:"
	StatAcked     = "a:"
)

// The state keys are strings that a call reads with one MGET, with its request
// key and the epoch (scripts/common/begin.lua, req_check and read_due), so that
// what every call must know first costs it no command of its own.
//
// KeyDue holds a time no later than the namespace's next event, which gates
// housekeeping (note_event). KeyIndexed is set once the namespace keeps the key
// index. KeyPaused, present while some queue is paused (S12.1), holds the paused
// queues' names, packed (each as its length, ':', the name), sorted: a dequeue of
// a namespace without a paused queue pays nothing for pausing. KeyListen holds a
// server time (ms) until which some Notify listener may hear the namespace's
// channel: the scripts publish wake-ups only before it. A listener's Backend
// renews it while the listener is registered (notify.go), and sets
// KeyListenLife, a name of its life, anew whenever it finds KeyListen lapsed or
// missing: a listener that sees another life than it renewed before learns that
// wake-ups may have been skipped (scripts/listen.lua).
const (
	KeyDue        = "s:due"
	KeyIndexed    = "s:ix"
	KeyPaused     = "s:ps"
	KeyListen     = "s:wt"
	KeyListenLife = "s:wl"
)

// Builds before the state keys kept them as fields of the stats hash, named
// these. A call that finds KeyDue missing moves what it finds there to the keys
// (scripts/common/begin.lua, migrate_state), so a namespace keeps its paused
// queues and its key index across the upgrade.
const (
	StatIndexed    = "ix"
	StatDue        = "due"
	StatPaused     = "ps"
	StatListen     = "wt"
	StatListenLife = "wl"
)

// The wake-up channel's messages (scripts/common/begin.lua, wake; notify.go):
// "<count>:<queue>" when tasks became available, "" to look again, MsgEvent ..
// "<ms>" when a delayed task or lease deadline that many milliseconds away is
// sooner than any known (Wake{In}), and MsgCancelled .. "<task ID>" when
// Controller.Cancel ended the task's lease. A count is digits, so neither mark
// can start one, and Notify of an older keyq reads both as "" (look again).
const (
	MsgEvent     = "@"
	MsgCancelled = "c:"
)

// constants are the names Lua knows the layout by, in the order of the prelude.
var constants = []struct {
	name  string
	value any
	doc   string
}{
	{"KS_QUEUE", KeyQueue, "key suffixes (lua.Key*)"},
	{"KS_ANSWER", KeyAnswer, ""},
	{"KS_JOB", KeyJob, ""},
	{"KS_INDEX", KeyIndex, ""},
	{"KS_RECORDS", KeyRecords, ""},
	{"KS_CHANNEL", Channel, ""},
	{"KS_CANCELLED", KeyCancelled, ""},
	{"KS_DUE", KeyDue, "state keys (lua.KeyDue ...)"},
	{"KS_INDEXED", KeyIndexed, ""},
	{"KS_PAUSED", KeyPaused, ""},
	{"KS_LISTEN", KeyListen, ""},
	{"KS_LISTEN_LIFE", KeyListenLife, ""},
	{"MSG_CANCELLED", MsgCancelled, "the mark of a cancel on the channel"},
	{"MSG_EVENT", MsgEvent, "the mark of a sooner event on the channel"},
	{"DIGEST_LEN", DigestLen, "bytes of a key digest"},
	{"B_FLAGS", BlobFlags + 1, "blob byte positions, 1-based (lua.Blob*)"},
	{"B_ATTEMPT", BlobAttempt + 1, ""},
	{"B_MAX", BlobMax + 1, ""},
	{"B_DIGEST", BlobDigest + 1, ""},
	{"B_DIGEST_END", BlobDigest + DigestLen, ""},
	{"B_ENQ", BlobEnqueued + 1, ""},
	{"B_IDLEN", BlobIDLen + 1, ""},
	{"F_TRACKED", FlagTracked, "the flag bit of a tracked task"},
	{"F_JOBTTL", FlagJobTTL, "the flag bit of a job TTL after the task ID"},
	{"R_DEADLINE", RecDeadline + 1, "lease record byte positions, 1-based (lua.Rec*)"},
	{"R_QLEN", RecQueueLen + 1, ""},
	{"R_QUEUE", RecQueue + 1, ""},
	{"R_SINGLE", RecSingle, "the flag of a single lease in the record's first byte"},
	{"M_GROUP", GroupMark, "the mark of a lease group's member in the leases zset"},
	{"M_SINGLE", SingleMark, "the mark of a single lease's member"},
	{"LB", LeaseBucket, "tokens per lease bucket"},
	{"PAD", Pad, "digits of a padded ID or bucket"},
	{"PAD_FMT", fmt.Sprintf("%%0%dd", Pad), ""},
	{"DEAD_FIELDS", DeadFields, "packed fields before a dead record's blob"},
	{"CHUNK", Chunk, "arguments per redis.call"},
	{"HK_BATCH", backend.HousekeepingBatch, "backend.HousekeepingBatch"},
	{"HK_BATCH_S", fmt.Sprint(backend.HousekeepingBatch), ""},
	{"DEDUPE_CAP", backend.DedupeCap, "backend.DedupeCap"},
	{"ST_LEASED", StatLeased, "stats fields (lua.Stat*)"},
	{"ST_DELAYED", StatDelayed, ""},
	{"ST_DEAD", StatDead, ""},
	{"ST_ENQUEUED", StatEnqueued, ""},
	{"ST_DELIVERED", StatDelivered, ""},
	{"ST_ACKED", StatAcked, ""},
	{"ST_INDEXED", StatIndexed, "the stats fields of older builds' state"},
	{"ST_DUE", StatDue, ""},
	{"ST_PAUSED", StatPaused, ""},
	{"ST_LISTEN", StatListen, ""},
	{"ST_LISTEN_LIFE", StatListenLife, ""},
}

// Prelude returns the Lua that defines the layout, one local per constant, which
// comes first in the common code. A script for EVAL has the values it reads
// written in instead (prune.go).
func Prelude() string {
	var b strings.Builder
	b.WriteString("-- The storage layout, generated from redisbackend/internal/lua/layout.go.\n")
	for _, c := range constants {
		var v string
		switch x := c.value.(type) {
		case int:
			v = fmt.Sprint(x)
		case string:
			if strings.ContainsAny(x, "'\\\n") {
				panic("lua: constant " + c.name + " needs escaping")
			}
			v = "'" + x + "'"
		default:
			panic(fmt.Sprintf("lua: constant %s of type %T", c.name, c.value))
		}
		fmt.Fprintf(&b, "local %s = %s", c.name, v)
		if c.doc != "" {
			b.WriteString(" -- " + c.doc)
		}
		b.WriteByte('\n')
	}
	return b.String()
}
