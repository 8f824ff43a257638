package keyq_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// blocker is a handler that reports its start, then waits for its context's
// end and reports its cause; it returns a result, which must not be stored.
type blocker struct {
	started chan *keyq.Task
	cause   chan error
}

func newBlocker() *blocker {
	return &blocker{started: make(chan *keyq.Task, 10), cause: make(chan error, 10)}
}

func (b *blocker) Handle(ctx context.Context, t *keyq.Task) (any, error) {
	b.started <- t
	<-ctx.Done()
	b.cause <- context.Cause(ctx)
	return "answer of a cancelled task", nil
}

// warnings is a Logger for a worker that keeps what it logs at warn level and
// above.
type warnings struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *warnings) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *warnings) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// wantCancelledEnd checks what is left of a task cancelled while it ran: its
// outcome, no answer, the job status cancelled, nothing to deliver even after
// its lease's time has passed, and the worker's totals.
func wantCancelledEnd(t *testing.T, e env, w *keyq.Worker, warns *warnings, rec *recorder, id, key string, lease time.Duration) {
	t.Helper()
	ctx := context.Background()
	d := rec.expect(t, keyq.OutcomeCancelled)
	if d.task.ID != id || !errors.Is(d.err, keyq.ErrCancelled) || errors.Is(d.err, keyq.ErrLeaseLost) {
		t.Fatalf("outcome of task %s: error %v, want one matching ErrCancelled for task %s, not ErrLeaseLost", d.task.ID, d.err, id)
	}
	if _, err := e.client.Answer(ctx, key); !errors.Is(err, keyq.ErrNotFound) {
		t.Fatalf("the answer of a cancelled task: %v, want ErrNotFound: the handler's result is not stored", err)
	}
	if j := mustJob(t, e.client, id); j.Status != keyq.StatusCancelled || j.EndedAt.IsZero() {
		t.Fatalf("job of the cancelled task: %+v, want status cancelled with EndedAt", j)
	}
	e.bclock.Advance(2 * lease)
	st, err := e.client.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if q := st.Queues[keyq.DefaultQueue]; q.Waiting+q.Leased+q.Delayed+q.Dead != 0 || st.Counters.Cancelled != 1 || st.Counters.Reclaimed != 0 {
		t.Fatalf("after the lease's time: stats %+v, want an empty queue, Cancelled 1, nothing reclaimed", st)
	}
	if logged := warns.String(); logged != "" {
		t.Fatalf("the worker logged a cancel as a warning or an error:\n%s", logged)
	}
	ws := w.Stats()
	if ws.Cancelled != 1 || ws.Lost != 0 || ws.Retried != 0 || ws.Processed != 0 || ws.Errors != 0 {
		t.Fatalf("worker stats %+v, want one cancelled and nothing else", ws)
	}
}

// TestWorkerCancelNotify (S12.4): a task cancelled while its handler runs has
// the handler's context cancelled with the cause ErrCancelled through the
// driver's Notify, with the worker's clock standing still, so no heartbeat can
// have told it. The worker stores no answer, retries nothing and reports
// OutcomeCancelled; the task never comes back.
func TestWorkerCancelNotify(t *testing.T) {
	e := newMemoryEnv(t, false)
	const lease = 30 * time.Second
	rec, warns := newRecorder(), &warnings{}
	w := mustWorker(t, e.client, keyq.WorkerConfig{Clock: e.wclock, Lease: lease, PollWait: time.Hour, Logger: warns.logger()}, rec.option())
	h := newBlocker()
	w.Handle("", h)
	id := mustEnqueue(t, e.client, keyq.DefaultQueue, "x")
	start(t, w)
	recv(t, h.started, "the handler's start")
	r, err := e.client.Cancel(bounded(t), id)
	if err != nil || r != keyq.CancelRunning {
		t.Fatalf("Cancel of a running task: %v, %v; want CancelRunning", r, err)
	}
	if cause := recv(t, h.cause, "the handler's context's end after Cancel, with the worker's clock still"); !errors.Is(cause, keyq.ErrCancelled) {
		t.Fatalf("handler context cause %v, want ErrCancelled", cause)
	}
	wantCancelledEnd(t, e, w, warns, rec, id, "x", lease)
}

// noNotifyNS is a namespace handle without Notifier: a cancel reaches a worker
// only through its heartbeat.
type noNotifyNS struct {
	backend.Namespace
	backend.Inspector
	backend.Admin
	backend.Controller
}

func noNotifier(h backend.Namespace) backend.Namespace {
	p := partsOf(h)
	ctl, _ := h.(backend.Controller)
	return noNotifyNS{p.Namespace, p.Inspector, p.Admin, ctl}
}

