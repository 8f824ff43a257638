package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestLeaseAcrossDataLoss (S4.8): a server killed and restarted without persistence
// while leases are out starts its sequence at 1 again, so the same numbers go to
// new tasks and leases. No ID or token from before the loss may act on them: an
// ack, batch ack, release or extend of an old lease is lost, a job or dead-letter
// call with an old ID finds nothing, and the new tasks keep their leases and get
// no answer but their own (issue 12, item 1).
func TestLeaseAcrossDataLoss(t *testing.T) {
	srv := redistest.Start(t) // no persistence: a restart loses everything
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	b, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ns, n = "loss", 6

	// The same calls before and after the loss, so the numbers line up.
	life := func(name string) []backend.Lease {
		t.Helper()
		var msgs []backend.Message
		for i := range n {
			key := fmt.Sprintf("%s-%d", name, i)
			msgs = append(msgs, backend.Message{Type: "t", Key: key, Payload: []byte(key), MaxAttempts: 3})
		}
		var err error
		for range 100 { // the server may still be coming back
			if _, err = nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs,
				TrackJobs: true, JobTTL: time.Hour}); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond) // retry pacing while the server restarts
		}
		if err != nil {
			t.Fatalf("%s: Enqueue: %v", name, err)
		}
		res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: n, Lease: time.Minute})
		if err != nil || len(res.Leases) != n {
			t.Fatalf("%s: Dequeue: %d leases, %v", name, len(res.Leases), err)
		}
		return res.Leases
	}
	old := life("old")
	srv.Restart(t)
	fresh := life("new")
	for i := range old {
		if old[i].ID == fresh[i].ID || old[i].Token == fresh[i].Token {
			t.Errorf("after the loss task %d has ID %s and token %s, as before it", i, fresh[i].ID, fresh[i].Token)
		}
	}

	// Every call with an old lease or ID acts on nothing.
	h := nsOf(b, ns)
	ack := func(l backend.Lease) backend.Settlement {
		return backend.Settlement{LeaseRef: ref(l), Action: backend.Ack,
			Answer: &backend.Answer{Value: []byte("answer of " + string(l.Payload)), OK: true, TTL: time.Hour}}
	}
	if err := settle1(ctx, h, ack(old[0])); !errors.Is(err, backend.ErrLeaseLost) {
		t.Errorf("Ack of a lease from before the loss: %v, want ErrLeaseLost", err)
	}
	if err := settle1(ctx, h, backend.Settlement{LeaseRef: ref(old[1]), Action: backend.DeadLetter}); !errors.Is(err, backend.ErrLeaseLost) {
		t.Errorf("DeadLetter of a lease from before the loss: %v, want ErrLeaseLost", err)
	}
	if _, err := extend1(ctx, h, ref(old[2]), time.Second); !errors.Is(err, backend.ErrLeaseLost) {
		t.Errorf("Extend of a lease from before the loss: %v, want ErrLeaseLost", err)
	}
	// A batch of old and new leases: the old ones are lost, the new one done.
	batch := []backend.Settlement{ack(fresh[len(fresh)-1])}
	for _, l := range old[3:] {
		batch = append(batch, ack(l))
	}
	res, err := h.Settle(ctx, backend.SettleParams{Items: batch})
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	for i, r := range res {
		if want := map[bool]backend.SettleResult{true: backend.SettleDone, false: backend.SettleLost}[i == 0]; r != want {
			t.Errorf("Settle item %d of a batch of one new lease then leases from before the loss: %v, want %v", i, r, want)
		}
	}
	fresh = fresh[:len(fresh)-1]
	if j, err := nsOf(b, ns).Job(ctx, backend.JobParams{ID: old[0].ID}); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("Job of an ID from before the loss: %+v, %v; want ErrNotFound", j, err)
	}

	// The new tasks are as they were: leased, live, without answers.
	leases, err := nsOf(b, ns).Leases(ctx, backend.LeasesParams{Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, l := range leases {
		tokens = append(tokens, l.Token)
	}
	for _, l := range fresh {
		if !slices.Contains(tokens, l.Token) {
			t.Errorf("lease %s of task %s (%s) is gone: live leases %v", l.Token, l.ID, l.Payload, tokens)
		}
		if a, err := nsOf(b, ns).GetAnswer(ctx, backend.GetAnswerParams{Key: l.Key}); !errors.Is(err, backend.ErrNotFound) {
			t.Errorf("task %s (%s) has answer %q, %v; want none", l.ID, l.Key, a.Value, err)
		}
		if j, err := nsOf(b, ns).Job(ctx, backend.JobParams{ID: l.ID}); err != nil || j.Status != backend.StatusRunning {
			t.Errorf("job %s: %+v, %v; want running", l.ID, j, err)
		}
	}
	// A dead-lettered new task is not reached with the old ID of its number.
	if err := settle1(ctx, h, backend.Settlement{LeaseRef: ref(fresh[0]), Action: backend.DeadLetter}); err != nil {
		t.Fatalf("DeadLetter of a new lease: %v", err)
	}
	for _, f := range []func(context.Context, backend.DeadActionParams) (int, error){h.RequeueDead, h.PurgeDead} {
		if n, err := f(ctx, backend.DeadActionParams{IDs: []string{old[0].ID}}); n != 0 || err != nil {
			t.Errorf("dead action with an ID from before the loss: %d, %v; want 0", n, err)
		}
	}
	for _, l := range fresh[1:] {
		if err := settle1(ctx, h, ack(l)); err != nil {
			t.Errorf("Ack of new lease %s: %v", l.Token, err)
		}
		a, err := nsOf(b, ns).GetAnswer(ctx, backend.GetAnswerParams{Key: l.Key})
		if want := "answer of " + string(l.Payload); err != nil || string(a.Value) != want {
			t.Errorf("task %s: answer %q, %v; want %q", l.ID, a.Value, err, want)
		}
	}
	st, err := nsOf(b, ns).Stats(ctx, backend.StatsParams{Queues: []string{"q"}})
	if err != nil {
		t.Fatal(err)
	}
	if q := st.Queues["q"]; q.Leased != 0 || q.Dead != 1 || st.Counters.Acked != n-1 {
		t.Errorf("stats after the new tasks ended: %+v, %+v; want 1 dead, %d acked", q, st.Counters, n-1)
	}
}
