package keyq

import (
	"context"
	"log/slog"
	"math"
	"time"

	"github.com/keyq/keyq/clock"
)

// Defaults of a Worker, each changed by the WorkerOption of the matching name.
const (
	DefaultWorkerConcurrency    = 1
	DefaultWorkerBatch          = 1 // a task per free handler slot; see WorkerBatch
	DefaultWorkerPollWait       = time.Second
	DefaultWorkerShutdown       = 10 * time.Second
	DefaultWorkerRefreshBackoff = 500 * time.Millisecond
	DefaultWorkerRefreshMax     = 30 * time.Second
	DefaultWorkerAckBatches     = 2
)

// The limits of a Worker's sizes; NewWorker refuses more with ErrInvalid. Every
// duration is at most MaxDuration, and WorkerBatch and rate bursts at most
// MaxCount.
const (
	// MaxWorkerConcurrency is the most handlers a Worker runs at once.
	MaxWorkerConcurrency = 100_000
	// MaxWorkerAckBatches is the most settle calls a Worker keeps in flight at
	// once (WorkerAckBatches); each holds a buffer of up to 1000 settlements.
	MaxWorkerAckBatches = 64
)

// Outcome is what became of one delivery a Worker handled.
type Outcome string

// The outcomes a Worker reports to the WorkerOnDone hook.
const (
	OutcomeFinished Outcome = "finished" // the handler succeeded; acked with its answer
	OutcomeFailed   Outcome = "failed"   // a final failure; acked with an error answer
	OutcomeRetried  Outcome = "retried"  // a transient failure; released for another attempt
	OutcomeDead     Outcome = "dead"     // dead-lettered: attempts used up, or no handler
	OutcomeLost     Outcome = "lost"     // the lease was lost; nothing was acked
	OutcomeReturned Outcome = "returned" // handed back unfinished on shutdown, attempt kept
	OutcomeError    Outcome = "error"    // the ack or release call failed; the lease will expire
)

type sharedRate struct {
	name     string
	interval time.Duration
	burst    int
}

type workerConfig struct {
	concurrency     int
	queues          []string
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
		batch:           DefaultWorkerBatch,
		lease:           c.LeaseDuration(),
		pollWait:        DefaultWorkerPollWait,
		backoff:         DefaultWorkerBackoff,
		refreshBackoff:  DefaultWorkerRefreshBackoff,
		refreshMax:      DefaultWorkerRefreshMax,
		shutdownTimeout: DefaultWorkerShutdown,
		logger:          slog.New(slog.DiscardHandler),
		clock:           clock.Real(),
		ackBatches:      DefaultWorkerAckBatches,
	}
}

func (c *workerConfig) validate() error {
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
	case c.ackBatches < 0 || c.ackBatches > MaxWorkerAckBatches:
		return invalid("worker ack batches %d out of range 0 to %d", c.ackBatches, MaxWorkerAckBatches)
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

// WorkerOption configures a Worker.
type WorkerOption func(*workerConfig)

// WorkerConcurrency sets how many handlers run at once. The default is 1.
func WorkerConcurrency(n int) WorkerOption { return func(c *workerConfig) { c.concurrency = n } }

// WorkerQueues sets the queues the worker serves, highest priority first. The
// default is the client's queues.
func WorkerQueues(names ...string) WorkerOption {
	return func(c *workerConfig) { c.queues = append([]string(nil), names...) }
}

// WorkerBatch sets how many tasks one fetch may lease. The worker fetches once a
// handler slot is free and starts the tasks of a fetch in order as slots free up,
// so it may hold up to n-1 leases more than it runs: their leases are kept alive,
// and on shutdown they go back to the head of their queues with their attempts
// kept.
//
// With 1, the default, the worker never holds a lease it has no free slot for: a
// fetch leases up to one task per free slot, so several free slots take one round
// trip, not one each. A worker that paces its starts (WorkerMinInterval,
// WorkerRate, WorkerSharedRate) leases one task per fetch instead, so that no
// lease waits for the pace.
func WorkerBatch(n int) WorkerOption { return func(c *workerConfig) { c.batch = n } }

// WorkerLease sets the lease the worker asks for and extends by while a handler
// runs. The default is the client's lease.
func WorkerLease(d time.Duration) WorkerOption { return func(c *workerConfig) { c.lease = d } }

// WorkerPollWait sets how long one fetch blocks for a task before it looks again. A
// stop ends the wait at once. The default is 1s.
func WorkerPollWait(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.pollWait = d }
}

// WorkerTimeout bounds each handler call: when d has passed on the worker's clock,
// the handler's context is cancelled with cause ErrTaskTimeout and the delivery
// counts as a transient failure with the last error "timeout", retried or
// dead-lettered like any other. The default, 0, sets no bound.
func WorkerTimeout(d time.Duration) WorkerOption { return func(c *workerConfig) { c.timeout = d } }

// WorkerTimeoutFinal makes a handler that runs over the timeout a final failure,
// as in an RQ-style job queue: the task is acked with the job status timeout and
// the error answer FailureAnswer{"timeout"} instead of being retried.
func WorkerTimeoutFinal() WorkerOption { return func(c *workerConfig) { c.timeoutFinal = true } }

