package keyq_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

// TestWorkerValidationRun is the validation run of S10.2 through the worker:
// 10,000 tasks, 8 handlers at once, every second delivery fails and is released;
// every task is answered exactly once with the right answer and none is lost. The
// full 10,000 run on the memory backend; on Redis, where every call is a round trip
// and the count adds no new path, 2,000 (examples/validation runs the same on both).
//
// "Every second delivery" is counted per task: each task's first delivery fails and
// its second succeeds. A count over all deliveries, as a single consumer
// could keep, starves some tasks once batches and concurrency line up with its parity:
// they fail on every delivery until their attempts run out.
func TestWorkerValidationRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		n := 10000
		if bf.name == "redis" {
			n = 2000
		}
		if testing.Short() {
			n = 1000
		}
		e := bf.new(t, true, keyq.Queues(q))
		msgs := make([]keyq.Message, 0, 1000)
		for i := range n {
			msgs = append(msgs, keyq.Message{Payload: []byte(strconv.Itoa(i))})
			if len(msgs) == cap(msgs) || i == n-1 {
				if _, err := e.client.EnqueueBatch(context.Background(), q, msgs); err != nil {
					t.Fatal(err)
				}
				msgs = msgs[:0]
			}
		}
		var deliveries atomic.Int64
		var mu sync.Mutex
		succeeded := make([]int, n)
		finished := make(chan struct{})
		var acked atomic.Int64
		// A failed task goes back to the head at once: the run checks requeueing.
		w := mustWorker(t, e.client, keyq.WorkerConfig{Concurrency: 8, Batch: 8, Clock: clock.Real()},
			keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff},
			keyq.WorkerConfig{OnDone: func(_ *keyq.Task, o keyq.Outcome, err error) {
				if o == keyq.OutcomeFinished && acked.Add(1) == int64(n) {
					close(finished)
				}
			}},
		)
		w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
			deliveries.Add(1)
			if task.Attempt%2 == 0 {
				return nil, errors.New("every second delivery fails")
			}
			i, err := strconv.Atoi(string(task.Payload))
			if err != nil {
				return nil, keyq.Final(err)
			}
			mu.Lock()
			succeeded[i]++
			mu.Unlock()
			return i * 2, nil
		})
		began := time.Now()
		start(t, w)
		select { // a bound on a hang only: the run's speed is for the benchmarks
		case <-finished:
		case <-time.After(5 * time.Minute):
			t.Fatalf("all %d tasks answered did not happen within 5m: worker %+v", n, w.Stats())
		}
		elapsed := time.Since(began)

		mu.Lock()
		for i, c := range succeeded {
			if c != 1 {
				t.Errorf("task %d succeeded %d times, want once", i, c)
			}
		}
		mu.Unlock()
		for i := range n {
			a, err := e.client.Answer(context.Background(), strconv.Itoa(i))
			var v int
			if err != nil || !a.OK || a.Decode(&v) != nil || v != i*2 {
				t.Fatalf("answer of task %d: %s ok=%v err=%v, want %d", i, a.Value, a.OK, err, i*2)
			}
		}
		st, err := e.client.Stats(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		qs := st.Queues[q]
		if qs.Waiting+qs.Leased+qs.Delayed+qs.Dead != 0 || st.Counters.Acked != int64(n) || deliveries.Load() != int64(2*n) {
			t.Fatalf("queue %+v, counters %+v, %d deliveries; want it empty, %d acks, %d deliveries", qs, st.Counters, deliveries.Load(), n, 2*n)
		}
		ws := w.Stats()
		t.Logf("%d tasks, %d deliveries (%d released) in %v: %.0f tasks/s", n, deliveries.Load(), ws.Retried, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	})
}
