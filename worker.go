package keyq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq/backend"
)

// Handler runs tasks of one type. Its result is stored, encoded as JSON, as the
// task's answer (a json.RawMessage is stored as it is). An error wrapped with Final
// is a business failure that is answered and not retried; any other error, a panic,
// or running over the worker's timeout is transient and retried (see Worker).
//
// The context is cancelled when the handler runs over its timeout (cause
// ErrTaskTimeout) or its task's deadline (cause ErrTaskDeadline), when its lease is lost (cause ErrLeaseLost), when its task is
// cancelled by ID (cause ErrCancelled, see Client.Cancel), or when a shutdown
// runs out of time (cause ErrShutdown); context.Cause tells which. A handler that
// returns after its lease was lost is not acked: the task belongs to someone else.
// One that returns after its task was cancelled is not acked either: the task has
// ended, and its result is dropped.
type Handler interface {
	Handle(ctx context.Context, t *Task) (any, error)
}

// HandlerFunc makes a function a Handler.
type HandlerFunc func(ctx context.Context, t *Task) (any, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, t *Task) (any, error) { return f(ctx, t) }

// Errors a Worker gives its handlers' contexts as causes and records as last errors.
var (
	// ErrTaskTimeout is the cause of a handler context that ran over the worker's
	// timeout. Its text, "timeout", is the job record's last error.
	ErrTaskTimeout = errors.New("timeout")
	// ErrTaskDeadline is the cause of a handler context still running at its
	// task's deadline (Deadline), and the reason a task taken after it is not
	// started. Its text, "deadline exceeded", is the job record's last error.
	ErrTaskDeadline = errors.New("deadline exceeded")
	// ErrShutdown is the cause of a handler context cancelled because a shutdown ran
	// out of time; its task goes back to the head of its queue with its attempt kept.
	ErrShutdown = errors.New("keyq: worker shut down")
	// ErrNoHandler is the reason a task of a type without a handler is dead-lettered.
	ErrNoHandler = errors.New("keyq: no handler for the task type")
)

// Final marks err as a final business failure: the worker acks the task with an
// error answer (FailureAnswer, kept for the error TTL) and the job status failed,
// instead of retrying it, so repeats of the key are answered from the store until
// the TTL passes. Final(nil) is nil.
//
// Any error that has, somewhere in its errors.As chain, a method Final() bool that
// returns true counts as final too.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &finalError{err}
}

type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }
func (e *finalError) Final() bool   { return true }

// IsFinal reports whether err is a final business failure (see Final).
func IsFinal(err error) bool {
	var f interface{ Final() bool }
	return errors.As(err, &f) && f.Final()
}

// FailureAnswer is the error answer a worker stores for a final failure.
type FailureAnswer struct {
	Error string `json:"error"`
}

// PanicError is the error of a handler that panicked. The worker treats it as a
// transient failure.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("keyq: handler panicked: %v", e.Value) }

// WorkerStats are a worker's running totals. Queue lengths are the backend's: see
// Worker.Backlog.
type WorkerStats struct {
	Processed       int64 // handler succeeded, acked with its answer
	Failed          int64 // final failure, acked with an error answer
	Retried         int64 // transient failure, released for another attempt
	Dead            int64 // dead-lettered: attempts used up, or no handler
	Lost            int64 // lease lost before the result could be acked
	Cancelled       int64 // cancelled by ID while held (Client.Cancel)
	Returned        int64 // handed back unstarted or unfinished, attempt kept
	Errors          int64 // deliveries whose ack or release call failed
	Timeouts        int64 // handlers that ran over the timeout
	Panics          int64 // handlers that panicked
	InFlight        int64 // leases held now, running or waiting to start
	Running         int64 // handlers running now
	Refreshes       int64 // successful calls of the refresh hook
	RefreshFailures int64 // failed calls of the refresh hook
}

