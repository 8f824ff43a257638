package lua

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// scripts is redisbackend/scripts, which redisbackend embeds.
var scripts = os.DirFS("../../scripts")

// env is one way to run the scripts: by EVAL on miniredis, or on a real server
// by EVAL or as functions of the library. Each env has a namespace of its own.
type env struct {
	t      *testing.T
	c      *redis.Client
	mr     *miniredis.Miniredis // nil on a real server
	now    time.Time            // miniredis's clock
	fn     bool                 // scripts that include the common code run by FCALL
	lib    string               // the library's name, with fn
	prefix string
	keys   []string // KEYS[1..10]
	common string
	noRO   bool // the server has no EVAL_RO (Redis 6.2, KeyDB): ro runs by EVAL
}

var prefixes atomic.Int64

// nsPrefix returns the key prefix of a namespace no test has used.
func nsPrefix() string { return fmt.Sprintf("keyqtest:{ns%d}:", prefixes.Add(1)) }

// each runs f on every env: miniredis, then a real server by EVAL and by FCALL.
// Without redis-server the real envs skip, except under CI (internal/redistest).
func each(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	common, err := Common(scripts)
	if err != nil {
		t.Fatal(err)
	}
	newEnv := func(t *testing.T, c *redis.Client) *env {
		p := nsPrefix()
		return &env{t: t, c: c, prefix: p, keys: Keys(p), common: common}
	}
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: mr.Addr()})
		t.Cleanup(func() { c.Close() })
		e := newEnv(t, c)
		e.mr, e.now = mr, time.Unix(1_700_000_000, 0)
		mr.SetTime(e.now)
		f(t, e)
	})
	t.Run("redis", func(t *testing.T) {
		opt, err := redis.ParseURL(redistest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		noRO := !redistest.Has(t, c, "eval_ro")
		t.Run("eval", func(t *testing.T) {
			e := newEnv(t, c)
			e.noRO = noRO
			f(t, e)
		})
		t.Run("functions", func(t *testing.T) {
			if !redistest.HasFunctions(t, c) {
				t.Skip("the function library needs a server with FUNCTION (Redis 7)")
			}
			name, code, err := Library(scripts)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.FunctionLoadReplace(context.Background(), code).Err(); err != nil {
				t.Fatalf("FUNCTION LOAD: %v", err)
			}
			e := newEnv(t, c)
			e.fn, e.lib = true, name
			f(t, e)
		})
	})
}

// fresh returns an env like e on a namespace of its own, which nothing has used.
func (e *env) fresh() *env {
	f := *e
	f.prefix = nsPrefix()
	f.keys = Keys(f.prefix)
	return &f
}

