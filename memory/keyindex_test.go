package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// The key index is built at the first unique enqueue (S2.4): it must count the
// tasks enqueued before it, wherever they are then: waiting, delayed, leased, or
// back from an expired lease; and not the acked or dead-lettered ones.
func TestKeyIndexBuiltLate(t *testing.T) {
	d := newDriver(t)
	d.enqueue(t, backend.EnqueueParams{Queue: "q"}, "leased", "expired", "acked", "dead")
	d.enqueue(t, backend.EnqueueParams{Queue: "q", Delay: time.Hour}, "delayed")
	short := d.dequeue(t, 1, time.Second, "q").Leases // "leased", kept
	d.dequeue(t, 1, time.Millisecond, "q")            // "expired"
	rest := d.dequeue(t, 2, time.Hour, "q").Leases    // "acked", "dead"
	if len(short) != 1 || len(rest) != 2 {
		t.Fatalf("dequeued %d and %d tasks, want 1 and 2", len(short), len(rest))
	}
	if _, err := d.ns.Settle(d.ctx, backend.SettleParams{Items: []backend.Settlement{
		{LeaseRef: ref(rest[0]), Action: backend.Ack},
		{LeaseRef: ref(rest[1]), Action: backend.DeadLetter},
	}}); err != nil {
		t.Fatal(err)
	}
	d.clk.Advance(2 * time.Millisecond)
	d.enqueue(t, backend.EnqueueParams{Queue: "other"}, "waiting")
	for _, key := range []string{"waiting", "delayed", "leased", "expired"} {
		p := backend.EnqueueParams{Queue: "q", Unique: true, Tasks: []backend.Message{{Key: key, MaxAttempts: 1}}}
		if _, err := d.ns.Enqueue(d.ctx, p); !errors.Is(err, backend.ErrDuplicate) {
			t.Errorf("first unique enqueue of key %q, enqueued before it: %v, want ErrDuplicate", key, err)
		}
	}
	for _, key := range []string{"acked", "dead"} {
		p := backend.EnqueueParams{Queue: "q", Unique: true, Tasks: []backend.Message{{Key: key, MaxAttempts: 1}}}
		if _, err := d.ns.Enqueue(d.ctx, p); err != nil {
			t.Errorf("unique enqueue of key %q, whose task ended: %v", key, err)
		}
	}
}