// Worker runs handlers for the tasks of a client's queues: it leases tasks (in
// batches, in the queues' priority order), runs up to a set number of handlers at
// once, keeps their leases alive, and acks, retries or dead-letters each task by
// the handler's result. It paces task starts by local and shared rate limits,
// calls a refresh hook when due, and shuts down without losing or double-acking a
// task. Create it with NewWorker, register handlers, then call Run once.
//
// For each delivery the worker:
//   - dead-letters a task whose type has no handler (reason ErrNoHandler);
//   - does not start a task taken at or after its Deadline, and cancels a
//     handler still running at it (cause ErrTaskDeadline): either way it acks the
//     task with the job status timeout and the error answer "deadline
//     exceeded", for good (S7.7);
//   - on success, acks with the handler's result as the answer (job finished);
//   - on a Final error, acks with a FailureAnswer as the error answer (job failed);
//   - on a timeout with WorkerConfig.TimeoutFinal, acks with an error answer (job timeout);
//   - on any other error, a panic or a timeout, releases the task with the error
//     as its last error, to return at the head of its queue once the backoff
//     has passed (DefaultWorkerBackoff: 0.5-1s after the first failure, doubling
//     up to 10 minutes; WorkerConfig.Backoff changes it), while the tasks behind it run;
//     the backend dead-letters it once its attempts are used up (S4.7), and says
//     so, which the worker reports as OutcomeDead;
//   - while it holds the lease, extends it every third of the lease, in one
//     Extend call with every other lease it holds; if the lease is lost anyway,
//     it cancels the handler and acks nothing;
//   - when the task is cancelled by ID (Client.Cancel, from any process), it
//     cancels the handler's context with the cause ErrCancelled, at once when
//     the driver's Notifier carries the cancel, else at the next extension,
//     which reports it, then acks nothing, retries nothing, and reports
//     OutcomeCancelled (S12.4).
//
// A handler's slot is free as soon as it returns; its ack, release or
// dead-letter goes to the backend in the background, in one Settle call with
// those of handlers that finish at about the same time (see WorkerConfig.SettleCalls),
// and each delivery's outcome is the backend's result for it. At the default
// batch, without rate limits, on a driver that implements backend.Exchanger, acks
// go with the next fetch instead, in one call (worker_exchange.go).
//
// Methods are safe for concurrent use.
type Worker struct {
	c       *Client
	cfg     workerConfig
	log     *slog.Logger
	limits  []*limiter
	sem     chan struct{}
	wg      sync.WaitGroup // running handlers
	keep    *keeper        // the heartbeat of every lease held
	settler *settler       // nil: each delivery is settled in a call of its own
	x       *exchanger     // nil: acks do not ride on fetches
	ackEnd  chan struct{}  // closed when Run, stopping, waits for the last settlements

	mu       sync.Mutex
	handlers map[string]Handler
	mw       []func(Handler) Handler
	chain    map[string]Handler
	started  bool
	force    context.CancelCauseFunc
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	// Used by the fetch loop only.
	refreshed   bool
	lastRefresh time.Time

	processed, failed, retried, dead, lost, returned, errs atomic.Int64
	cancelled                                              atomic.Int64
	timeouts, panics, inFlight, running                    atomic.Int64
	refreshes, refreshFails                                atomic.Int64
}