func (e *env) source(name string) string {
	e.t.Helper()
	src, err := Source(scripts, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return src
}

// call runs script name with keys and args; ro runs it by EVAL_RO or FCALL_RO,
// on which the server refuses any write, or by EVAL on a server without EVAL_RO.
func (e *env) call(name string, ro bool, keys []string, args ...any) (any, error) {
	ctx := context.Background()
	src := e.source(name)
	if e.fn && Includes(src) {
		if ro {
			return e.c.FCallRO(ctx, Function(e.lib, name, false), keys, args...).Result()
		}
		return e.c.FCall(ctx, Function(e.lib, name, false), keys, args...).Result()
	}
	code := Script(e.common, src, false)
	if ro && !e.noRO {
		return e.c.EvalRO(ctx, code, keys, args...).Result()
	}
	return e.c.Eval(ctx, code, keys, args...).Result()
}

// run runs a namespace script with the namespace's KEYS and fails on error.
func (e *env) run(name string, args ...any) []any {
	e.t.Helper()
	v, err := e.call(name, false, e.keys, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return list(e.t, v)
}

// runAnswer runs an answer script (setanswer, getanswer, delanswer): the
// namespace's KEYS, the request key's place taken by the prefix key (KEYS[9],
// never touched), and the answer key of digest d as KEYS[12]; args follow.
func (e *env) runAnswer(name, d string, args ...any) []any {
	e.t.Helper()
	keys := append(append([]string(nil), e.keys...), e.keys[8], e.key(KeyAnswer+d))
	v, err := e.call(name, false, keys, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return list(e.t, v)
}

// runWith runs a script that takes keys of its own after the namespace's: KEYS[11]
// the request key's place (the prefix key, never touched), then extra from
// KEYS[12] on.
func (e *env) runWith(name string, extra []string, args ...any) []any {
	e.t.Helper()
	keys := append(append(append([]string(nil), e.keys...), e.keys[8]), extra...)
	v, err := e.call(name, false, keys, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", name, err)
	}
	return list(e.t, v)
}

// runROWith is runRO for a script that takes keys of its own (runWith).
func (e *env) runROWith(name string, extra []string, args ...any) []any {
	e.t.Helper()
	keys := append(append(append([]string(nil), e.keys...), e.keys[8]), extra...)
	v, err := e.call(name, e.mr == nil, keys, args...)
	if err != nil {
		e.t.Fatalf("%s read-only: %v", name, err)
	}
	return list(e.t, v)
}

// runRO runs a namespace script read-only: on a real server by EVAL_RO or
// FCALL_RO. miniredis counts TIME as a write there, so on it the script runs by
// EVAL, and only comparing the keys before and after shows that it wrote nothing.
func (e *env) runRO(name string, args ...any) []any {
	e.t.Helper()
	v, err := e.call(name, e.mr == nil, e.keys, args...)
	if err != nil {
		e.t.Fatalf("%s read-only: %v", name, err)
	}
	return list(e.t, v)
}

// probe runs Lua that includes the common code, by EVAL, with args.
func (e *env) probe(code string, args ...any) []any {
	e.t.Helper()
	v, err := e.c.Eval(context.Background(), Script(e.common, "--@common\n"+code, false), e.keys, args...).Result()
	if err != nil {
		e.t.Fatalf("probe: %v", err)
	}
	return list(e.t, v)
}

func list(t *testing.T, v any) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("reply %T %v, want a list", v, v)
	}
	return l
}

// serverMS returns the server's clock in ms.
func (e *env) serverMS() int64 {
	e.t.Helper()
	tm, err := e.c.Time(context.Background()).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return tm.UnixMilli()
}

// pass lets d pass on the server's clock: miniredis's is moved, a real server's is
// waited for, up to a bound.
func (e *env) pass(d time.Duration) {
	e.t.Helper()
	if e.mr != nil {
		e.now = e.now.Add(d)
		e.mr.FastForward(d)
		e.mr.SetTime(e.now)
		return
	}
	until := e.serverMS() + d.Milliseconds() + 1
	limit := time.Now().Add(10 * time.Second)
	for e.serverMS() < until {
		if time.Now().After(limit) {
			e.t.Fatalf("the server's clock did not pass %v in 10s", d)
		}
		time.Sleep(time.Millisecond)
	}
}

// key returns the namespace's key with the given suffix.
func (e *env) key(suffix string) string { return e.prefix + suffix }

// snapshot returns every key of the namespace with its DUMP and whether it has a
// TTL.
func (e *env) snapshot() map[string]string {
	e.t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := e.c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if !strings.HasPrefix(k, e.prefix) {
			continue
		}
		d, err := e.dump(k)
		if err != nil {
			e.t.Fatalf("reading %q: %v", k, err)
		}
		ttl, err := e.c.PTTL(ctx, k).Result()
		if err != nil {
			e.t.Fatalf("PTTL %q: %v", k, err)
		}
		out[k] = fmt.Sprintf("%x ttl=%v", d, ttl > 0)
	}
	if err := iter.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// dump returns key k's value: its DUMP on a real server, and on miniredis, whose
// DUMP takes strings only, its type and contents.
func (e *env) dump(k string) (string, error) {
	ctx := context.Background()
	if e.mr == nil {
		return e.c.Dump(ctx, k).Result()
	}
	typ, err := e.c.Type(ctx, k).Result()
	if err != nil {
		return "", err
	}
	var v any
	switch typ {
	case "string":
		v, err = e.c.Get(ctx, k).Result()
	case "list":
		v, err = e.c.LRange(ctx, k, 0, -1).Result()
	case "hash":
		v, err = e.c.HGetAll(ctx, k).Result() // fmt prints a map sorted
	case "set":
		var m []string
		m, err = e.c.SMembers(ctx, k).Result()
		slices.Sort(m)
		v = m
	case "zset":
		v, err = e.c.ZRangeWithScores(ctx, k, 0, -1).Result()
	default:
		err = fmt.Errorf("type %s", typ)
	}
	return fmt.Sprintf("%s %q", typ, v), err
}

// sameKeys fails t unless two snapshots hold the same keys with the same values.
func sameKeys(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if a, ok := after[k]; !ok {
			t.Errorf("%s deleted %q", what, k)
		} else if a != before[k] {
			t.Errorf("%s changed %q", what, k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("%s created %q", what, k)
		}
	}
}

// Reading keys.

func (e *env) list(suffix string) []string {
	e.t.Helper()
	v, err := e.c.LRange(context.Background(), e.key(suffix), 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) hash(suffix string) map[string]string {
	e.t.Helper()
	v, err := e.c.HGetAll(context.Background(), e.key(suffix)).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) zset(suffix string) []redis.Z {
	e.t.Helper()
	v, err := e.c.ZRangeWithScores(context.Background(), e.key(suffix), 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) get(suffix string) string {
	e.t.Helper()
	v, err := e.c.Get(context.Background(), e.key(suffix)).Result()
	if err != nil && err != redis.Nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) exists(suffix string) bool {
	e.t.Helper()
	n, err := e.c.Exists(context.Background(), e.key(suffix)).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	return n == 1
}

// Tasks as the Go side writes and reads them, by the layout's offsets alone.

func digestOf(key string) string {
	s := sha256.Sum256([]byte(key))
	return string(s[:DigestLen])
}

// pre is the part of a blob Go writes before the server's fields.
func pre(key string, max int, tracked bool) string {
	b := make([]byte, BlobPreLen)
	b[BlobFlags] = BlobVersion<<VersionShift | FlagKeyIsPayload
	if tracked {
		b[BlobFlags] |= FlagTracked
	}
	binary.BigEndian.PutUint16(b[BlobMax:], uint16(max))
	copy(b[BlobDigest:], digestOf(key))
	return string(b)
}

// blob is a blob's header, read by Go.
type blob struct {
	flags        byte
	attempt, max int
	digest       string
	enqueued     int64
	id, rest     string
}

func parseBlob(t *testing.T, s string) blob {
	t.Helper()
	if len(s) < BlobID || len(s) < BlobID+int(s[BlobIDLen]) {
		t.Fatalf("blob of %d bytes", len(s))
	}
	var enq int64
	for _, c := range []byte(s[BlobEnqueued:BlobIDLen]) {
		enq = enq<<8 | int64(c)
	}
	n := int(s[BlobIDLen])
	return blob{
		flags:    s[BlobFlags],
		attempt:  int(binary.BigEndian.Uint16([]byte(s[BlobAttempt:]))),
		max:      int(binary.BigEndian.Uint16([]byte(s[BlobMax:]))),
		digest:   s[BlobDigest : BlobDigest+DigestLen],
		enqueued: enq,
		id:       s[BlobID : BlobID+n],
		rest:     s[BlobID+n:],
	}
}

// leaseRecord is a lease record, read by Go.
type leaseRecord struct {
	deadline int64
	single   bool // RecSingle
	queue    string
	blob     string
}

func parseRecord(t *testing.T, s string) leaseRecord {
	t.Helper()
	if len(s) < RecQueue {
		t.Fatalf("lease record of %d bytes", len(s))
	}
	var dl int64
	for i, c := range []byte(s[RecDeadline:RecQueueLen]) {
		if i == 0 {
			c &^= RecSingle
		}
		dl = dl<<8 | int64(c)
	}
	n := int(binary.BigEndian.Uint32([]byte(s[RecQueueLen:RecQueue])))
	return leaseRecord{deadline: dl, single: s[RecDeadline]&RecSingle != 0, queue: s[RecQueue : RecQueue+n], blob: s[RecQueue+n:]}
}

// packed is pack(fields...) as the scripts write it.
func packed(fields ...string) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(strconv.Itoa(len(f)) + ":" + f)
	}
	return b.String()
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			t.Fatalf("number %q", x)
		}
		return n
	case nil:
		return 0
	}
	t.Fatalf("number %T %v", v, v)
	return 0
}