// WorkerBackoff sets how long a task that failed with a transient error waits
// before it is offered again: the worker releases it with that delay, and it
// returns at the head of its queue once the delay is due (S7.2), while the tasks
// behind it run. The default is DefaultWorkerBackoff: exponential from 1s to 10
// minutes, with jitter.
//
// WorkerBackoff(nil), or ImmediateBackoff, puts a failed task back at the head of
// its queue at once: the next fetch takes it again, so a task that keeps failing
// runs up to its maximum attempts in a row ahead of every other task of its queue.
func WorkerBackoff(f BackoffFunc) WorkerOption { return func(c *workerConfig) { c.backoff = f } }

// WorkerMinInterval makes the worker wait at least d between the starts of two
// tasks, so that a rate-limited API is never called faster. The default, 0, sets no
// minimum.
func WorkerMinInterval(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.minInterval = d }
}

// WorkerRate limits this worker to perSecond task starts a second on average, with
// up to burst at once. The default, 0, sets no limit.
func WorkerRate(perSecond float64, burst int) WorkerOption {
	return func(c *workerConfig) { c.rate, c.rateBurst = perSecond, burst }
}

// WorkerSharedRate limits task starts across every worker of the namespace on the
// same store, in every process, through Client.Allow with the limiter called name:
// one start every interval, up to burst at once. Run fails with ErrInvalid when the
// backend has no shared rate limiter.
func WorkerSharedRate(name string, interval time.Duration, burst int) WorkerOption {
	return func(c *workerConfig) { c.shared = &sharedRate{name, interval, burst} }
}

// WorkerRefresh sets a hook, such as a credential refresh, that the worker calls
// when Run starts and again before a task once period has passed since its last
// successful call. While it fails, the worker takes no tasks and calls it again after
// a backoff that starts at 500ms and doubles up to 30s (see WorkerRefreshBackoff).
func WorkerRefresh(period time.Duration, f func(context.Context) error) WorkerOption {
	return func(c *workerConfig) { c.refresh, c.refreshPeriod = f, period }
}

// WorkerRefreshBackoff sets the first and the longest wait between failed calls of
// the refresh hook.
func WorkerRefreshBackoff(first, max time.Duration) WorkerOption {
	return func(c *workerConfig) { c.refreshBackoff, c.refreshMax = first, max }
}

// WorkerShutdownTimeout sets how long running handlers may go on once Run's context
// is cancelled, before their contexts are cancelled too and their tasks handed back.
// Shutdown uses its own context instead. The default is 10s.
func WorkerShutdownTimeout(d time.Duration) WorkerOption {
	return func(c *workerConfig) { c.shutdownTimeout = d }
}

// WorkerLogger sets where the worker logs: each delivery's outcome (debug for
// finished and returned, info for failed and retried, warn for dead, lost and
// failed acks), failures of the refresh hook, fetches and lease extensions (warn),
// panics (error), and start and stop (info). The default discards everything.
func WorkerLogger(l *slog.Logger) WorkerOption { return func(c *workerConfig) { c.logger = l } }

// WorkerClock sets the clock of the worker's own timers: rate limits, the refresh
// period, handler timeouts, lease renewal and shutdown grace. Leases, delays and
// the shared rate limit stay on the backend's clock. The default is clock.Real().
func WorkerClock(c clock.Clock) WorkerOption { return func(w *workerConfig) { w.clock = c } }

// WorkerOnDone sets a hook called once per delivery the worker has finished with,
// after the ack or release, with the outcome and the handler's error, if any. It
// runs on the handler's goroutine or, for batched acks, on the goroutine that sent
// the batch, and must not block for long.
func WorkerOnDone(f func(t *Task, o Outcome, err error)) WorkerOption {
	return func(c *workerConfig) { c.onDone = f }
}

// WorkerAckBatches sets how many settle calls the worker keeps in flight at once,
// each settling the deliveries of several handlers (group commit): acks with
// their answers, failures, retries, dead-letters and hand-backs alike. A
// handler's result goes out at once when fewer than n calls are in flight,
// together with the results of any other handlers that wait by then, up to 1000
// in a call; otherwise it waits for a call to return, while others gather.
// Nothing waits on a timer.
//
// A handler's slot is freed when the handler returns, and its settlement waits in
// a queue of at most 1000 (a handler that finds it full waits with its slot).
// Each delivery's outcome, and WorkerOnDone, come from the backend's result for
// its own item: a lost lease is OutcomeLost for that task only, a release the
// backend dead-lettered is OutcomeDead; a result that does not encode is a final
// failure; and a call that fails as a whole settles each of its tasks with
// OutcomeError (their leases expire and the tasks come back). Stats count a task
// InFlight until it is settled; Run returns once every task is.
//
// A smaller n makes bigger batches: fewer round trips and less work for the store
// per task. A larger n keeps more settlements moving at once, which helps when the
// round trip, not the store, limits a worker whose handlers finish at once. 0
// turns batching off: each delivery is settled in a call of its own, on the
// handler's goroutine, which holds its slot until the call returns. The default
// is 2.
func WorkerAckBatches(n int) WorkerOption { return func(c *workerConfig) { c.ackBatches = n } }