// NewWorker returns a worker for c's namespace. It fails with ErrInvalid on a bad
// option.
func NewWorker(c *Client, opts ...WorkerOption) (*Worker, error) {
	if c == nil {
		return nil, fmt.Errorf("keyq: new worker: %w", invalid("nil client"))
	}
	cfg := workerDefaults(c)
	for _, o := range opts {
		if o == nil {
			return nil, c.wrap("new worker", invalid("nil option"))
		}
		o.applyWorker(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, c.wrap("new worker", err)
	}
	limits := newLimiters(&cfg)
	w := &Worker{
		c:        c,
		cfg:      cfg,
		log:      cfg.logger.With("namespace", c.Namespace()),
		limits:   limits,
		x:        newExchanger(c, &cfg, len(limits) > 0),
		sem:      make(chan struct{}, cfg.concurrency),
		settler:  newSettler(c, &cfg),
		ackEnd:   make(chan struct{}),
		handlers: make(map[string]Handler),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	w.keep = newKeeper(w)
	return w, nil
}

// Handle registers h for tasks of type taskType; the empty type is that of tasks
// enqueued without Type. A later call for the same type replaces h. Call it before
// Run; later calls do not reach a running worker.
func (w *Worker) Handle(taskType string, h Handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handlers[taskType] = h
}

// HandleFunc registers f as the handler of taskType, as Handle does.
func (w *Worker) HandleFunc(taskType string, f func(ctx context.Context, t *Task) (any, error)) {
	w.Handle(taskType, HandlerFunc(f))
}

// checkHandlers refuses a nil handler or middleware, which would panic when
// called. w.mu must be held.
func (w *Worker) checkHandlers() error {
	for typ, h := range w.handlers {
		if f, ok := h.(HandlerFunc); h == nil || (ok && f == nil) {
			return invalid("nil handler for task type %q", typ)
		}
	}
	for _, mw := range w.mw {
		if mw == nil {
			return invalid("nil middleware")
		}
	}
	return nil
}

// Use adds middleware around every handler. The first added is the outermost. Call
// it before Run.
func (w *Worker) Use(mw ...func(Handler) Handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mw = append(w.mw, mw...)
}

// Stats returns the worker's running totals.
func (w *Worker) Stats() WorkerStats {
	return WorkerStats{
		Processed: w.processed.Load(), Failed: w.failed.Load(), Retried: w.retried.Load(),
		Dead: w.dead.Load(), Lost: w.lost.Load(), Cancelled: w.cancelled.Load(), Returned: w.returned.Load(),
		Errors: w.errs.Load(), Timeouts: w.timeouts.Load(), Panics: w.panics.Load(),
		InFlight: w.inFlight.Load(), Running: w.running.Load(),
		Refreshes: w.refreshes.Load(), RefreshFailures: w.refreshFails.Load(),
	}
}

// Backlog counts the waiting, leased, delayed and dead tasks of the queues the
// worker serves, from the backend.
func (w *Worker) Backlog(ctx context.Context) (map[string]QueueStats, error) {
	st, err := w.c.Stats(ctx, w.cfg.queues...)
	return st.Queues, err
}

// Run takes and handles tasks until ctx is cancelled or Shutdown is called, then
// shuts down: it stops fetching, hands back leases it has not started, lets running
// handlers finish, and returns. After a cancel of ctx, handlers get the shutdown
// timeout (WorkerConfig.ShutdownTimeout) before their contexts are cancelled and their
// tasks handed back to the head of their queues with the attempt kept; after
// Shutdown, its context decides. Run returns nil after such a stop, and an error
// when the backend is closed or the worker misconfigured. A worker runs once. A
// handler that ignores its context holds up Run until it returns. When the
// driver has a Notifier, Run registers with it for the cancels of tasks it
// holds, and waits up to a second for that before it takes a task.
func (w *Worker) Run(ctx context.Context) error {
	if ctx == nil {
		return w.c.wrap("worker run", invalid("nil context"))
	}
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return w.c.wrap("worker run", invalid("the worker already ran"))
	}
	if err := w.checkHandlers(); err != nil {
		w.mu.Unlock()
		return w.c.wrap("worker run", err)
	}
	w.started = true
	w.chain = make(map[string]Handler, len(w.handlers))
	for typ, h := range w.handlers {
		for i := len(w.mw) - 1; i >= 0; i-- {
			h = w.mw[i](h)
		}
		w.chain[typ] = h
	}
	base := context.WithoutCancel(ctx)
	forceCtx, force := context.WithCancelCause(base)
	w.force = force
	w.mu.Unlock()
	defer close(w.done)
	defer force(nil)

	if w.cfg.shared != nil {
		if _, err := optional[backend.RateLimiter](w.c, "worker run"); err != nil {
			return err
		}
	}

	// Settlements and lease extensions go on through a shutdown, on base; they
	// stop once every handler, and so every settlement, is done.
	keepStop := make(chan struct{})
	go w.keep.run(base, keepStop)
	if w.settler != nil {
		w.settler.start(base)
	}
	stopListen := w.listenCancels(ctx)
	fetchCtx, stopFetch := context.WithCancel(ctx)
	defer stopFetch()
	go func() {
		select {
		case <-w.stop:
		case <-fetchCtx.Done():
		}
		stopFetch()
	}()
	w.log.Info("keyq worker: started", "queues", w.cfg.queues, "concurrency", w.cfg.concurrency)
	err := w.loop(fetchCtx, base, forceCtx)
	stopFetch()
	w.drain(forceCtx, force)
	close(w.ackEnd)
	if w.settler != nil {
		w.settler.stop()
	}
	stopListen()
	close(keepStop)
	<-w.keep.done
	w.log.Info("keyq worker: stopped", "err", err)
	return err
}

// Shutdown stops the worker as a cancel of Run's context does, and waits until Run
// has returned. If ctx ends first, running handlers are cancelled (cause
// ErrShutdown), their tasks handed back with their attempts kept, and Shutdown
// returns ctx's error once that is done. Shutdown before Run makes Run return at
// once. A handler must not call Shutdown, which would wait for the handler itself;
// it may cancel Run's context instead.
func (w *Worker) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return w.c.wrap("shutdown", invalid("nil context"))
	}
	w.stopOnce.Do(func() { close(w.stop) })
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
	}
	w.mu.Lock()
	force := w.force
	w.mu.Unlock()
	force(ErrShutdown)
	<-w.done
	return ctx.Err()
}

