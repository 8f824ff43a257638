package redisbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoChannelPermission (S3.7): a user whose ACL allows every command and key but no
// Pub/Sub channel (as Redis 7 users get by default) can enqueue, dequeue, ack and
// wait: a refused wake-up fails no call and leaves no half-done change, the
// counters agree with the tasks, the refusal is logged once, and Notify
// returns and then tells its listeners to look again every pollEvery
// (issue 12, item 5).
func TestNoChannelPermission(t *testing.T) {
	srv := redistest.Start(t)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := admin.Do(ctx, "ACL", "SETUSER", "limited", "on", ">pw", "~*", "resetchannels", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{{"functions", Options{}}, {"evalsha", Options{NoFunctions: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			client := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "limited", Password: "pw"})
			defer client.Close()
			var logs syncBuffer
			opts := mode.opts
			opts.Prefix = testPrefix()
			opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			b, err := New(client, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			const ns = "acl"
			enqueue := func(key string) {
				t.Helper()
				if _, err := nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: time.Hour,
					Tasks: []backend.Message{{Type: "t", Key: key, Payload: []byte(key), MaxAttempts: 3}}}); err != nil {
					t.Fatalf("Enqueue %s: %v", key, err)
				}
			}
			ackOne := func(res backend.DequeueResult, err error, key string) {
				t.Helper()
				if err != nil || len(res.Leases) != 1 || res.Leases[0].Key != key {
					t.Fatalf("Dequeue: %+v, %v; want the lease of %s", res, err, key)
				}
				l := res.Leases[0]
				if err := settle1(ctx, nsOf(b, ns), backend.Settlement{LeaseRef: ref(l), Action: backend.Ack,
					Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Hour}}); err != nil {
					t.Fatalf("Ack: %v", err)
				}
			}

			enqueue("a")
			res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
			ackOne(res, err, "a")

			// Two listeners in a row: the first finds out, the second knows.
			for _, key := range []string{"b", "c"} {
				w := newWakeLog()
				stop, err := nsOf(b, ns).Notify(ctx, w.f)
				if err != nil {
					t.Fatalf("Notify on a refused channel: %v", err)
				}
				for range 3 { // the driver polls for the listener
					if wk := w.next(t, 10*time.Second, "a poll wake-up"); wk != (backend.Wake{}) {
						t.Fatalf("wake-up %+v on a refused channel, want Wake{}", wk)
					}
				}
				stop()
				enqueue(key)
				res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
				ackOne(res, err, key)
			}
			if n := strings.Count(logs.String(), "refuses"); n != 1 {
				t.Errorf("the refused channel was logged %d times, want once:\n%s", n, logs.String())
			}

			st, err := nsOf(b, ns).Stats(ctx, backend.StatsParams{Queues: []string{"q"}})
			if err != nil {
				t.Fatal(err)
			}
			c, q := st.Counters, st.Queues["q"]
			if c.Enqueued != 3 || c.Delivered != 3 || c.Acked != 3 || q.Waiting != 0 || q.Leased != 0 {
				t.Errorf("stats %+v, %+v; want 3 enqueued, delivered and acked, and nothing left", c, q)
			}
		})
	}
}

// TestAckFailsBeforeWriting: a settle whose ack arguments fail a check in its
// second group fails before anything is written, not after acking the first
// group (issue 12, item 5). Redis does not roll a script back.
func TestAckFailsBeforeWriting(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) *redis.Client
	}{
		{"miniredis", func(t *testing.T) *redis.Client { return newMini(t).client }},
		{"redis", func(t *testing.T) *redis.Client { return realClient(t) }},
	} {
		t.Run("driver="+tc.name, func(t *testing.T) {
			b, err := New(tc.client(t), Options{Prefix: testPrefix()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := context.Background()
			const ns = "partial"
			if _, err := nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Unique: true, Tasks: []backend.Message{
				{Key: "a", Payload: []byte("a"), MaxAttempts: 3}, {Key: "b", Payload: []byte("b"), MaxAttempts: 3}}}); err != nil {
				t.Fatal(err)
			}
			res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 2, Lease: time.Minute})
			if err != nil || len(res.Leases) != 2 {
				t.Fatalf("Dequeue: %+v, %v", res, err)
			}
			items := make([]backend.Settlement, 2)
			for i, l := range res.Leases {
				items[i] = backend.Settlement{LeaseRef: ref(l), Action: backend.Ack,
					Answer: &backend.Answer{Value: []byte("v"), OK: true, TTL: time.Duration(i+1) * time.Hour}}
			}
			args, _ := settleArgs(items, []int{0, 1}) // two groups: the TTLs differ
			// The second group's TTL, as no valid call sends it.
			if i := 2 + 4 + 3 + 1; fmt.Sprint(args[i]) != "7200000" {
				t.Fatalf("argument %d is %v, want the second group's TTL", i, args[i])
			} else {
				args[i] = "-5"
			}
			k := nsOf(b, ns).k
			if _, err := b.run(ctx, scriptSettle, k.with(""), append(args, "")...); err == nil {
				t.Fatal("the settle with a bad TTL succeeded")
			}

			// Nothing changed: both leases live, no answers, the keys still present.
			leases, err := nsOf(b, ns).Leases(ctx, backend.LeasesParams{Count: 10})
			if err != nil || len(leases) != 2 {
				t.Errorf("Leases: %d, %v; want both", len(leases), err)
			}
			for _, key := range []string{"a", "b"} {
				if _, err := nsOf(b, ns).GetAnswer(ctx, backend.GetAnswerParams{Key: key}); !errors.Is(err, backend.ErrNotFound) {
					t.Errorf("answer of %s: %v; want none", key, err)
				}
				_, err := nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Unique: true,
					Tasks: []backend.Message{{Key: key, Payload: []byte(key), MaxAttempts: 3}}})
				if !errors.Is(err, backend.ErrDuplicate) {
					t.Errorf("unique enqueue of leased key %s: %v; want ErrDuplicate (the key index lost it)", key, err)
				}
			}
			st, err := nsOf(b, ns).Stats(ctx, backend.StatsParams{Queues: []string{"q"}})
			if err != nil {
				t.Fatal(err)
			}
			if st.Queues["q"].Leased != 2 || st.Counters.Acked != 0 {
				t.Errorf("stats %+v, %+v; want 2 leased, none acked", st.Queues["q"], st.Counters)
			}
			// And the call, sent right, acks both.
			got, err := nsOf(b, ns).Settle(ctx, backend.SettleParams{Items: items})
			if err != nil || got[0] != backend.SettleDone || got[1] != backend.SettleDone {
				t.Errorf("Settle: %v, %v", got, err)
			}
		})
	}
}