// TestWorkerCancelHeartbeat (S12.4): without a Notifier, the worker learns of
// the cancel at its next lease extension, which reports the lease cancelled,
// and ends the handler with the cause ErrCancelled, as through Notify.
func TestWorkerCancelHeartbeat(t *testing.T) {
	e := newMemoryEnv(t, false)
	const lease = 30 * time.Second
	c := wrapClient(t, e, e.client.Namespace(), noNotifier)
	rec, warns := newRecorder(), &warnings{}
	w := mustWorker(t, c, keyq.WorkerConfig{Clock: e.wclock, Lease: lease, PollWait: time.Hour, Logger: warns.logger()}, rec.option())
	h := newBlocker()
	w.Handle("", h)
	id := mustEnqueue(t, e.client, keyq.DefaultQueue, "x")
	start(t, w)
	recv(t, h.started, "the handler's start")
	waitTimers(t, e.wclock, 1) // the heartbeat's
	if r, err := c.Cancel(bounded(t), id); err != nil || r != keyq.CancelRunning {
		t.Fatalf("Cancel of a running task: %v, %v; want CancelRunning", r, err)
	}
	select {
	case cause := <-h.cause:
		t.Fatalf("the handler ended (%v) before any heartbeat, on a driver without Notifier", cause)
	default:
	}
	e.wclock.Advance(lease / 3)
	if cause := recv(t, h.cause, "the handler's context's end at the heartbeat after Cancel"); !errors.Is(cause, keyq.ErrCancelled) {
		t.Fatalf("handler context cause %v, want ErrCancelled", cause)
	}
	wantCancelledEnd(t, e, w, warns, rec, id, "x", lease)
}

// TestWorkerCancelUnstarted (S12.4): a task cancelled while the worker holds
// its lease but has not started it (a batch ahead of the free slots) is never
// started, and ends OutcomeCancelled; the task before it is not disturbed.
func TestWorkerCancelUnstarted(t *testing.T) {
	e := newMemoryEnv(t, false)
	rec := newRecorder()
	w := mustWorker(t, e.client, keyq.WorkerConfig{Clock: e.wclock, Concurrency: 1, Batch: 2, PollWait: time.Hour}, rec.option())
	started := make(chan string, 2)
	release := make(chan struct{})
	w.HandleFunc("", func(ctx context.Context, t *keyq.Task) (any, error) {
		started <- string(t.Payload)
		<-release
		return "ok", ctx.Err()
	})
	mustEnqueue(t, e.client, keyq.DefaultQueue, "first")
	second := mustEnqueue(t, e.client, keyq.DefaultQueue, "second")
	start(t, w)
	if p := recv(t, started, "the first handler's start"); p != "first" {
		t.Fatalf("started %q, want first", p)
	}
	if r, err := e.client.Cancel(bounded(t), second); err != nil || r != keyq.CancelRunning {
		t.Fatalf("Cancel of a leased, unstarted task: %v, %v; want CancelRunning", r, err)
	}
	close(release)
	outcomes := map[string]keyq.Outcome{}
	for range 2 {
		d := rec.next(t)
		outcomes[string(d.task.Payload)] = d.o
	}
	if outcomes["first"] != keyq.OutcomeFinished || outcomes["second"] != keyq.OutcomeCancelled {
		t.Fatalf("outcomes %v, want first finished and second cancelled", outcomes)
	}
	select {
	case p := <-started:
		t.Fatalf("the handler started %q after its task was cancelled", p)
	default:
	}
	if j := mustJob(t, e.client, second); j.Status != keyq.StatusCancelled {
		t.Fatalf("job of the cancelled task: %+v, want status cancelled", j)
	}
}

