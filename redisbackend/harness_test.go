package redisbackend

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// baseTime is where miniredis's clock starts in every test.
var baseTime = time.Unix(1_700_000_000, 0)

// miniTarget is a Backend on a fresh embedded miniredis whose clock starts at
// baseTime and moves only by Advance.
type miniTarget struct {
	mr      *miniredis.Miniredis
	client  *redis.Client
	b       *Backend
	Now     func() time.Time
	Advance func(time.Duration)
}

func newMini(t testing.TB) *miniTarget {
	t.Helper()
	mr := miniredis.RunT(t)
	var mu sync.Mutex
	now := baseTime
	mr.SetTime(now)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	b, err := New(client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &miniTarget{mr: mr, client: client, b: b,
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		},
		Advance: func(d time.Duration) {
			mu.Lock()
			now = now.Add(d)
			mr.FastForward(d)
			mr.SetTime(now)
			mu.Unlock()
			// The listener fields may have lapsed on the server's clock, which
			// moved here by far more than between two renewals: renew them
			// now, as a real server's clock would have seen done.
			b.wait.renewAll(context.Background())
			// Waiting consumers time their next event on the host's clock, which
			// does not move here: wake them as the server would on a due event.
			for _, ch := range mr.PubSubChannels("*") {
				mr.Publish(ch, "")
			}
		},
	}
}

// nsOf returns the handle of namespace name of b.
func nsOf(b *Backend, name string) *namespace { return b.handle(name) }

// runID and nsSeq make key prefixes unique to one test in one run, so tests can
// share a real server (KEYQ_REDIS_URL) with each other and with earlier runs.
var (
	runID = time.Now().UnixNano()
	nsSeq atomic.Int64
)

// testPrefix returns a fresh key prefix.
func testPrefix() string { return fmt.Sprintf("keyqtest-%x-%d", runID, nsSeq.Add(1)) }

// realClient returns a client of a real server: the one in KEYQ_REDIS_URL, or one
// started for t and killed when t ends. Without redis-server it skips t, or fails it
// when CI is set (internal/redistest).
func realClient(t testing.TB) *redis.Client {
	t.Helper()
	url := redistest.URL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// msg is a task whose key is its payload.
func msg(payload string, maxAttempts int) backend.Message {
	return backend.Message{Key: payload, Payload: []byte(payload), MaxAttempts: maxAttempts}
}

// ref names the lease l.
func ref(l backend.Lease) backend.LeaseRef { return backend.LeaseRef{TaskID: l.ID, Token: l.Token} }

// settle1 settles one item, reporting a lost lease as ErrLeaseLost.
func settle1(ctx context.Context, n *namespace, s backend.Settlement) error {
	r, err := n.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{s}})
	if r == nil {
		return err
	}
	if r[0] == backend.SettleLost {
		return backend.ErrLeaseLost
	}
	return err
}

// ack1 acks l without an answer.
func ack1(ctx context.Context, n *namespace, l backend.Lease) error {
	return settle1(ctx, n, backend.Settlement{LeaseRef: ref(l), Action: backend.Ack})
}

// extend1 extends one lease, reporting a lost lease as ErrLeaseLost.
func extend1(ctx context.Context, n *namespace, r backend.LeaseRef, d time.Duration) (time.Time, error) {
	out, err := n.Extend(ctx, backend.ExtendParams{Leases: []backend.LeaseRef{r}, Lease: d})
	if out == nil {
		return time.Time{}, err
	}
	if out[0].Deadline.IsZero() {
		return time.Time{}, backend.ErrLeaseLost
	}
	return out[0].Deadline, err
}

// mustEnqueue enqueues p on n and returns the IDs.
func mustEnqueue(t testing.TB, n *namespace, p backend.EnqueueParams) []string {
	t.Helper()
	ids, err := n.Enqueue(context.Background(), p)
	if err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	return ids
}

// mustDequeue leases up to count tasks of queues on n for a minute.
func mustDequeue(t testing.TB, n *namespace, count int, queues ...string) []backend.Lease {
	t.Helper()
	res, err := n.Dequeue(context.Background(), backend.DequeueParams{Queues: queues, Count: count, Lease: time.Minute})
	if err != nil {
		t.Fatalf("Dequeue: %v", err)
	}
	return res.Leases
}

// dq leases one task of queue q for a minute.
func dq() backend.DequeueParams {
	return backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute}
}

var payload100 = bytes.Repeat([]byte("x"), 100)

// benchSeq numbers benchmark tasks, so that no two share a key (a shared key with
// an answer would be deduped, not delivered).
var benchSeq atomic.Int64

// message returns a task with a distinct 100-byte payload that is also its key.
func message(i int) backend.Message {
	p := slices.Clone(payload100)
	copy(p, strconv.Itoa(i))
	return backend.Message{Key: string(p), Payload: p, MaxAttempts: 25}
}

func reportTasks(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tasks/s")
}
