package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

// TestWorkerLeaseKeptAlive checks that a handler that runs longer than its lease
// keeps it: the worker extends it in the background, and the task is acked, not
// reclaimed.
func TestWorkerLeaseKeptAlive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.Queues(q))
		if e.bclock == nil {
			keptAliveRealTime(t, e)
			return
		}
		rec := newRecorder()
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		// Memory: the worker and the backend share one fake clock; move it past
		// the first lease in steps that each let the keeper extend.
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.bclock, Lease: 30 * time.Second})
		w.HandleFunc("", holdUntil(started, release))
		mustEnqueue(t, e.client, q, "long")
		start(t, w)
		recv(t, started, "handler start")
		for range 4 { // 40s in all, past the 30s lease
			waitTimers(t, e.bclock, 1)
			e.bclock.Advance(10 * time.Second)
		}
		waitTimers(t, e.bclock, 1)
		close(release)
		rec.expect(t, keyq.OutcomeFinished)
		st, err := e.client.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Counters.Reclaimed != 0 || st.Counters.Delivered != 1 {
			t.Fatalf("counters %+v, want 1 delivery and no reclaim", st.Counters)
		}
	})
}

// holdUntil is a handler that reports its start and returns once release closes.
func holdUntil(started chan<- struct{}, release <-chan struct{}) keyq.HandlerFunc {
	return func(ctx context.Context, task *keyq.Task) (any, error) {
		started <- struct{}{}
		select {
		case <-release:
			return "done", nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// keptAliveRealTime is TestWorkerLeaseKeptAlive on Redis, where the lease runs on
// the server's clock: a short real lease and a handler that works for two and a
// half of them. The keeper extends every third of the lease, so a machine that
// leaves it unscheduled for two thirds of one loses the lease however right the
// worker is; then the run is tried again with twice the lease. A keeper that does
// not extend loses it every time.
func keptAliveRealTime(t *testing.T, e env) {
	lease := 600 * time.Millisecond
	for attempt := 1; ; attempt++ {
		c, err := keyq.New(e.client.Backend(), fmt.Sprintf("%s:%d", namespace(t), attempt), keyq.Queues(q))
		if err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		release := make(chan struct{})
		started := make(chan struct{}, 1)
		w := mustWorker(t, c, rec.option(), keyq.WorkerConfig{Clock: clock.Real(), Lease: lease})
		w.HandleFunc("", holdUntil(started, release))
		mustEnqueue(t, c, q, "long")
		start(t, w)
		recv(t, started, "handler start")
		<-time.After(lease * 5 / 2) // the handler's work, over two leases
		close(release)
		d := rec.next(t)
		st, err := c.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d.o == keyq.OutcomeFinished && st.Counters.Reclaimed == 0 && st.Counters.Delivered == 1 {
			return
		}
		if attempt < 3 && (d.o == keyq.OutcomeLost || st.Counters.Reclaimed > 0) {
			t.Logf("lease of %v lost (counters %+v): again with %v", lease, st.Counters, 2*lease)
			lease *= 2
			continue
		}
		t.Fatalf("outcome %s (err %v), counters %+v; want finished with 1 delivery and no reclaim", d.o, d.err, st.Counters)
	}
}

// TestWorkerLeaseLost checks that when the lease is lost anyway, the handler's
// context is cancelled with ErrLeaseLost and its result is not acked over the
// delivery that someone else now holds.
func TestWorkerLeaseLost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.Queues(q))
		rec := newRecorder()
		lease := 30 * time.Second
		if e.redis {
			lease = 400 * time.Millisecond
		}
		// The worker's keeper runs on its own fake clock, stopped until we move it.
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Lease: lease})
		started := make(chan struct{}, 1)
		cause := make(chan error, 1)
		w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return "stale", nil // a result that must not be acked
		})
		id := mustEnqueue(t, e.client, q, "contested")
		start(t, w)
		recv(t, started, "handler start")
		if e.bclock != nil {
			e.bclock.Advance(lease + time.Second)
		}
		// Someone else gets the task once the lease has expired (on Redis, in real
		// time: wait for it with a deadline).
		var other *keyq.Lease
		ctx := bounded(t)
		for other == nil {
			l, err := e.client.Next(ctx, keyq.Wait(100*time.Millisecond))
			if err != nil {
				t.Fatalf("the expired lease did not come back: %v", err)
			}
			other = l
		}
		if other.ID != id || other.Attempt != 1 {
			t.Fatalf("other consumer got %s attempt %d, want %s attempt 1", other.ID, other.Attempt, id)
		}
		waitTimers(t, e.wclock, 1)
		e.wclock.Advance(lease / 2) // the keeper tries to extend, and finds the lease lost
		if err := recv(t, cause, "handler cancel"); !errors.Is(err, keyq.ErrLeaseLost) {
			t.Fatalf("handler context cause %v, want ErrLeaseLost", err)
		}
		rec.expect(t, keyq.OutcomeLost)
		if err := e.client.Ack(context.Background(), other, keyq.WithAnswer("fresh")); err != nil {
			t.Fatalf("the other consumer's ack: %v", err)
		}
		a, err := e.client.Answer(context.Background(), "contested")
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := a.Decode(&s); err != nil || s != "fresh" {
			t.Fatalf("answer %s, want the other consumer's", a.Value)
		}
		if st := w.Stats(); st.Lost != 1 || st.Processed != 0 {
			t.Fatalf("stats %+v, want 1 lost, 0 processed", st)
		}
	})
}
