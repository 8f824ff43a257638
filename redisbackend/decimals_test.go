package redisbackend

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// TestDecimalsAcrossPowers: the scripts write a batch's task IDs and lease tokens
// as decimals built from the hundreds and two digits (decimals in common.lua).
// Batches that cross 100, 1000, ... and 10^12 must get the IDs Enqueue returns,
// leases must carry them, and consecutive tokens must ack, on every way the
// scripts run.
func TestDecimalsAcrossPowers(t *testing.T) {
	type run struct {
		name   string
		client func(t *testing.T) *redis.Client
		opts   Options
	}
	real := func(t *testing.T) *redis.Client { return realClient(t) }
	runs := []run{
		{name: "miniredis", client: func(t *testing.T) *redis.Client { return newMini(t).client }},
		{name: "redis", client: real},
		{name: "redis-evalsha", client: real, opts: Options{NoFunctions: true}},
	}
	ctx := context.Background()
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			c := r.client(t)
			opts := r.opts
			opts.Prefix = testPrefix()
			b, err := New(c, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, start := range []int64{0, 95, 990, 9_950, 99_999, 1e12 - 150} {
				ns := "n" + strconv.FormatInt(start, 10)
				if err := c.Set(ctx, nsOf(b, ns).k.all[0], start, 0).Err(); err != nil {
					t.Fatal(err)
				}
				const n = 160 // crosses at least one hundred, whatever start is
				tasks := make([]backend.Message, n)
				for i := range tasks {
					tasks[i] = backend.Message{Key: strconv.Itoa(i), Payload: []byte("p"), MaxAttempts: 3}
				}
				ids, err := nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: tasks})
				if err != nil {
					t.Fatalf("start %d: enqueue: %v", start, err)
				}
				for i, id := range ids {
					if _, num, _ := splitID(id); num != strconv.FormatInt(start+int64(i)+1, 10) {
						want := strconv.FormatInt(start+int64(i)+1, 10)
						t.Fatalf("start %d: ID %d is %q, want %q", start, i, id, want)
					}
				}
				res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: n, Lease: time.Minute})
				if err != nil || len(res.Leases) != n {
					t.Fatalf("start %d: dequeue: %d leases, %v", start, len(res.Leases), err)
				}
				_, firstNum, _ := splitID(res.Leases[0].Token)
				first, _ := strconv.ParseInt(firstNum, 10, 64)
				acks := make([]backend.Settlement, n)
				for i, l := range res.Leases {
					if l.ID != ids[i] {
						t.Fatalf("start %d: lease %d has ID %q, want %q", start, i, l.ID, ids[i])
					}
					if _, num, _ := splitID(l.Token); num != strconv.FormatInt(first+int64(i), 10) {
						want := strconv.FormatInt(first+int64(i), 10)
						t.Fatalf("start %d: lease %d has token %q, want %q", start, i, l.Token, want)
					}
					acks[i] = backend.Settlement{LeaseRef: ref(l), Action: backend.Ack}
				}
				got, err := nsOf(b, ns).Settle(ctx, backend.SettleParams{Items: acks})
				if err != nil {
					t.Fatalf("start %d: ack: %v", start, err)
				}
				for i, r := range got {
					if r != backend.SettleDone {
						t.Fatalf("start %d: ack of lease %d (token %s): %v", start, i, acks[i].Token, r)
					}
				}
			}
		})
	}
}
