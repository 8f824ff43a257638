package keyq

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/keyq/keyq/clock"
)

// Defaults of a Worker, each changed by the WorkerConfig field of the matching name.
const (
	DefaultWorkerConcurrency    = 1
	DefaultWorkerBatch          = 1 // a task per free handler slot; see WorkerConfig.Batch
	DefaultWorkerPollWait       = time.Second
	DefaultWorkerShutdown       = 10 * time.Second
	DefaultWorkerRefreshBackoff = 500 * time.Millisecond
	DefaultWorkerRefreshMax     = 30 * time.Second
	DefaultWorkerSettleCalls    = 2
)

// The limits of a Worker's sizes; NewWorker refuses more with ErrInvalid. Every
// duration is at most MaxDuration, and Batch and rate bursts at most
// MaxCount.
const (
	// MaxWorkerConcurrency is the most handlers a Worker runs at once.
	MaxWorkerConcurrency = 100_000
	// MaxWorkerSettleCalls is the most settle calls a Worker keeps in flight at
	// once (WorkerConfig.SettleCalls); each holds a buffer of up to 1000
	// settlements.
	MaxWorkerSettleCalls = 64
)

// Outcome is what became of one delivery a Worker handled.
type Outcome string

// The outcomes a Worker reports to its OnDone hook.
const (
	OutcomeFinished Outcome = "finished" // the handler succeeded; acked with its answer
	OutcomeFailed   Outcome = "failed"   // a final failure; acked with an error answer
	OutcomeRetried  Outcome = "retried"  // a transient failure; released for another attempt
	OutcomeDead     Outcome = "dead"     // dead-lettered: attempts used up, or no handler
	OutcomeLost     Outcome = "lost"     // the lease was lost; nothing was acked
	OutcomeReturned Outcome = "returned" // handed back unfinished on shutdown, attempt kept
	OutcomeError    Outcome = "error"    // the ack or release call failed; the lease will expire
	// OutcomeCancelled: the task was cancelled by ID while the worker held it
	// (Client.Cancel, S12.4); its lease ended in the store, nothing was acked,
	// and it is not retried.
	OutcomeCancelled Outcome = "cancelled"
)

type sharedRate struct {
	name     string
	interval time.Duration
	burst    int
}

type workerConfig struct {
	concurrency     int
	queues          []string
	weights         weights         // nil: serve queues in strict priority
	intN            func(n int) int // draws the order of weighted queues
	err             error           // a bad WorkerConfig's
	batch           int
	lease           time.Duration
	pollWait        time.Duration
	timeout         time.Duration
	timeoutFinal    bool
	backoff         BackoffFunc
	minInterval     time.Duration
	rate            float64
	rateBurst       int
	shared          *sharedRate
	refresh         func(context.Context) error
	refreshPeriod   time.Duration
	refreshBackoff  time.Duration
	refreshMax      time.Duration
	shutdownTimeout time.Duration
	logger          *slog.Logger
	clock           clock.Clock
	onDone          func(t *Task, o Outcome, err error)
	ackBatches      int
}

func workerDefaults(c *Client) workerConfig {
	return workerConfig{
		concurrency:     DefaultWorkerConcurrency,
		queues:          c.Queues(),
		intN:            randIntN,
		batch:           DefaultWorkerBatch,
		lease:           c.LeaseDuration(),
		pollWait:        DefaultWorkerPollWait,
		backoff:         DefaultWorkerBackoff,
		refreshBackoff:  DefaultWorkerRefreshBackoff,
		refreshMax:      DefaultWorkerRefreshMax,
		shutdownTimeout: DefaultWorkerShutdown,
		logger:          slog.New(slog.DiscardHandler),
		clock:           clock.Real(),
		ackBatches:      DefaultWorkerSettleCalls,
	}
}

func (c *workerConfig) validate() error {
	if c.err != nil {
		return c.err
	}
	switch {
	case c.concurrency < 1 || c.concurrency > MaxWorkerConcurrency:
		return invalid("worker concurrency %d out of range 1 to %d", c.concurrency, MaxWorkerConcurrency)
	case c.batch < 1 || c.batch > MaxCount:
		return invalid("worker batch %d out of range 1 to %d", c.batch, MaxCount)
	case c.lease > MaxDuration || c.pollWait > MaxDuration || c.timeout > MaxDuration ||
		c.minInterval > MaxDuration || c.shutdownTimeout > MaxDuration ||
		c.refreshPeriod > MaxDuration || c.refreshMax > MaxDuration:
		return invalid("worker duration over the maximum %v", MaxDuration)
	case len(c.queues) == 0:
		return invalid("worker has no queues")
	case c.lease <= 0:
		return invalid("worker lease %v is not positive", c.lease)
	case c.pollWait <= 0:
		return invalid("worker poll wait %v is not positive", c.pollWait)
	case c.timeout < 0, c.minInterval < 0, c.shutdownTimeout < 0:
		return invalid("negative worker duration")
	case c.rate < 0 || math.IsNaN(c.rate) || math.IsInf(c.rate, 0):
		return invalid("worker rate %v is not a finite positive number", c.rate)
	case c.rate > 0 && (c.rateBurst < 1 || c.rateBurst > MaxCount):
		return invalid("worker rate burst %d out of range 1 to %d", c.rateBurst, MaxCount)
	case c.refresh != nil && c.refreshPeriod <= 0:
		return invalid("worker refresh period %v is not positive", c.refreshPeriod)
	case c.refreshBackoff <= 0 || c.refreshMax < c.refreshBackoff:
		return invalid("worker refresh backoff %v to %v is out of order", c.refreshBackoff, c.refreshMax)
	case c.logger == nil || c.clock == nil:
		return invalid("nil worker logger or clock")
	case c.ackBatches < 0 || c.ackBatches > MaxWorkerSettleCalls:
		return invalid("worker settle calls %d over the maximum %d", c.ackBatches, MaxWorkerSettleCalls)
	}
	for _, q := range c.queues {
		if q == "" {
			return invalid("empty queue name")
		}
	}
	if s := c.shared; s != nil && (s.name == "" || s.interval <= 0 || s.interval > MaxDuration || s.burst < 1 || s.burst > MaxCount) {
		return invalid("shared rate %q: interval %v and burst %d must be positive", s.name, s.interval, s.burst)
	}
	return nil
}

