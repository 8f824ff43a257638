package keyq

import (
	"context"
	"log/slog"
	"time"

	"github.com/keyq/keyq/clock"
)

// The names of the API before contract v2, kept so that code written against it
// still builds. Each says what replaces it. These rewrites, in this order (the
// zero-value cases before the general ones), move a file to the new names;
// adjacent WorkerConfig values may then be merged into one by hand:
//
//	gofmt -r 'keyq.WithQueues -> keyq.Queues' -w FILES
//	gofmt -r 'keyq.From -> keyq.Queues' -w FILES
//	gofmt -r 'keyq.WithLease -> keyq.LeaseFor' -w FILES
//	gofmt -r 'keyq.WithMaxAttempts -> keyq.MaxAttempts' -w FILES
//	gofmt -r 'keyq.After -> keyq.Delay' -w FILES
//	gofmt -r 'keyq.WithOpTimeout -> keyq.OpTimeout' -w FILES
//	gofmt -r 'keyq.WithAnswerTTL -> keyq.AnswerTTL' -w FILES
//	gofmt -r 'keyq.WithJobTracking -> keyq.JobTracking' -w FILES
//	gofmt -r 'keyq.WithJobTTL -> keyq.JobTTL' -w FILES
//	gofmt -r 'keyq.WithMaxPayload -> keyq.MaxPayload' -w FILES
//	gofmt -r 'keyq.WithEnqueueHook -> keyq.OnEnqueue' -w FILES
//	gofmt -r 'keyq.WorkerBackoff(nil) -> keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff}' -w FILES
//	gofmt -r 'keyq.WorkerAckBatches(0) -> keyq.WorkerConfig{SettleCalls: -1}' -w FILES
//	gofmt -r 'keyq.WorkerShutdownTimeout(0) -> keyq.WorkerConfig{ShutdownTimeout: time.Nanosecond}' -w FILES
//	gofmt -r 'keyq.WorkerConcurrency(x) -> keyq.WorkerConfig{Concurrency: x}' -w FILES
//	gofmt -r 'keyq.WorkerQueues(x...) -> keyq.WorkerConfig{Queues: x}' -w FILES
//	gofmt -r 'keyq.WorkerQueues(x) -> keyq.WorkerConfig{Queues: []string{x}}' -w FILES
//	gofmt -r 'keyq.WorkerQueues(x, y) -> keyq.WorkerConfig{Queues: []string{x, y}}' -w FILES
//	gofmt -r 'keyq.WorkerQueues(x, y, z) -> keyq.WorkerConfig{Queues: []string{x, y, z}}' -w FILES
//	gofmt -r 'keyq.WorkerBatch(x) -> keyq.WorkerConfig{Batch: x}' -w FILES
//	gofmt -r 'keyq.WorkerLease(x) -> keyq.WorkerConfig{Lease: x}' -w FILES
//	gofmt -r 'keyq.WorkerPollWait(x) -> keyq.WorkerConfig{PollWait: x}' -w FILES
//	gofmt -r 'keyq.WorkerTimeout(x) -> keyq.WorkerConfig{Timeout: x}' -w FILES
//	gofmt -r 'keyq.WorkerTimeoutFinal() -> keyq.WorkerConfig{TimeoutFinal: true}' -w FILES
//	gofmt -r 'keyq.WorkerBackoff(x) -> keyq.WorkerConfig{Backoff: x}' -w FILES
//	gofmt -r 'keyq.WorkerMinInterval(x) -> keyq.WorkerConfig{MinInterval: x}' -w FILES
//	gofmt -r 'keyq.WorkerRate(x, y) -> keyq.WorkerConfig{Rate: x, RateBurst: y}' -w FILES
//	gofmt -r 'keyq.WorkerSharedRate(x, y, z) -> keyq.WorkerConfig{SharedRate: keyq.SharedRate{Name: x, Interval: y, Burst: z}}' -w FILES
//	gofmt -r 'keyq.WorkerRefresh(x, y) -> keyq.WorkerConfig{Refresh: y, RefreshPeriod: x}' -w FILES
//	gofmt -r 'keyq.WorkerRefreshBackoff(x, y) -> keyq.WorkerConfig{RefreshBackoff: x, RefreshBackoffMax: y}' -w FILES
//	gofmt -r 'keyq.WorkerShutdownTimeout(x) -> keyq.WorkerConfig{ShutdownTimeout: x}' -w FILES
//	gofmt -r 'keyq.WorkerLogger(x) -> keyq.WorkerConfig{Logger: x}' -w FILES
//	gofmt -r 'keyq.WorkerClock(x) -> keyq.WorkerConfig{Clock: x}' -w FILES
//	gofmt -r 'keyq.WorkerOnDone(x) -> keyq.WorkerConfig{OnDone: x}' -w FILES
//	gofmt -r 'keyq.WorkerAckBatches(x) -> keyq.WorkerConfig{SettleCalls: x}' -w FILES
//	gofmt -r 'keyq.DefaultWorkerAckBatches -> keyq.DefaultWorkerSettleCalls' -w FILES
//	gofmt -r 'keyq.MaxWorkerAckBatches -> keyq.MaxWorkerSettleCalls' -w FILES

// Deprecated: use Queues.
func WithQueues(names ...string) Option { return Queues(names...) }

// Deprecated: use OpTimeout.
func WithOpTimeout(d time.Duration) Option { return OpTimeout(d) }

// Deprecated: use LeaseFor.
func WithLease(d time.Duration) Option { return LeaseFor(d) }

