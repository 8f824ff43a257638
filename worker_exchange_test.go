package keyq_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// exchangeSpy wraps a namespace handle that can exchange: it counts the acks
// that reach the store by Settle and by Exchange, and can fail Exchange calls.
type exchangeSpy struct {
	nsParts
	x backend.Exchanger

	mu        sync.Mutex
	settled   map[string]int // acks sent, by task ID, whatever the call
	exchanges int            // Exchange calls that carried acks
	fail      int            // Exchange calls still to fail, as a whole, without reaching the store
}

func (s *exchangeSpy) count(items []backend.Settlement) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range items {
		if it.Action == backend.Ack {
			s.settled[it.TaskID]++
		}
	}
}

func (s *exchangeSpy) Settle(ctx context.Context, p backend.SettleParams) ([]backend.SettleResult, error) {
	s.count(p.Items)
	return s.Namespace.Settle(ctx, p)
}

func (s *exchangeSpy) Exchange(ctx context.Context, sp backend.SettleParams, dp backend.DequeueParams) ([]backend.SettleResult, backend.DequeueResult, error) {
	s.mu.Lock()
	s.exchanges++
	fail := s.fail > 0
	if fail {
		s.fail--
	}
	s.mu.Unlock()
	if fail {
		return nil, backend.DequeueResult{}, errors.New("exchange failed on purpose")
	}
	s.count(sp.Items)
	return s.x.Exchange(ctx, sp, dp)
}

func exchangeSpyEnv(t *testing.T) (env, *exchangeSpy) {
	t.Helper()
	e := newMemoryEnv(t, true, keyq.Queues(q))
	spy := &exchangeSpy{settled: map[string]int{}}
	e.client = wrapClient(t, e, namespace(t), func(h backend.Namespace) backend.Namespace {
		spy.nsParts = partsOf(h)
		spy.x = h.(backend.Exchanger)
		return spy
	}, keyq.Queues(q))
	return e, spy
}

// TestWorkerAcksRideOnFetches runs a worker at its defaults on a driver that can
// exchange, and shuts it down while tasks still flow: acks went out in Exchange
// calls, each finished task's ack reached the store exactly once, the last ones
// included, and every task the store counts as acked was reported finished.
func TestWorkerAcksRideOnFetches(t *testing.T) {
	e, spy := exchangeSpyEnv(t)
	const n = 600
	msgs := make([]keyq.Message, n)
	for i := range msgs {
		msgs[i] = keyq.Message{Payload: []byte(strconv.Itoa(i))}
	}
	ctx := bounded(t)
	if _, err := e.client.EnqueueBatch(ctx, q, msgs); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Concurrency: 4})
	w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) { return "ok", nil })
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	finished := map[string]bool{}
	for len(finished) < n/2 {
		d := rec.expect(t, keyq.OutcomeFinished)
		finished[d.task.ID] = true
	}
	if err := w.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for len(rec.ch) > 0 {
		d := <-rec.ch
		if d.o != keyq.OutcomeFinished && d.o != keyq.OutcomeReturned {
			t.Fatalf("outcome of %s: %s (%v)", d.task.ID, d.o, d.err)
		}
		if d.o == keyq.OutcomeFinished {
			finished[d.task.ID] = true
		}
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.exchanges == 0 {
		t.Fatal("no ack went out in an Exchange call: the worker settles and fetches in two calls")
	}
	for id := range finished {
		if spy.settled[id] != 1 {
			t.Errorf("task %s finished; its ack was sent %d times, want once", id, spy.settled[id])
		}
	}
	if len(spy.settled) != len(finished) {
		t.Errorf("%d acks sent for %d finished tasks", len(spy.settled), len(finished))
	}
	st, err := e.client.Stats(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if st.Counters.Acked != int64(len(finished)) || st.Queues[q].Leased != 0 || st.Queues[q].Waiting != int64(n-len(finished)) {
		t.Fatalf("store: %d acked, %d leased, %d waiting; want %d acked (the finished tasks), none leased, the rest waiting",
			st.Counters.Acked, st.Queues[q].Leased, st.Queues[q].Waiting, len(finished))
	}
	t.Logf("%d tasks finished, %d Exchange calls", len(finished), spy.exchanges)
}

// TestWorkerExchangeFails checks that an Exchange call that fails as a whole
// reports its acks' tasks as OutcomeError and that the worker goes on: their
// leases expire, and the tasks run again and finish.
func TestWorkerExchangeFails(t *testing.T) {
	e, spy := exchangeSpyEnv(t)
	spy.fail = 1
	rec := newRecorder()
	w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Concurrency: 1, Lease: 200 * time.Millisecond, Backoff: keyq.ImmediateBackoff})
	w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) { return "ok", nil })
	// With one slot, the loop waits for it while the handler runs, and the
	// handler's ack rides on the fetch that follows: a full batch marked nothing
	// empty.
	id := mustEnqueue(t, e.client, q, "a")
	start(t, w)
	if d := rec.next(t); d.o != keyq.OutcomeError || d.task.ID != id {
		t.Fatalf("outcome of %s: %s (%v); want %s OutcomeError", d.task.ID, d.o, d.err, id)
	}
	if d := rec.expect(t, keyq.OutcomeFinished); d.task.ID != id || d.task.Attempt != 1 {
		t.Fatalf("then %s finished at attempt %d, want %s at attempt 1", d.task.ID, d.task.Attempt, id)
	}
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.exchanges < 2 || spy.settled[id] != 1 {
		t.Fatalf("%d Exchange calls, the ack sent %d times; want 2 or more, and the second ack sent once", spy.exchanges, spy.settled[id])
	}
}
