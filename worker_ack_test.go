package keyq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// ackSpy wraps a namespace handle: it records the settle calls, and can hold them
// at a gate, fail one, or end a lease itself inside one.
type ackSpy struct {
	nsParts
	gate chan struct{} // when not nil, Settle calls wait until it is closed

	mu          sync.Mutex
	batches     [][]string // the task IDs of each Settle call, in the order they came
	inFlight    int        // Settle calls in progress
	maxInFlight int
	held        int      // settlements in the calls that wait at the gate
	fail        error    // when set, the next Settle call fails with it and settles nothing
	failed      []string // the task IDs of that call
	steal       bool     // when set, the next call of two items or more ends its last lease first
	stolen      string   // the task ID of that lease
}

func (s *ackSpy) Settle(ctx context.Context, p backend.SettleParams) ([]backend.SettleResult, error) {
	ids := make([]string, len(p.Items))
	for i := range p.Items {
		ids[i] = p.Items[i].TaskID
	}
	s.mu.Lock()
	s.batches = append(s.batches, ids)
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	if s.gate != nil {
		s.held += len(ids)
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
		s.held -= len(ids)
		s.mu.Unlock()
	}
	s.mu.Lock()
	fail, steal := s.fail, s.steal && len(ids) > 1
	s.fail = nil
	if fail != nil {
		s.failed = ids
	}
	if steal {
		s.steal, s.stolen = false, ids[len(ids)-1]
	}
	s.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	if steal {
		// Someone else ends the lease between the worker's handler and its ack.
		it := p.Items[len(p.Items)-1]
		it.Answer = &backend.Answer{Value: []byte(`"other"`), OK: true, TTL: time.Hour}
		it.Status, it.Error = "", ""
		if _, err := s.Namespace.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{it}}); err != nil {
			return nil, err
		}
	}
	return s.Namespace.Settle(ctx, p)
}

// calls returns a copy of the batches.
func (s *ackSpy) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

func (s *ackSpy) heldAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// spyEnv is bf's env with its client on an ackSpy; gated spies hold every batch
// ack until the test closes spy.gate.
func spyEnv(t *testing.T, bf backendFactory, gated bool) (env, *ackSpy) {
	t.Helper()
	e := bf.new(t, false, keyq.Queues(q))
	spy := &ackSpy{}
	if gated {
		spy.gate = make(chan struct{})
	}
	e.client = wrapClient(t, e, namespace(t), func(h backend.Namespace) backend.Namespace {
		spy.nsParts = partsOf(h)
		return spy
	}, keyq.Queues(q))
	return e, spy
}

// waitUntil polls cond until it holds. The states it waits for (acks queued inside
// the worker) send no event.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, waitFor)
		}
		<-time.After(time.Millisecond)
	}
}

// waitAllHeld waits until n acks are queued in w or held at spy's gate: every
// handler has finished and asked for its ack.
func waitAllHeld(t *testing.T, w *keyq.Worker, spy *ackSpy, n int) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%d acks waiting", n), func() bool { return spy.heldAcks()+w.QueuedAcks() == n })
}

// enqueueN enqueues tasks with payloads p0, p1, ... and returns their IDs.
func enqueueN(t *testing.T, c *keyq.Client, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = mustEnqueue(t, c, q, fmt.Sprint("p", i))
	}
	return ids
}

// expectAnswer checks the success answer stored for key.
func expectAnswer(t *testing.T, c *keyq.Client, key, want string) {
	t.Helper()
	a, err := c.Answer(context.Background(), key)
	if err != nil {
		t.Fatalf("answer of %s: %v", key, err)
	}
	var got string
	if err := a.Decode(&got); err != nil || !a.OK || got != want {
		t.Fatalf("answer of %s = %s ok=%v (%v), want %q", key, a.Value, a.OK, err, want)
	}
}

// gated makes a worker on e's client with n handler slots, a batch of n and then
// opts, whose handler signals its start and waits for release before it runs h.
// It enqueues n tasks (payloads p0, p1, ...), starts the worker, and returns once
// all n handlers have started, with the task IDs and release, which lets every
// handler go on.
func gated(t *testing.T, e env, rec *recorder, n int, h keyq.HandlerFunc, opts ...keyq.WorkerOption) (w *keyq.Worker, ids []string, release func()) {
	t.Helper()
	w = mustWorker(t, e.client, append([]keyq.WorkerOption{rec.option(), keyq.WorkerConfig{Clock: e.wclock, Concurrency: n, Batch: n}}, opts...)...)
	started, gate := make(chan struct{}, n), make(chan struct{})
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		started <- struct{}{}
		<-gate
		return h(ctx, task)
	})
	ids = enqueueN(t, e.client, n)
	start(t, w)
	for range n {
		recv(t, started, "handler start")
	}
	return w, ids, func() { close(gate) }
}