// WorkerOption configures a Worker: an argument of NewWorker. A WorkerConfig is
// one; WorkerAddOnDone is another.
type WorkerOption interface{ applyWorker(*workerConfig) }

type workerOption func(*workerConfig)

func (f workerOption) applyWorker(c *workerConfig) { f(c) }

// WorkerConfig configures a Worker. A zero field keeps its default (or what an
// earlier WorkerOption of the same NewWorker set); NewWorker refuses a negative
// duration or count with ErrInvalid.
type WorkerConfig struct {
	// Concurrency is how many handlers run at once. The default is 1.
	Concurrency int
	// Queues are the queues the worker serves, highest priority first. The
	// default is the client's queues.
	Queues []string
	// Weights makes the worker serve the queues named by its keys by weight
	// instead (S3.8): each fetch draws the order of the queues as Weighted
	// does, so a queue of weight w is served first in w of every sum-of-weights
	// fetches on average, and a fetch takes from the next queue when the drawn
	// one is empty: no queue starves and no worker idles while any of them has
	// a task. Weights are 1 to MaxWeight. Setting both Queues and Weights is
	// invalid.
	Weights map[string]int
	// Batch is how many tasks one fetch may lease. The worker fetches once a
	// handler slot is free and starts the tasks of a fetch in order as slots
	// free up, so it may hold up to Batch-1 leases more than it runs: their
	// leases are kept alive, and on shutdown they go back to the head of their
	// queues with their attempts kept.
	//
	// With 1, the default, the worker never holds a lease it has no free slot
	// for: a fetch leases up to one task per free slot, so several free slots
	// take one round trip, not one each. A worker that paces its starts
	// (MinInterval, Rate, SharedRate) leases one task per fetch instead, so that
	// no lease waits for the pace.
	Batch int
	// Lease is the lease the worker asks for and extends by while it holds a
	// task, every third of it, in one Extend call for every lease it holds. The
	// default is the client's lease.
	Lease time.Duration
	// PollWait is how long one fetch waits for a task before it looks again. A
	// stop ends the wait at once. The default is 1s.
	PollWait time.Duration
	// Timeout bounds each handler call: when it has passed on the worker's
	// clock, the handler's context is cancelled with cause ErrTaskTimeout and the
	// delivery counts as a transient failure with the last error "timeout",
	// retried or dead-lettered like any other. The default, 0, sets no bound.
	// A task's own Timeout, set at enqueue, takes its place, and a task's
	// Deadline cuts it short (S7.6, S7.7). The handler's context reports the
	// limit as its deadline.
	Timeout time.Duration
	// TimeoutFinal makes a handler that runs over the Timeout a final failure,
	// as in an RQ-style job queue: the task is acked with the job status timeout
	// and the error answer FailureAnswer{"timeout"} instead of being retried.
	TimeoutFinal bool
	// Backoff says how long a task that failed with a transient error waits
	// before it is offered again: the worker releases it with that delay, and it
	// returns at the head of its queue once the delay is due (S7.2), while the
	// tasks behind it run. nil means DefaultWorkerBackoff: exponential from 1s to
	// 10 minutes, with jitter. ImmediateBackoff puts a failed task back at the
	// head at once: the next fetch takes it again, so a task that keeps failing
	// runs up to its maximum attempts in a row ahead of every other task of its
	// queue.
	Backoff BackoffFunc
	// MinInterval makes the worker wait at least this long between the starts
	// of two tasks, so that a rate-limited API is never called faster. The
	// default, 0, sets no minimum.
	MinInterval time.Duration
	// Rate limits this worker to Rate task starts a second on average, with up
	// to RateBurst at once (0 means 1). The default, 0, sets no limit.
	Rate      float64
	RateBurst int
	// SharedRate limits task starts across every worker of the namespace on the
	// same store, in every process, through Client.Allow. Run fails with an error
	// matching errors.ErrUnsupported when the backend has no shared rate
	// limiter. The zero value sets no limit.
	SharedRate SharedRate
	// Refresh is a hook, such as a credential refresh, that the worker calls
	// when Run starts and again before a task once RefreshPeriod has passed
	// since its last successful call. While it fails, the worker takes no tasks
	// and calls it again after a backoff from RefreshBackoff (500ms unless set)
	// doubling up to RefreshBackoffMax (30s unless set).
	Refresh           func(context.Context) error
	RefreshPeriod     time.Duration
	RefreshBackoff    time.Duration
	RefreshBackoffMax time.Duration
	// ShutdownTimeout is how long running handlers may go on once Run's context
	// is cancelled, before their contexts are cancelled too and their tasks
	// handed back. Shutdown uses its own context instead. The default is 10s.
	ShutdownTimeout time.Duration
	// Logger is where the worker logs: each delivery's outcome (debug for
	// finished and returned, info for failed, retried and cancelled, warn for dead, lost and
	// failed settlements), failures of the refresh hook, fetches and lease
	// extensions (warn), panics (error), and start and stop (info). The default
	// discards everything.
	Logger *slog.Logger
	// Clock is the clock of the worker's own timers: rate limits, the refresh
	// period, handler timeouts, lease renewal and shutdown grace. Leases, delays
	// and the shared rate limit stay on the backend's clock. The default is
	// clock.Real().
	Clock clock.Clock
	// OnDone is called once per delivery the worker has finished with, after its
	// ack or release, with the outcome the backend's answer gave and the
	// handler's error, if any. It runs on the handler's goroutine or on the
	// goroutine that sent the settlement, and must not block for long. It
	// replaces hooks set before it; WorkerAddOnDone adds one.
	OnDone func(t *Task, o Outcome, err error)
	// SettleCalls is how many settle calls the worker keeps in flight at once,
	// each settling the deliveries of several handlers (group commit): acks with
	// their answers, failures, retries, dead-letters and hand-backs alike. A
	// handler's settlement goes out at once when fewer calls are in flight,
	// together with those of any other handlers that wait by then, up to 1000 in
	// a call; otherwise it waits for a call to return, while others gather.
	// Nothing waits on a timer. A handler's slot is freed when the handler
	// returns after an ack, and once the call has returned after a release.
	// Each delivery's outcome is the backend's result for its own item; a call
	// that fails as a whole settles each of its tasks with OutcomeError (their
	// leases expire and the tasks come back). A smaller number makes bigger
	// batches; a larger one keeps more moving at once. The default is 2; a
	// negative number turns batching off: each delivery is settled in a call of
	// its own, on the handler's goroutine.
	SettleCalls int
}

