package redisbackend

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// TestResendReturnsFirstOutcome (S8.6): each call that changes state, sent twice under
// one request key as go-redis resends it, changes the store once and returns the
// first run's outcome the second time (issue 12, item 3).
func TestResendReturnsFirstOutcome(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) *redis.Client
		opts   Options
	}{
		{"miniredis", func(t *testing.T) *redis.Client { return newMini(t).client }, Options{}},
		{"redis", func(t *testing.T) *redis.Client { return realClient(t) }, Options{}},
		{"redis-evalsha", func(t *testing.T) *redis.Client { return realClient(t) }, Options{NoFunctions: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Prefix = testPrefix()
			b, err := New(tc.client(t), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if !b.resends {
				t.Fatal("a client with go-redis's default options counts as one that does not resend")
			}
			ctx := context.Background()
			const ns = "resend"
			n := 0
			b.testRequest = func(k *nsKeys) string { return k.prefix + "i:test" + string(rune('a'+n/2)) }
			twice := func(what string, f func() (any, error)) any {
				t.Helper()
				v1, err1 := f()
				n++
				v2, err2 := f()
				n++
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: %v, then %v", what, err1, err2)
				}
				if diff := cmp.Diff(v1, v2); diff != "" {
					t.Fatalf("%s sent again returned another outcome (-first +again):\n%s", what, diff)
				}
				return v1
			}
			msgs := []backend.Message{{Key: "a", Payload: []byte("a"), MaxAttempts: 3}, {Key: "b", Payload: []byte("b"), MaxAttempts: 3},
				{Key: "c", Payload: []byte("c"), MaxAttempts: 3}, {Key: "d", Payload: []byte("d"), MaxAttempts: 3}}
			twice("Enqueue", func() (any, error) {
				return nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs})
			})
			res := twice("Dequeue", func() (any, error) {
				return nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 4, Lease: time.Minute})
			}).(backend.DequeueResult)
			if len(res.Leases) != 4 {
				t.Fatalf("Dequeue: %d leases, want 4", len(res.Leases))
			}
			ls := res.Leases
			h := nsOf(b, ns)
			ack := func(l backend.Lease) backend.Settlement {
				return backend.Settlement{LeaseRef: ref(l), Action: backend.Ack,
					Answer: &backend.Answer{Value: []byte("v"), OK: true, TTL: time.Hour}}
			}
			got := twice("Settle", func() (any, error) {
				return h.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{ack(ls[0]), ack(ls[1]), ack(ls[0])}})
			})
			if want := []backend.SettleResult{backend.SettleDone, backend.SettleDone, backend.SettleLost}; !slices.Equal(got.([]backend.SettleResult), want) {
				t.Fatalf("Settle = %v, want %v", got, want)
			}
			twice("Extend", func() (any, error) {
				return h.Extend(ctx, backend.ExtendParams{Leases: []backend.LeaseRef{ref(ls[2]), ref(ls[0]), ref(ls[3])}, Lease: time.Hour})
			})
			twice("DeadLetter", func() (any, error) {
				return h.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(ls[2]), Action: backend.DeadLetter}}})
			})
			twice("RequeueDead", func() (any, error) {
				return nsOf(b, ns).RequeueDead(ctx, backend.DeadActionParams{IDs: []string{ls[2].ID}})
			})
			type exchanged struct {
				Settled []backend.SettleResult
				Leased  backend.DequeueResult
			}
			x := twice("Exchange", func() (any, error) {
				s, d, err := h.Exchange(ctx, backend.SettleParams{Items: []backend.Settlement{ack(ls[3])}},
					backend.DequeueParams{Queues: []string{"q"}, Count: 2, Lease: time.Minute})
				return exchanged{s, d}, err
			}).(exchanged)
			if !slices.Equal(x.Settled, []backend.SettleResult{backend.SettleDone}) || len(x.Leased.Leases) != 1 || x.Leased.Leases[0].ID != ls[2].ID {
				t.Fatalf("Exchange = %+v, want the ack done and the requeued task leased", x)
			}
			if err := nsOf(b, ns).SetAnswer(ctx, backend.SetAnswerParams{Key: "x",
				Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: time.Hour}}); err != nil {
				t.Fatal(err)
			}
			twice("DeleteAnswer", func() (any, error) {
				return nil, nsOf(b, ns).DeleteAnswer(ctx, backend.DeleteAnswerParams{Key: "x"})
			})
			b.testRequest = nil
			st, err := nsOf(b, ns).Stats(ctx, backend.StatsParams{Queues: []string{"q"}})
			if err != nil {
				t.Fatal(err)
			}
			want := backend.Counters{Enqueued: 4, Delivered: 5, Acked: 3, Released: 1, Dead: 1}
			if st.Counters != want {
				t.Errorf("counters %+v, want %+v: a call sent twice ran twice", st.Counters, want)
			}
			if q := st.Queues["q"]; q.Waiting != 0 || q.Leased != 1 || q.Dead != 0 {
				t.Errorf("queue %+v, want none waiting (requeued once, then leased), 1 leased", q)
			}
		})
	}
}