// echo answers "a-" and the payload.
func echo(_ context.Context, task *keyq.Task) (any, error) { return "a-" + string(task.Payload), nil }

// TestWorkerAckBatches checks that handlers that finish together are acked in
// fewer calls than tasks, with at most the set number of calls in flight, each task
// once and with its answer; that a lone ack goes out alone without waiting; and
// that SettleCalls -1 acks each task in a call of its own.
func TestWorkerAckBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		t.Run("handlers that finish together", func(t *testing.T) {
			const n = 8
			e, spy := spyEnv(t, bf, true)
			rec := newRecorder()
			w, ids, release := gated(t, e, rec, n, echo)
			release()
			waitAllHeld(t, w, spy, n)
			close(spy.gate)
			for range n {
				rec.expect(t, keyq.OutcomeFinished)
			}
			batches := spy.calls()
			if len(batches) >= n {
				t.Fatalf("%d settle calls %v for %d tasks, want fewer than the tasks", len(batches), batches, n)
			}
			if got := slices.Sorted(slices.Values(slices.Concat(batches...))); !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
				t.Fatalf("acked tasks %v, want each of %v once", got, ids)
			}
			if spy.maxInFlight > keyq.DefaultWorkerSettleCalls {
				t.Fatalf("%d batch calls in flight at once, want at most %d", spy.maxInFlight, keyq.DefaultWorkerSettleCalls)
			}
			for i := range n {
				expectAnswer(t, e.client, fmt.Sprint("p", i), fmt.Sprint("a-p", i))
			}
			st, err := e.client.Stats(context.Background())
			if err != nil || st.Counters.Acked != n {
				t.Fatalf("counters %+v, %v; want %d acks", st.Counters, err, n)
			}
			if ws := w.Stats(); ws.Processed != n || ws.InFlight != 0 {
				t.Fatalf("worker stats %+v, want %d processed, none in flight", ws, n)
			}
		})

		t.Run("a lone ack goes out alone", func(t *testing.T) {
			e, spy := spyEnv(t, bf, false)
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Concurrency: 4})
			w.HandleFunc("", echo)
			id := mustEnqueue(t, e.client, q, "one")
			start(t, w)
			rec.expect(t, keyq.OutcomeFinished) // the worker's clock never moves
			if batches := spy.calls(); len(batches) != 1 || !slices.Equal(batches[0], []string{id}) {
				t.Fatalf("settle calls %v; want one of %s", batches, id)
			}
			expectAnswer(t, e.client, "one", "a-one")
		})

		t.Run("off", func(t *testing.T) {
			const n = 4
			e, spy := spyEnv(t, bf, false)
			rec := newRecorder()
			_, _, release := gated(t, e, rec, n, echo, keyq.WorkerConfig{SettleCalls: -1})
			release()
			for range n {
				rec.expect(t, keyq.OutcomeFinished)
			}
			batches := spy.calls()
			if len(batches) != n || slices.ContainsFunc(batches, func(b []string) bool { return len(b) != 1 }) {
				t.Fatalf("settle calls %v; want %d of one task each", batches, n)
			}
		})
	})
}

// TestWorkerAckBatchAnswerInvalid checks that a result that does not encode, among
// results acked together, makes its task a final failure with an error answer,
// and the others finish.
func TestWorkerAckBatchAnswerInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		const n = 4
		e, spy := spyEnv(t, bf, true)
		rec := newRecorder()
		w, ids, release := gated(t, e, rec, n, func(ctx context.Context, task *keyq.Task) (any, error) {
			if string(task.Payload) == "p1" {
				return json.RawMessage("{not json"), nil
			}
			return echo(ctx, task)
		})
		release()
		waitAllHeld(t, w, spy, n) // the bad result's error answer among them
		close(spy.gate)
		for range n {
			d := rec.next(t)
			switch {
			case d.task.ID == ids[1]:
				if d.o != keyq.OutcomeFailed || !errors.Is(d.err, keyq.ErrInvalid) || !keyq.IsFinal(d.err) {
					t.Fatalf("the bad result's task: %s (%v), want failed with a final ErrInvalid", d.o, d.err)
				}
			case d.o != keyq.OutcomeFinished:
				t.Fatalf("task %s: %s (%v), want finished", d.task.ID, d.o, d.err)
			}
		}
		j := mustJob(t, e.client, ids[1])
		if j.Status != keyq.StatusFailed || !strings.Contains(j.LastError, "not valid JSON") {
			t.Fatalf("job of the bad result %+v, want failed, naming the invalid JSON", j)
		}
		a, err := e.client.Answer(context.Background(), "p1")
		var fa keyq.FailureAnswer
		if err != nil || a.OK || a.Decode(&fa) != nil || fa.Error != j.LastError {
			t.Fatalf("answer of the bad result %s ok=%v (%v), want the error answer %q", a.Value, a.OK, err, j.LastError)
		}
		for _, i := range []int{0, 2, 3} {
			expectAnswer(t, e.client, fmt.Sprint("p", i), fmt.Sprint("a-p", i))
		}
		if batches := spy.calls(); len(slices.Concat(batches...)) != n {
			t.Fatalf("settle calls %v; want %d settlements", batches, n)
		}
		if ws := w.Stats(); ws.Processed != n-1 || ws.Failed != 1 {
			t.Fatalf("worker stats %+v, want %d processed, 1 failed", ws, n-1)
		}
	})
}