// TestCancelWaitingTask (S12.2, S12.3): Cancel and Delete remove a waiting or a
// delayed task before any worker sees it; Delete of a leased task is ErrLeased
// and changes nothing; either of a task that is gone is ErrNotFound.
func TestCancelWaitingTask(t *testing.T) {
	e := newMemoryEnv(t, false)
	ctx := bounded(t)
	c := e.client
	waiting := mustEnqueue(t, c, keyq.DefaultQueue, "waiting")
	delayed := mustEnqueue(t, c, keyq.DefaultQueue, "delayed", keyq.Delay(time.Minute))
	later := mustEnqueue(t, c, keyq.DefaultQueue, "later", keyq.Delay(2*time.Minute))
	kept := mustEnqueue(t, c, keyq.DefaultQueue, "kept")
	if r, err := c.Cancel(ctx, waiting); err != nil || r != keyq.CancelRemoved {
		t.Fatalf("Cancel of a waiting task: %v, %v; want CancelRemoved", r, err)
	}
	if err := c.Delete(ctx, delayed); err != nil {
		t.Fatalf("Delete of a delayed task: %v", err)
	}
	if ds, err := c.Delayed(ctx, "", 0, 10); err != nil || len(ds) != 1 || ds[0].ID != later || !ds[0].Due.Equal(epoch.Add(2*time.Minute)) {
		t.Fatalf("Delayed after the delete: %+v, %v; want only %s, due at %v", ds, err, later, epoch.Add(2*time.Minute))
	}
	for _, id := range []string{waiting, delayed} {
		if j := mustJob(t, c, id); j.Status != keyq.StatusCancelled {
			t.Fatalf("job of removed task %s: %+v, want status cancelled", id, j)
		}
		if err := c.Delete(ctx, id); !errors.Is(err, keyq.ErrNotFound) {
			t.Fatalf("second Delete of %s: %v, want ErrNotFound", id, err)
		}
		if _, err := c.Cancel(ctx, id); !errors.Is(err, keyq.ErrNotFound) {
			t.Fatalf("Cancel of removed %s: %v, want ErrNotFound", id, err)
		}
	}

	rec := newRecorder()
	w := mustWorker(t, c, keyq.WorkerConfig{Clock: e.wclock, PollWait: time.Hour}, rec.option())
	var seen []string
	w.HandleFunc("", func(_ context.Context, t *keyq.Task) (any, error) {
		seen = append(seen, string(t.Payload)) // one handler at a time
		return nil, nil
	})
	start(t, w)
	if d := rec.expect(t, keyq.OutcomeFinished); d.task.ID != kept {
		t.Fatalf("the worker finished %q, want kept", d.task.Payload)
	}
	e.bclock.Advance(3 * time.Minute)
	if d := rec.expect(t, keyq.OutcomeFinished); d.task.ID != later {
		t.Fatalf("the worker finished %q, want later", d.task.Payload)
	}
	if len(seen) != 2 {
		t.Fatalf("the handler saw %q, want kept and later only", seen)
	}

	// A leased task: Delete refuses it and leaves the lease alone.
	id := mustEnqueue(t, c, "other", "leased")
	l, err := c.Next(ctx, keyq.Queues("other"))
	if err != nil || l == nil || l.ID != id {
		t.Fatalf("Next: %v, %v", l, err)
	}
	if err := c.Delete(ctx, id); !errors.Is(err, keyq.ErrLeased) {
		t.Fatalf("Delete of a leased task: %v, want ErrLeased", err)
	}
	if err := c.Ack(ctx, l); err != nil {
		t.Fatalf("Ack after a refused Delete: %v", err)
	}
	if err := c.Delete(ctx, id); !errors.Is(err, keyq.ErrNotFound) {
		t.Fatalf("Delete of an acked task: %v, want ErrNotFound", err)
	}
	if st, err := c.Stats(ctx); err != nil || st.Counters.Cancelled != 2 {
		t.Fatalf("Stats: %+v, %v; want Cancelled 2", st.Counters, err)
	}
}

// badController answers every Cancel with res, as a broken driver might.
type badController struct {
	nsParts
	res backend.CancelResult
}

func (b badController) Cancel(context.Context, backend.CancelParams) (backend.CancelResult, error) {
	return b.res, nil
}

func (badController) Pause(context.Context, backend.PauseParams) error { return nil }

// TestCancelMalformedReply: a Cancel answer that breaks the contract (no
// result, or a running task ended by a Delete) is an error, never a result.
func TestCancelMalformedReply(t *testing.T) {
	e := newMemoryEnv(t, false)
	for _, res := range []backend.CancelResult{0, 9} {
		c := wrapClient(t, e, e.client.Namespace(), func(h backend.Namespace) backend.Namespace { return badController{partsOf(h), res} })
		if r, err := c.Cancel(bounded(t), "1"); err == nil || !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Cancel answered %v: %v, %v; want a malformed-reply error", res, r, err)
		}
	}
	c := wrapClient(t, e, e.client.Namespace(), func(h backend.Namespace) backend.Namespace {
		return badController{partsOf(h), backend.CancelRunning}
	})
	if err := c.Delete(bounded(t), "1"); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("Delete answered CancelRunning: %v; want a malformed-reply error", err)
	}
	if r, err := c.Cancel(bounded(t), "1"); err != nil || r != keyq.CancelRunning {
		t.Errorf("Cancel answered CancelRunning: %v, %v", r, err)
	}
}
