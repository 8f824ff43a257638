package keyqtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
)

// opTimeout bounds each call to the store, and waitLimit a whole helper: they only
// catch a hang.
const (
	opTimeout = time.Minute
	waitLimit = 5 * time.Minute
)

// Result is what became of one delivery of a task.
type Result struct {
	Task    keyq.Task
	Outcome keyq.Outcome // as the Worker reports it: finished, failed, retried, dead, cancelled ...
	Err     error        // the handler's error, or the store's, as the Worker reports it
	// Answer is the answer stored under the task's key once the helper returned,
	// nil when there is none (a retried task, or one acked without an answer).
	Answer *keyq.Answer
	// Status is the task's job status once the helper returned; empty when the
	// client keeps no job records.
	Status keyq.JobStatus
}

// WorkOne runs h on the task at the head of queue, through a Worker as the
// application would run it (its answer stored, a failure retried or failed,
// a panic caught), waits until the Worker is done with it, and returns what
// became of it. h handles the task whatever its type. opts configure the
// Worker; WorkerQueues, WorkerConcurrency and WorkerBatch are the helper's. An
// empty queue fails tb.
func WorkOne(tb testing.TB, c *keyq.Client, queue string, h keyq.Handler, opts ...keyq.WorkerOption) Result {
	tb.Helper()
	head := RequireEnqueued(tb, c, queue, nil)
	if head == nil {
		return Result{}
	}
	var once sync.Once
	rs := work(tb, c, queue, func(w *keyq.Worker, stop func()) {
		w.Handle(head.Type, keyq.HandlerFunc(func(ctx context.Context, t *keyq.Task) (any, error) {
			defer once.Do(stop) // take no other task
			return h.Handle(ctx, t)
		}))
	}, nil, append(opts, keyq.WorkerConfig{Concurrency: 1, Batch: 1}))
	for _, r := range rs {
		if r.Outcome != keyq.OutcomeReturned { // a task taken after the stop, handed back unstarted
			return r
		}
	}
	tb.Fatalf("keyqtest: WorkOne: the worker ended no delivery of task %s; outcomes: %v", head.ID, rs)
	return Result{}
}

// Drain runs a Worker on queue until no task waits there or is leased, and
// returns what became of each delivery, in the order they ended. register
// registers the handlers on the Worker (and may add middleware); opts configure
// it, after the helper's WorkerQueues(queue). Tasks that handlers enqueue into
// queue are drained too. Delayed tasks, such as retried ones waiting out their
// backoff, are left: move the test's clock past the delay and drain again.
func Drain(tb testing.TB, c *keyq.Client, queue string, register func(*keyq.Worker), opts ...keyq.WorkerOption) []Result {
	tb.Helper()
	if empty(tb, c, queue) {
		return nil
	}
	return work(tb, c, queue, func(w *keyq.Worker, _ func()) { register(w) }, func() bool { return empty(tb, c, queue) }, opts)
}

// empty reports whether no task waits in queue or is leased.
func empty(tb testing.TB, c *keyq.Client, queue string) bool {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	st, err := c.Stats(ctx, queue)
	if err != nil {
		tb.Errorf("keyqtest: %v", err)
		return true
	}
	qs := st.Queues[queue]
	return qs.Waiting == 0 && qs.Leased == 0
}

// work runs a Worker on queue, set up by setup, which gets the function that
// stops it. After each delivery ends it asks done, when given, and stops the
// worker once done says so. It returns the deliveries that ended, with their
// answers and job statuses once the worker stopped.
func work(tb testing.TB, c *keyq.Client, queue string, setup func(w *keyq.Worker, stop func()), done func() bool, opts []keyq.WorkerOption) []Result {
	tb.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var (
		mu     sync.Mutex
		rs     []Result
		signal = make(chan struct{}, 1)
	)
	opts = append([]keyq.WorkerOption{keyq.WorkerConfig{Queues: []string{queue}}}, opts...)
	opts = append(opts, keyq.WorkerAddOnDone(func(t *keyq.Task, o keyq.Outcome, err error) {
		mu.Lock()
		rs = append(rs, Result{Task: *t, Outcome: o, Err: err})
		mu.Unlock()
		select {
		case signal <- struct{}{}:
		default:
		}
	}))
	w, err := keyq.NewWorker(c, opts...)
	if err != nil {
		tb.Fatalf("keyqtest: %v", err)
		return nil
	}
	setup(w, stop)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	for running := true; running; {
		select {
		case <-signal:
			if done != nil && done() {
				stop()
			}
		case err := <-ran:
			running = false
			if err != nil {
				tb.Errorf("keyqtest: the worker stopped: %v", err)
			}
		case <-limit.C:
			stop()
			mu.Lock()
			n := len(rs)
			mu.Unlock()
			tb.Errorf("keyqtest: the worker did not finish within %v (%d deliveries ended); stopping it", waitLimit, n)
			limit.Reset(waitLimit)
		}
	}
	actx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	for i := range rs {
		r := &rs[i]
		if a, err := c.Answer(actx, r.Task.Key); err == nil {
			r.Answer = &a
		} else if !errors.Is(err, keyq.ErrNotFound) {
			tb.Errorf("keyqtest: reading the answer of %q: %v", r.Task.Key, err)
		}
		if j, err := c.Job(actx, r.Task.ID); err == nil {
			r.Status = j.Status
		}
	}
	return rs
}