// Deprecated: use AnswerTTL.
func WithAnswerTTL(ok, failed time.Duration) Option { return AnswerTTL(ok, failed) }

// Deprecated: use MaxAttempts.
func WithMaxAttempts(n int) Option { return MaxAttempts(n) }

// Deprecated: use JobTracking.
func WithJobTracking(on bool) Option { return JobTracking(on) }

// Deprecated: use JobTTL.
func WithJobTTL(d time.Duration) Option { return JobTTL(d) }

// Deprecated: use MaxPayload.
func WithMaxPayload(n int) Option { return MaxPayload(n) }

// Deprecated: use OnEnqueue.
func WithEnqueueHook(h EnqueueHook) Option { return OnEnqueue(h) }

// Deprecated: use Queues.
func From(queues ...string) DequeueOption { return Queues(queues...) }

// Deprecated: use Delay.
func After(d time.Duration) ReleaseOption { return Delay(d) }

// Deprecated: use DefaultWorkerSettleCalls.
const DefaultWorkerAckBatches = DefaultWorkerSettleCalls

// Deprecated: use MaxWorkerSettleCalls.
const MaxWorkerAckBatches = MaxWorkerSettleCalls

// The Worker options below keep their old meaning, zero values included:
// WorkerBackoff(nil) retries at once, WorkerAckBatches(0) turns batching off,
// WorkerShutdownTimeout(0) gives no grace.

// Deprecated: use WorkerConfig{Concurrency: n}.
func WorkerConcurrency(n int) WorkerOption {
	return workerOption(func(c *workerConfig) { c.concurrency = n })
}

// Deprecated: use WorkerConfig{Queues: names}.
func WorkerQueues(names ...string) WorkerOption {
	return workerOption(func(c *workerConfig) { c.queues = append([]string(nil), names...) })
}

// Deprecated: use WorkerConfig{Batch: n}.
func WorkerBatch(n int) WorkerOption { return workerOption(func(c *workerConfig) { c.batch = n }) }

// Deprecated: use WorkerConfig{Lease: d}.
func WorkerLease(d time.Duration) WorkerOption {
	return workerOption(func(c *workerConfig) { c.lease = d })
}

// Deprecated: use WorkerConfig{PollWait: d}.
func WorkerPollWait(d time.Duration) WorkerOption {
	return workerOption(func(c *workerConfig) { c.pollWait = d })
}

// Deprecated: use WorkerConfig{Timeout: d}.
func WorkerTimeout(d time.Duration) WorkerOption {
	return workerOption(func(c *workerConfig) { c.timeout = d })
}

// Deprecated: use WorkerConfig{TimeoutFinal: true}.
func WorkerTimeoutFinal() WorkerOption {
	return workerOption(func(c *workerConfig) { c.timeoutFinal = true })
}

// Deprecated: use WorkerConfig{Backoff: f}; WorkerBackoff(nil) is
// WorkerConfig{Backoff: ImmediateBackoff}.
func WorkerBackoff(f BackoffFunc) WorkerOption {
	return workerOption(func(c *workerConfig) { c.backoff = f })
}

// Deprecated: use WorkerConfig{MinInterval: d}.
func WorkerMinInterval(d time.Duration) WorkerOption {
	return workerOption(func(c *workerConfig) { c.minInterval = d })
}

// Deprecated: use WorkerConfig{Rate: perSecond, RateBurst: burst}.
func WorkerRate(perSecond float64, burst int) WorkerOption {
	return workerOption(func(c *workerConfig) { c.rate, c.rateBurst = perSecond, burst })
}

// Deprecated: use WorkerConfig{SharedRate: SharedRate{name, interval, burst}}.
func WorkerSharedRate(name string, interval time.Duration, burst int) WorkerOption {
	return workerOption(func(c *workerConfig) { c.shared = &sharedRate{name, interval, burst} })
}

// Deprecated: use WorkerConfig{Refresh: f, RefreshPeriod: period}.
func WorkerRefresh(period time.Duration, f func(context.Context) error) WorkerOption {
	return workerOption(func(c *workerConfig) { c.refresh, c.refreshPeriod = f, period })
}

// Deprecated: use WorkerConfig{RefreshBackoff: first, RefreshBackoffMax: max}.
func WorkerRefreshBackoff(first, max time.Duration) WorkerOption {
	return workerOption(func(c *workerConfig) { c.refreshBackoff, c.refreshMax = first, max })
}

// Deprecated: use WorkerConfig{ShutdownTimeout: d}.
func WorkerShutdownTimeout(d time.Duration) WorkerOption {
	return workerOption(func(c *workerConfig) { c.shutdownTimeout = d })
}

// Deprecated: use WorkerConfig{Logger: l}.
func WorkerLogger(l *slog.Logger) WorkerOption {
	return workerOption(func(c *workerConfig) { c.logger = l })
}

// Deprecated: use WorkerConfig{Clock: c}.
func WorkerClock(c clock.Clock) WorkerOption {
	return workerOption(func(w *workerConfig) { w.clock = c })
}

// Deprecated: use WorkerConfig{OnDone: f}.
func WorkerOnDone(f func(t *Task, o Outcome, err error)) WorkerOption {
	return workerOption(func(c *workerConfig) { c.onDone = f })
}

// Deprecated: use WorkerConfig{SettleCalls: n}; WorkerAckBatches(0) is
// WorkerConfig{SettleCalls: -1}.
func WorkerAckBatches(n int) WorkerOption {
	return workerOption(func(c *workerConfig) { c.ackBatches = n })
}