// TestWorkerAckBatchFails checks that when a batch ack fails as a whole, each of
// its tasks settles as OutcomeError, and their leases expire and bring them back,
// so that in the end every task is acked once with its answer.
func TestWorkerAckBatchFails(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		const n = 4
		e, spy := spyEnv(t, bf, false)
		spy.fail = fmt.Errorf("%w: connection reset", backend.ErrUnavailable)
		rec := newRecorder()
		lease, wclock := 30*time.Second, clock.Clock(e.wclock)
		if e.redis {
			// The lease runs on the server's clock: a short one, kept alive while the
			// handlers run by a keeper on the real clock.
			lease, wclock = time.Second, clock.Real()
		}
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: wclock, Concurrency: n, Batch: n},
			keyq.WorkerConfig{Lease: lease, PollWait: 50 * time.Millisecond})
		w.HandleFunc("", echo)
		enqueueN(t, e.client, n)
		start(t, w)
		errored := map[string]bool{}
		for range n {
			d := rec.next(t)
			switch d.o {
			case keyq.OutcomeError:
				if !errors.Is(d.err, keyq.ErrUnavailable) {
					t.Fatalf("task %s: error %v, want ErrUnavailable", d.task.ID, d.err)
				}
				errored[d.task.ID] = true
			case keyq.OutcomeFinished:
			default:
				t.Fatalf("task %s: %s (%v), want error or finished", d.task.ID, d.o, d.err)
			}
		}
		spy.mu.Lock()
		failed := slices.Clone(spy.failed)
		spy.mu.Unlock()
		if len(failed) == 0 || len(errored) != len(failed) {
			t.Fatalf("tasks settled with an error %v, want those of the failed call %v", errored, failed)
		}
		for _, id := range failed {
			if !errored[id] {
				t.Fatalf("task %s of the failed call %v did not settle with an error", id, failed)
			}
		}
		if e.bclock != nil {
			e.bclock.Advance(lease + time.Second)
		}
		for range failed { // back once their leases expired
			d := rec.expect(t, keyq.OutcomeFinished)
			if !errored[d.task.ID] || d.task.Attempt != 1 {
				t.Fatalf("then finished %s attempt %d, want one of %v on attempt 1", d.task.ID, d.task.Attempt, failed)
			}
		}
		for i := range n {
			expectAnswer(t, e.client, fmt.Sprint("p", i), fmt.Sprint("a-p", i))
		}
		st, err := e.client.Stats(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if qs := st.Queues[q]; qs.Waiting+qs.Leased+qs.Delayed+qs.Dead != 0 || st.Counters.Acked != n || st.Counters.Reclaimed != int64(len(failed)) {
			t.Fatalf("queue %+v, counters %+v; want it empty, %d acks, %d reclaimed", qs, st.Counters, n, len(failed))
		}
		if ws := w.Stats(); ws.Errors != int64(len(failed)) || ws.Processed != n {
			t.Fatalf("worker stats %+v, want %d errors, %d processed", ws, len(failed), n)
		}
	})
}