func (w *Worker) stopRequested() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// stopping reports whether the worker must start no more tasks.
func (w *Worker) stopping(ctx context.Context) bool {
	return ctx.Err() != nil || w.stopRequested()
}

// drain waits for running handlers: until they finish, the shutdown timeout passes
// (only when Run's context stopped the worker), or Shutdown's context ends.
func (w *Worker) drain(forceCtx context.Context, force context.CancelCauseFunc) {
	idle := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(idle)
	}()
	var grace <-chan time.Time
	if !w.stopRequested() {
		t := w.cfg.clock.NewTimer(w.cfg.shutdownTimeout)
		defer t.Stop()
		grace = t.C()
	}
	select {
	case <-idle:
		return
	case <-grace:
		force(ErrShutdown)
	case <-forceCtx.Done():
	}
	<-idle
}

// loop fetches tasks and starts them until ctx ends or the backend fails for good.
// With an exchanger it takes the worker's acks meanwhile, and sends them with its
// next fetch (worker_exchange.go).
func (w *Worker) loop(ctx, base, forceCtx context.Context) error {
	var ready <-chan struct{} // a signal that acks wait, with an exchanger
	if w.x != nil {
		ready = w.x.ready
		w.x.setOpen(true)
		defer func() {
			w.x.setOpen(false)
			w.flushAcks()
		}()
	}
	for fails := 0; ; {
		if w.refreshDue() {
			w.flushAcks() // the hook may take long
		}
		if w.stopping(ctx) || !w.ensureRefresh(ctx) {
			return nil
		}
		// Fetch only when a handler slot is free. The fetch loop is the only one
		// that takes slots, so the slot stays free until start takes it.
		select {
		case w.sem <- struct{}{}:
			<-w.sem
		case <-ctx.Done():
			return nil
		case <-w.stop:
			return nil
		}
		if w.stopping(ctx) {
			return nil
		}
		var leases []Lease
		var err error
		if acks := w.takeAcks(); acks != nil {
			leases, err = w.exchange(base, acks)
		} else {
			leases, err = w.c.Dequeue(ctx, Queues(w.fetchQueues()...), Batch(w.fetchSize()), Wait(w.cfg.pollWait), LeaseFor(w.cfg.lease), until(ready))
		}
		if len(leases) > 0 {
			w.start(ctx, base, forceCtx, leases)
		}
		if err == nil {
			fails = 0
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrClosed) || errors.Is(err, ErrInvalid) {
			w.log.Error("keyq worker: fetch failed for good", "err", err)
			return err
		}
		w.log.Warn("keyq worker: fetch failed", "err", err)
		if !sleep(ctx, w.cfg.clock, backoffStep(fails, 100*time.Millisecond, 5*time.Second)) {
			return nil
		}
		fails++
	}
}