// enqueue runs enqueue.lua for tasks with the given keys in queue q, and returns
// the first ID - 1.
func (e *env) enqueue(q string, delayMS int, unique bool, max int, keys ...string) int64 {
	e.t.Helper()
	args := []any{q, "0", strconv.Itoa(delayMS), flag(unique), "0"}
	for _, k := range keys {
		args = append(args, pre(k, max, false), k)
	}
	args = append(args, "e1", "")
	r := e.runWith("enqueue", []string{e.key(KeyQueue + q)}, args...)
	if len(r) != 3 {
		e.t.Fatalf("enqueue reply %v", r)
	}
	return num(e.t, r[1])
}

// dequeue runs dequeue.lua and returns its reply.
func (e *env) dequeue(count int, leaseMS int, queues ...string) []any {
	e.t.Helper()
	args := []any{strconv.Itoa(count), strconv.Itoa(leaseMS)}
	var keys []string
	for _, q := range queues {
		args = append(args, q)
		keys = append(keys, e.key(KeyQueue+q))
	}
	return e.runWith("dequeue", keys, append(args, "e1", "")...)
}

func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// counts reads the stats hash as stats.lua reports it: the counters, enqueued,
// delivered and acked summed with the queues' (lua.StatEnqueued), and per queue
// q the fields as they are and "leased:"+q, its leased tasks. A field that is
// no number fails t.
func (e *env) counts() map[string]int64 {
	e.t.Helper()
	out := map[string]int64{}
	sums := map[string]string{StatEnqueued: "enqueued", StatDelivered: "delivered", StatAcked: "acked"}
	for k, v := range e.hash(KeyStats) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			e.t.Fatalf("stats field %s = %q: %v", k, v, err)
		}
		out[k] += n
		if len(k) < 2 || k[1] != ':' {
			continue
		}
		q := k[2:]
		if total, ok := sums[k[:2]]; ok {
			out[total] += n
		}
		switch k[:2] {
		case StatLeased, StatDelivered:
			out["leased:"+q] += n
		case StatAcked:
			out["leased:"+q] -= n
		}
	}
	return out
}