// TestWorkerAckBatchLeaseLost checks that a lease lost inside a batch makes that
// task OutcomeLost and leaves the others finished.
func TestWorkerAckBatchLeaseLost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		const n = 8
		e, spy := spyEnv(t, bf, true)
		spy.steal = true
		rec := newRecorder()
		w, _, release := gated(t, e, rec, n, echo)
		release()
		// With every ack held, the gate lets at least one batch of two or more go.
		waitAllHeld(t, w, spy, n)
		close(spy.gate)
		var lost []keyq.Task
		for range n {
			d := rec.next(t)
			switch d.o {
			case keyq.OutcomeLost:
				if !errors.Is(d.err, keyq.ErrLeaseLost) {
					t.Fatalf("lost with %v, want ErrLeaseLost", d.err)
				}
				lost = append(lost, d.task)
			case keyq.OutcomeFinished:
				expectAnswer(t, e.client, string(d.task.Payload), "a-"+string(d.task.Payload))
			default:
				t.Fatalf("task %s: %s (%v), want finished or lost", d.task.ID, d.o, d.err)
			}
		}
		spy.mu.Lock()
		stolen := spy.stolen
		spy.mu.Unlock()
		if stolen == "" {
			t.Fatal("no batch of two acks or more came: no lease ended inside a batch")
		}
		if len(lost) != 1 || lost[0].ID != stolen {
			t.Fatalf("lost %v, want only %s, whose lease ended inside a batch", lost, stolen)
		}
		expectAnswer(t, e.client, string(lost[0].Payload), "other")
		if ws := w.Stats(); ws.Lost != 1 || ws.Processed != n-1 {
			t.Fatalf("worker stats %+v, want 1 lost, %d processed", ws, n-1)
		}
	})
}

// TestWorkerAckBatchShutdown checks that acks in flight when the worker stops go
// through, whether Shutdown waits, Shutdown's context ends, or Run's context is
// cancelled; and that no goroutine of the worker outlives Run.
func TestWorkerAckBatchShutdown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		for _, how := range []string{"shutdown", "shutdown out of time", "run context cancelled"} {
			t.Run(how, func(t *testing.T) {
				const n = 4
				e, spy := spyEnv(t, bf, true)
				rec := newRecorder()
				w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Concurrency: n, Batch: n})
				w.HandleFunc("", echo)
				enqueueN(t, e.client, n)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ran := make(chan error, 1)
				go func() { ran <- w.Run(ctx) }()
				waitAllHeld(t, w, spy, n)

				stopped := make(chan error, 1)
				switch how {
				case "shutdown":
					go func() { stopped <- w.Shutdown(context.Background()) }()
					recv(t, w.StopRequested(), "stop request")
				case "shutdown out of time":
					sctx, scancel := context.WithCancel(context.Background())
					scancel()
					go func() { stopped <- w.Shutdown(sctx) }()
					recv(t, w.StopRequested(), "stop request")
				case "run context cancelled":
					cancel()
				}
				// Every handler has returned; Run waits for the acks alone.
				recv(t, w.AckEnd(), "Run waiting for the last acks")
				select {
				case err := <-ran:
					t.Fatalf("Run returned %v with acks in flight", err)
				default:
				}
				close(spy.gate)
				if err := recv(t, ran, "Run return"); err != nil {
					t.Fatalf("Run = %v", err)
				}
				switch how {
				case "shutdown":
					if err := recv(t, stopped, "Shutdown"); err != nil {
						t.Fatalf("Shutdown = %v", err)
					}
				case "shutdown out of time":
					if err := recv(t, stopped, "Shutdown"); !errors.Is(err, context.Canceled) {
						t.Fatalf("Shutdown = %v, want context.Canceled", err)
					}
				}
				for range n {
					rec.expect(t, keyq.OutcomeFinished)
				}
				for i := range n {
					expectAnswer(t, e.client, fmt.Sprint("p", i), fmt.Sprint("a-p", i))
				}
				waitUntil(t, "the worker's goroutines to exit", func() bool { return !workerGoroutines() })
			})
		}
	})
}

// workerGoroutines reports whether a goroutine runs code of the worker.
func workerGoroutines() bool {
	var b strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2) // every goroutine's whole stack, as runtime.Stack(buf, true)
	s := b.String()
	return strings.Contains(s, "keyq.(*Worker)") || strings.Contains(s, "keyq.(*settler)") || strings.Contains(s, "keyq.(*keeper)")
}

// TestWorkerSettleCallsInvalid checks that more settle calls than the maximum are
// refused.
func TestWorkerSettleCallsInvalid(t *testing.T) {
	e := newMemoryEnv(t, true)
	if _, err := keyq.NewWorker(e.client, keyq.WorkerConfig{SettleCalls: keyq.MaxWorkerSettleCalls + 1}); !errors.Is(err, keyq.ErrInvalid) {
		t.Fatalf("NewWorker = %v, want ErrInvalid", err)
	}
}