// fetchQueues are the queues of the next fetch, in order: the worker's, or an
// order drawn by weight.
func (w *Worker) fetchQueues() []string {
	if w.cfg.weights != nil {
		return w.cfg.weights.order(w.cfg.intN)
	}
	return w.cfg.queues
}

// fetchSize is how many tasks the next fetch may lease: the batch, or, for a batch
// of 1 without pacing, one per free handler slot. Slots only free up until start
// takes them, so each of those leases gets a slot at once.
func (w *Worker) fetchSize() int {
	if w.cfg.batch != 1 || len(w.limits) > 0 || w.cfg.shared != nil {
		return w.cfg.batch
	}
	return max(cap(w.sem)-len(w.sem), 1)
}

// delivery is one lease the worker holds.
type delivery struct {
	lease     Lease
	lost      atomic.Bool             // the lease ended: settle nothing
	cancelled atomic.Bool             // it ended by a cancel of the task (S12.4)
	cancel    context.CancelCauseFunc // the handler's, once it runs; guarded by the keeper's mu
}

// start keeps the leases of one fetch alive and starts their handlers one by
// one, as the refresh hook and the rate limits allow. It hands back those it
// cannot start.
func (w *Worker) start(ctx, base, forceCtx context.Context, leases []Lease) {
	ds := make([]*delivery, len(leases))
	for i := range leases {
		ds[i] = &delivery{lease: leases[i]}
	}
	w.inFlight.Add(int64(len(ds)))
	w.keep.add(ds)
	for i, d := range ds {
		w.mu.Lock()
		h := w.chain[d.lease.Type]
		w.mu.Unlock()
		if h == nil {
			w.noHandler(base, d)
			continue
		}
		if w.stopping(ctx) || w.refreshDue() || !w.slot(ctx) {
			w.handBack(base, ds[i:])
			return
		}
		if !w.pace(ctx) || w.stopping(ctx) {
			<-w.sem
			w.handBack(base, ds[i:])
			return
		}
		if d.lost.Load() {
			w.keep.remove(d)
			w.settleEnded(d, nil)
			<-w.sem
			continue
		}
		w.wg.Add(1)
		go w.process(base, forceCtx, d, h)
	}
}

// slot waits for a free handler slot and takes it. It returns false when the worker
// stops first.
func (w *Worker) slot(ctx context.Context) bool {
	select {
	case w.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-w.stop:
		return false
	}
}

