package redisbackend

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// TestExchangeLargeBatch sends an Exchange whose settlements take more arguments
// than Lua's stack holds at once (3,000 acks, over 9,000 arguments; 1,500 on
// miniredis, whose table.concat takes no more): one ack is live, the others of
// leases that never were. The script splits its arguments without unpacking them
// whole; the live ack is done, the others lost, and the dequeue part leases.
func TestExchangeLargeBatch(t *testing.T) {
	drivers(t, func(t *testing.T, b *Backend) {
		acks := 3000
		if strings.HasSuffix(t.Name(), "driver=miniredis") {
			acks = 1500
		}
		ctx := context.Background()
		h := nsOf(b, "big")
		if _, err := h.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("a", 3), msg("b", 3)}}); err != nil {
			t.Fatal(err)
		}
		res, err := h.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
		if err != nil || len(res.Leases) != 1 {
			t.Fatalf("Dequeue: %d leases, %v", len(res.Leases), err)
		}
		l := res.Leases[0]
		items := []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack, Answer: &backend.Answer{Value: []byte("v"), OK: true, TTL: time.Hour}}}
		epoch := l.Token[:epochLen]
		for i := range acks - 1 {
			items = append(items, backend.Settlement{Action: backend.Ack,
				LeaseRef: backend.LeaseRef{TaskID: l.ID, Token: epoch + "-" + strconv.Itoa(1_000_000+i*7)}})
		}
		out, d, err := h.Exchange(ctx, backend.SettleParams{Items: items}, backend.DequeueParams{Queues: []string{"q"}, Count: 2, Lease: time.Minute})
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		if len(out) != len(items) || out[0] != backend.SettleDone {
			t.Fatalf("Exchange settled %d items, the live one %v; want %d, done", len(out), out[0], len(items))
		}
		for i, r := range out[1:] {
			if r != backend.SettleLost {
				t.Fatalf("item %d of a lease that never was: %v, want lost", i+1, r)
			}
		}
		if len(d.Leases) != 1 || string(d.Leases[0].Payload) != "b" {
			t.Fatalf("Exchange leased %d tasks, want b", len(d.Leases))
		}
	})
}

// TestExchangeTwoEpochs settles leases of two epochs, as around a loss of the
// store's data, and of none the server could know: the call goes as a Settle
// and a Dequeue, with the same results.
func TestExchangeTwoEpochs(t *testing.T) {
	b, err := New(newMini(t).client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	h := nsOf(b, "epochs")
	if _, err := h.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("a", 3), msg("b", 3), msg("c", 3)}}); err != nil {
		t.Fatal(err)
	}
	res, err := h.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("Dequeue: %d leases, %v", len(res.Leases), err)
	}
	l := res.Leases[0]
	other := "zzzzzzzz"[:epochLen] // an epoch the store never had
	old := backend.LeaseRef{TaskID: other + "-1", Token: other + "-1"}
	dp := backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute}
	out, d, err := h.Exchange(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: old, Action: backend.Ack}, {LeaseRef: ref(l), Action: backend.Ack}}}, dp)
	if err != nil || len(out) != 2 || out[0] != backend.SettleLost || out[1] != backend.SettleDone || len(d.Leases) != 1 || string(d.Leases[0].Payload) != "b" {
		t.Fatalf("Exchange of two epochs: %v, %d leases, %v; want lost, done and b", out, len(d.Leases), err)
	}
	bad := backend.LeaseRef{TaskID: "no", Token: "no"}
	out, d, err = h.Exchange(ctx, backend.SettleParams{Items: []backend.Settlement{{LeaseRef: bad, Action: backend.Ack}}}, dp)
	if err != nil || len(out) != 1 || out[0] != backend.SettleLost || len(d.Leases) != 1 || string(d.Leases[0].Payload) != "c" {
		t.Fatalf("Exchange of a lease no server could know: %v, %d leases, %v; want lost and c", out, len(d.Leases), err)
	}
}