// SharedRate is a rate limit shared through the backend: one start every
// Interval, up to Burst at once, in the limiter called Name.
type SharedRate struct {
	Name     string
	Interval time.Duration
	Burst    int
}

func (w WorkerConfig) applyWorker(c *workerConfig) {
	setIf(&c.concurrency, w.Concurrency)
	if len(w.Queues) > 0 {
		c.queues, c.weights = slices.Clone(w.Queues), nil
	}
	if len(w.Weights) > 0 {
		ws, err := newWeights(w.Weights)
		if len(w.Queues) > 0 {
			err = invalid("worker Queues and Weights both set; choose one")
		}
		if err != nil {
			c.err = cmp.Or(c.err, err)
		} else {
			c.queues, c.weights = ws.names(), ws
		}
	}
	setIf(&c.batch, w.Batch)
	setIf(&c.lease, w.Lease)
	setIf(&c.pollWait, w.PollWait)
	setIf(&c.timeout, w.Timeout)
	c.timeoutFinal = c.timeoutFinal || w.TimeoutFinal
	if w.Backoff != nil {
		c.backoff = w.Backoff
	}
	setIf(&c.minInterval, w.MinInterval)
	if w.Rate != 0 {
		c.rate, c.rateBurst = w.Rate, w.RateBurst
		if w.RateBurst == 0 {
			c.rateBurst = 1
		}
	}
	if w.SharedRate != (SharedRate{}) {
		c.shared = &sharedRate{w.SharedRate.Name, w.SharedRate.Interval, w.SharedRate.Burst}
	}
	if w.Refresh != nil {
		c.refresh = w.Refresh
	}
	setIf(&c.refreshPeriod, w.RefreshPeriod)
	setIf(&c.refreshBackoff, w.RefreshBackoff)
	setIf(&c.refreshMax, w.RefreshBackoffMax)
	setIf(&c.shutdownTimeout, w.ShutdownTimeout)
	if w.Logger != nil {
		c.logger = w.Logger
	}
	if w.Clock != nil {
		c.clock = w.Clock
	}
	if w.OnDone != nil {
		c.onDone = w.OnDone
	}
	switch {
	case w.SettleCalls < 0:
		c.ackBatches = 0
	case w.SettleCalls > 0:
		c.ackBatches = w.SettleCalls
	}
}

// setIf sets *dst to v unless v is zero.
func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