// process runs the handler of one delivery and settles its lease.
func (w *Worker) process(base, forceCtx context.Context, d *delivery, h Handler) {
	defer func() {
		<-w.sem
		w.wg.Done()
	}()
	lim, err := w.limit(&d.lease.Task)
	if err != nil || lim.expired(w.cfg.clock.Now()) {
		w.keep.remove(d)
		if err != nil {
			w.fail(base, d, Final(err))
		} else {
			w.expired(base, d)
		}
		return
	}
	hctx, cancel := context.WithCancelCause(forceCtx)
	defer cancel(nil)
	w.keep.started(d, cancel)
	hctx, stopLimit := w.limited(hctx, lim, cancel)
	w.running.Add(1)
	v, err := w.call(hctx, h, &d.lease.Task)
	w.running.Add(-1)
	stopLimit()
	w.keep.remove(d)
	cause := context.Cause(hctx)
	timedOut := errors.Is(cause, ErrTaskTimeout)
	switch {
	case d.lost.Load():
		w.settleEnded(d, err)
	case errors.Is(cause, ErrTaskDeadline):
		w.expired(base, d)
	case err == nil && !timedOut:
		w.ack(base, d, v)
	case errors.Is(cause, ErrShutdown):
		w.release(base, d, OutcomeReturned, err, KeepAttempt(), Because(ErrShutdown))
	case timedOut && w.cfg.timeoutFinal:
		w.timeouts.Add(1)
		msg := ErrTaskTimeout.Error()
		w.ackWith(base, d, OutcomeFailed, ErrTaskTimeout, WithErrorAnswer(FailureAnswer{Error: msg}), WithStatus(StatusTimeout, msg))
	case timedOut:
		w.timeouts.Add(1)
		w.retry(base, d, ErrTaskTimeout)
	case IsFinal(err):
		w.fail(base, d, err)
	default:
		w.retry(base, d, err)
	}
}

// expired acks d, whose deadline has passed, as timed out with the error
// answer "deadline exceeded", for good (S7.7).
func (w *Worker) expired(base context.Context, d *delivery) {
	msg := ErrTaskDeadline.Error()
	w.ackWith(base, d, OutcomeFailed, ErrTaskDeadline, WithErrorAnswer(FailureAnswer{Error: msg}), WithStatus(StatusTimeout, msg))
}

// call runs h, turning a panic into a PanicError.
func (w *Worker) call(ctx context.Context, h Handler, t *Task) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			w.panics.Add(1)
			pe := &PanicError{Value: r, Stack: debug.Stack()}
			w.log.Error("keyq worker: handler panicked", "task", t.ID, "type", t.Type, "panic", r, "stack", string(pe.Stack))
			v, err = nil, pe
		}
	}()
	return h.Handle(ctx, t)
}

// ack acks d with the handler's result v as its answer; a result that does not
// encode is a final failure.
func (w *Worker) ack(base context.Context, d *delivery, v any) {
	s, err := w.c.ackSettlement(&d.lease, []AckOption{WithAnswer(v)})
	if err != nil {
		w.fail(base, d, Final(w.c.wrap("ack", err)))
		return
	}
	w.finish(base, d, s, OutcomeFinished, nil)
}

// ackWith acks d with opts, which must make a valid ack.
func (w *Worker) ackWith(base context.Context, d *delivery, o Outcome, herr error, opts ...AckOption) {
	s, err := w.c.ackSettlement(&d.lease, opts)
	if err != nil {
		w.settled(d, OutcomeError, errors.Join(herr, err))
		return
	}
	w.finish(base, d, s, o, herr)
}

// fail acks d as the final failure err, with a FailureAnswer as its error answer.
func (w *Worker) fail(base context.Context, d *delivery, err error) {
	msg := err.Error()
	w.ackWith(base, d, OutcomeFailed, err, WithErrorAnswer(FailureAnswer{Error: msg}), WithStatus(StatusFailed, msg))
}

// release releases d with opts, which must make a valid release.
func (w *Worker) release(base context.Context, d *delivery, o Outcome, herr error, opts ...ReleaseOption) {
	s, err := releaseSettlement(&d.lease, opts)
	if err != nil {
		w.settled(d, OutcomeError, errors.Join(herr, err))
		return
	}
	w.finish(base, d, s, o, herr)
}

// retry releases d after the backoff for another attempt; the backend
// dead-letters it instead when its attempts are used up, and its result says so.
func (w *Worker) retry(base context.Context, d *delivery, err error) {
	opts := []ReleaseOption{Because(err)}
	if w.cfg.backoff != nil {
		if delay := w.cfg.backoff(d.lease.Attempt, err); delay > 0 {
			opts = append(opts, Delay(min(delay, MaxDuration)))
		}
	}
	w.release(base, d, OutcomeRetried, err, opts...)
}

