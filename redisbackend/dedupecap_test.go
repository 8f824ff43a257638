package redisbackend

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
)

// TestDedupeCap: a dequeue that drops more answered tasks than one script round
// may (1000, to keep the server responsive) goes on in further rounds and still
// delivers the task behind them, counting every drop.
func TestDedupeCap(t *testing.T) {
	b := newMini(t).b
	ctx := context.Background()
	const n = 2500
	msgs := make([]backend.Message, n)
	for i := range msgs {
		msgs[i] = backend.Message{Key: "answered", Payload: fmt.Appendf(nil, "%d", i), MaxAttempts: 1}
	}
	msgs = append(msgs, backend.Message{Key: "fresh", Payload: []byte("fresh"), MaxAttempts: 1})
	if _, err := nsOf(b, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs}); err != nil {
		t.Fatal(err)
	}
	if err := nsOf(b, "ns").SetAnswer(ctx, backend.SetAnswerParams{Key: "answered",
		Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	res, err := nsOf(b, "ns").Dequeue(ctx, dq())
	if err != nil || len(res.Leases) != 1 || string(res.Leases[0].Payload) != "fresh" || res.Deduped != n {
		t.Fatalf("Dequeue = %d leases, %d deduped, %v; want the fresh task and %d deduped", len(res.Leases), res.Deduped, err, n)
	}
}
