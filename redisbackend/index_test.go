package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// TestKeyIndexBuiltOnFirstUnique: a namespace keeps the key index only from its
// first unique enqueue on, so that enqueue must find every task already waiting
// (in any queue), delayed or leased (in any lease bucket, a single lease too), and
// none that is dead or done; from then on the index follows every change.
func TestKeyIndexBuiltOnFirstUnique(t *testing.T) {
	b := newMini(t).b
	ctx := context.Background()
	const ns = "ix"
	enqueue := func(q string, delay time.Duration, unique bool, keys ...string) error {
		msgs := make([]backend.Message, len(keys))
		for i, k := range keys {
			msgs[i] = backend.Message{Key: k, Payload: []byte("p-" + k), MaxAttempts: 1}
		}
		_, err := nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: q, Tasks: msgs, Delay: delay, Unique: unique})
		return err
	}
	lease := func(q string, n int) []backend.Lease {
		t.Helper()
		res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{q}, Count: n, Lease: time.Hour})
		if err != nil || len(res.Leases) != n {
			t.Fatalf("Dequeue(%s, %d) = %d leases, %v", q, n, len(res.Leases), err)
		}
		return res.Leases
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// A lease alone in its bucket is a single, which no group counts
	// (scripts/common/leases.lua): token 2, in bucket 0.
	must(enqueue("s", 0, false, "s1"))
	lease("s", 1)
	must(enqueue("a", 0, false, "w1", "w2"))
	must(enqueue("b", 0, false, "w3"))
	must(enqueue("d", time.Hour, false, "d1"))
	// 300 leases span three lease buckets of 128 tokens.
	var many []string
	for i := range 300 {
		many = append(many, fmt.Sprintf("l%d", i))
	}
	must(enqueue("l", 0, false, many...))
	leased := lease("l", 300)
	must(enqueue("x", 0, false, "dead", "done"))
	gone := lease("x", 2)
	res, err := nsOf(b, ns).Settle(ctx, backend.SettleParams{Items: []backend.Settlement{
		{LeaseRef: ref(gone[0]), Action: backend.DeadLetter}, {LeaseRef: ref(gone[1]), Action: backend.Ack}}})
	if err != nil || res[0] != backend.SettleDone || res[1] != backend.SettleDone {
		t.Fatalf("Settle = %v, %v; want both done", res, err)
	}

	for _, k := range []string{"s1", "w1", "w2", "w3", "d1", "l0", "l127", "l128", "l299"} {
		if err := enqueue("u", 0, true, k); !errors.Is(err, backend.ErrDuplicate) {
			t.Errorf("unique enqueue of %s, which is queued: %v, want ErrDuplicate", k, err)
		}
	}
	must(enqueue("u", 0, true, "dead", "done", "fresh"))

	// Kept from now on: an ack frees its key, a plain enqueue takes one.
	must(ack1(ctx, nsOf(b, ns), leased[200]))
	must(enqueue("u", 0, true, "l200"))
	must(enqueue("a", 0, false, "w4"))
	if err := enqueue("u", 0, true, "w4"); !errors.Is(err, backend.ErrDuplicate) {
		t.Errorf("unique enqueue of w4 after the index was built: %v, want ErrDuplicate", err)
	}
}