// noHandler dead-letters a task whose type has no handler.
func (w *Worker) noHandler(base context.Context, d *delivery) {
	w.keep.remove(d)
	err := fmt.Errorf("%w %q", ErrNoHandler, d.lease.Type)
	w.release(base, d, OutcomeDead, err, DeadLetter(), Because(err))
}

// handBack releases unstarted deliveries with their attempts kept, in one
// request, last first, so that they are back at the head in the order they were
// fetched.
func (w *Worker) handBack(base context.Context, ds []*delivery) {
	var items []backend.Settlement
	var back []*delivery
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		w.keep.remove(d)
		if d.lost.Load() {
			w.settleEnded(d, nil)
			continue
		}
		s, err := releaseSettlement(&d.lease, []ReleaseOption{KeepAttempt()})
		if err != nil {
			w.settled(d, OutcomeError, err)
			continue
		}
		items, back = append(items, s), append(back, d)
	}
	if len(items) == 0 {
		return
	}
	w.submit(base, &settleReq{items: items, done: func(res []backend.SettleResult, err error) {
		for i, d := range back {
			var r backend.SettleResult
			if res != nil {
				r = res[i]
			}
			w.settledAs(d, OutcomeReturned, nil, r, err)
		}
	}}, true)
}

func (w *Worker) settled(d *delivery, o Outcome, err error) {
	w.keep.forget(d)
	w.inFlight.Add(-1)
	switch o {
	case OutcomeFinished:
		w.processed.Add(1)
	case OutcomeFailed:
		w.failed.Add(1)
	case OutcomeRetried:
		w.retried.Add(1)
	case OutcomeDead:
		w.dead.Add(1)
	case OutcomeLost:
		w.lost.Add(1)
	case OutcomeCancelled:
		w.cancelled.Add(1)
	case OutcomeReturned:
		w.returned.Add(1)
	case OutcomeError:
		w.errs.Add(1)
	}
	t := &d.lease.Task
	level := slog.LevelDebug // finished, returned
	switch o {
	case OutcomeFailed, OutcomeRetried, OutcomeCancelled:
		level = slog.LevelInfo
	case OutcomeDead, OutcomeLost, OutcomeError:
		level = slog.LevelWarn
	}
	if w.log.Enabled(context.Background(), level) {
		attrs := []any{"task", t.ID, "queue", t.Queue, "type", t.Type, "attempt", t.Attempt, "outcome", o}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		w.log.Log(context.Background(), level, "keyq worker: task done", attrs...)
	}
	if w.cfg.onDone != nil {
		w.cfg.onDone(t, o, err)
	}
}

// refreshDue reports whether the refresh hook must run before the next task.
func (w *Worker) refreshDue() bool {
	return w.cfg.refresh != nil && (!w.refreshed || w.cfg.clock.Now().Sub(w.lastRefresh) >= w.cfg.refreshPeriod)
}

// ensureRefresh calls the refresh hook when due, again and again with backoff until
// it succeeds. It returns false when ctx ended first.
func (w *Worker) ensureRefresh(ctx context.Context) bool {
	for fails := 0; w.refreshDue(); fails++ {
		err := w.cfg.refresh(ctx)
		if err == nil {
			w.refreshes.Add(1)
			w.refreshed, w.lastRefresh = true, w.cfg.clock.Now()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.refreshFails.Add(1)
		d := backoffStep(fails, w.cfg.refreshBackoff, w.cfg.refreshMax)
		w.log.Warn("keyq worker: refresh failed; taking no tasks", "err", err, "retry_in", d)
		if !sleep(ctx, w.cfg.clock, d) {
			return false
		}
	}
	return ctx.Err() == nil
}
