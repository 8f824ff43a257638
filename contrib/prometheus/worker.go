package keyqprom

import (
	"context"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultLatencyBuckets are the buckets of keyq_queue_latency_seconds unless
// LatencyBuckets says otherwise: from 5ms to about 1.5 hours, as tasks may wait for
// long behind a backlog or a backoff.
var DefaultLatencyBuckets = prometheus.ExponentialBuckets(0.005, 4, 12)

// WorkerMetrics measures what keyq workers do: how long handlers run, how long
// tasks wait between enqueue and start, and what became of each delivery. One
// WorkerMetrics may serve many workers, of one namespace or several; register it
// once with a prometheus.Registerer, then give each worker its Middleware (with
// Worker.Use) and its OnDone option (to NewWorker). Methods are safe for concurrent
// use.
type WorkerMetrics struct {
	clock    clock.Clock
	duration *prometheus.HistogramVec
	latency  *prometheus.HistogramVec
	tasks    *prometheus.CounterVec
}

// WorkerMetricsOption configures a WorkerMetrics.
type WorkerMetricsOption func(*workerMetricsConfig)

type workerMetricsConfig struct {
	clock           clock.Clock
	durationBuckets []float64
	latencyBuckets  []float64
}

// DurationBuckets sets the buckets of keyq_handler_duration_seconds, in seconds.
// The default is prometheus.DefBuckets, 5ms to 10s.
func DurationBuckets(b ...float64) WorkerMetricsOption {
	return func(c *workerMetricsConfig) { c.durationBuckets = b }
}

// LatencyBuckets sets the buckets of keyq_queue_latency_seconds, in seconds. The
// default is DefaultLatencyBuckets.
func LatencyBuckets(b ...float64) WorkerMetricsOption {
	return func(c *workerMetricsConfig) { c.latencyBuckets = b }
}

// Clock sets the clock that times handlers and tells when a task starts. The
// default is clock.Real().
func Clock(c clock.Clock) WorkerMetricsOption {
	return func(cfg *workerMetricsConfig) { cfg.clock = c }
}

// NewWorkerMetrics returns worker metrics, not yet registered. A nil clock is the
// real one.
func NewWorkerMetrics(opts ...WorkerMetricsOption) *WorkerMetrics {
	cfg := workerMetricsConfig{clock: clock.Real(), durationBuckets: prometheus.DefBuckets, latencyBuckets: DefaultLatencyBuckets}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.clock == nil {
		cfg.clock = clock.Real()
	}
	labels := []string{"namespace", "queue", "type"}
	return &WorkerMetrics{
		clock: cfg.clock,
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keyq_handler_duration_seconds",
			Help:    "How long keyq handlers ran, per delivery, panics and timeouts included.",
			Buckets: cfg.durationBuckets,
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "keyq_queue_latency_seconds",
			Help: "How long tasks waited from enqueue to the start of their handler, per delivery; " +
				"a delayed task counts its delay, a retried task counts from its first enqueue. " +
				"The enqueue time is on the store's clock.",
			Buckets: cfg.latencyBuckets,
		}, labels),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyq_worker_tasks_total",
			Help: "Deliveries keyq workers finished with, by outcome: finished, failed, retried, dead, lost, returned, cancelled or error.",
		}, append(labels, "outcome")),
	}
}

// Describe sends the descriptors of the worker metrics.
func (m *WorkerMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.duration.Describe(ch)
	m.latency.Describe(ch)
	m.tasks.Describe(ch)
}

// Collect sends the worker metrics.
func (m *WorkerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.duration.Collect(ch)
	m.latency.Collect(ch)
	m.tasks.Collect(ch)
}

// Middleware returns worker middleware, for Worker.Use, that observes
// keyq_queue_latency_seconds when a handler starts and
// keyq_handler_duration_seconds when it returns, for the workers of namespace.
// Add it first, so that it times every other middleware too.
//
// The queue latency compares the task's enqueue time, on the store's clock, with
// the worker's clock: when the two disagree, it is off by as much; a negative
// latency counts as 0.
func (m *WorkerMetrics) Middleware(namespace string) func(keyq.Handler) keyq.Handler {
	return func(next keyq.Handler) keyq.Handler {
		return keyq.HandlerFunc(func(ctx context.Context, t *keyq.Task) (any, error) {
			start := m.clock.Now()
			m.latency.WithLabelValues(namespace, t.Queue, t.Type).Observe(max(start.Sub(t.EnqueuedAt), 0).Seconds())
			defer func() {
				m.duration.WithLabelValues(namespace, t.Queue, t.Type).Observe(m.clock.Now().Sub(start).Seconds())
			}()
			return next.Handle(ctx, t)
		})
	}
}

// OnDone returns a worker option that counts each delivery's outcome in
// keyq_worker_tasks_total, for the workers of namespace. It adds its hook with
// keyq.WorkerAddOnDone, beside the application's own.
func (m *WorkerMetrics) OnDone(namespace string) keyq.WorkerOption {
	return keyq.WorkerAddOnDone(func(t *keyq.Task, o keyq.Outcome, _ error) {
		m.tasks.WithLabelValues(namespace, t.Queue, t.Type, string(o)).Inc()
	})
}
