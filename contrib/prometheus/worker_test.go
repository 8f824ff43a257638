package keyqprom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	keyqprom "github.com/keyq/keyq/contrib/prometheus"
	"github.com/keyq/keyq/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// workload enqueues into c's queue "default" a known set of tasks: two emails
// that succeed, one that fails for good, an sms that fails twice, transiently,
// and so dies after its two attempts, and a fax, for which no handler exists.
func workload(t *testing.T, c *keyq.Client) {
	t.Helper()
	ctx := context.Background()
	for _, e := range []struct {
		payload string
		opts    []keyq.EnqueueOption
	}{
		{"ok1", []keyq.EnqueueOption{keyq.Type("email")}},
		{"ok2", []keyq.EnqueueOption{keyq.Type("email")}},
		{"bad", []keyq.EnqueueOption{keyq.Type("email")}},
		{"flaky", []keyq.EnqueueOption{keyq.Type("sms"), keyq.MaxAttempts(2)}},
		{"fax", []keyq.EnqueueOption{keyq.Type("fax")}},
	} {
		if _, err := c.Enqueue(ctx, "default", []byte(e.payload), e.opts...); err != nil {
			t.Fatal(err)
		}
	}
}

// runWorkload runs a worker with m over the workload until all six deliveries are
// settled. Each handler moves advance by 250ms.
func runWorkload(t *testing.T, c *keyq.Client, m *keyqprom.WorkerMetrics, advance func(time.Duration)) {
	t.Helper()
	settled := make(chan keyq.Outcome, 10)
	w, err := keyq.NewWorker(c, keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff},
		keyq.WorkerConfig{OnDone: func(_ *keyq.Task, o keyq.Outcome, _ error) { settled <- o }},
		m.OnDone(c.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	w.Use(m.Middleware(c.Namespace()))
	handler := func(ctx context.Context, task *keyq.Task) (any, error) {
		advance(250 * time.Millisecond)
		switch string(task.Payload) {
		case "bad":
			return nil, keyq.Final(errors.New("no such address"))
		case "flaky":
			return nil, errors.New("gateway down")
		}
		return "sent", nil
	}
	w.HandleFunc("email", handler)
	w.HandleFunc("sms", handler)
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	for i := range 6 {
		recv(t, settled, fmt.Sprintf("delivery %d of 6", i+1))
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, errc, "Run to return"); err != nil {
		t.Fatal(err)
	}
}

const wantOutcomes = `
# HELP keyq_worker_tasks_total Deliveries keyq workers finished with, by outcome: finished, failed, retried, dead, lost, returned, cancelled or error.
# TYPE keyq_worker_tasks_total counter
keyq_worker_tasks_total{namespace="shop",outcome="dead",queue="default",type="fax"} 1
keyq_worker_tasks_total{namespace="shop",outcome="dead",queue="default",type="sms"} 1
keyq_worker_tasks_total{namespace="shop",outcome="failed",queue="default",type="email"} 1
keyq_worker_tasks_total{namespace="shop",outcome="finished",queue="default",type="email"} 2
keyq_worker_tasks_total{namespace="shop",outcome="retried",queue="default",type="sms"} 1
`

// TestWorkerMetricsExact runs the workload on the memory backend with a fake
// clock, shared by the store and the metrics, so that every latency and duration
// is known: the tasks are enqueued at the epoch, the worker starts 2s later, and
// each handler takes 250ms. It checks the histograms and outcome counters of a
// live registry, beside the store collector, and lints the whole scrape.
func TestWorkerMetricsExact(t *testing.T) {
	fake := clock.NewFake(epoch)
	b := memory.New(memory.WithClock(fake))
	t.Cleanup(func() { _ = b.Close() })
	c, err := keyq.New(b, "shop")
	if err != nil {
		t.Fatal(err)
	}
	m := keyqprom.NewWorkerMetrics(keyqprom.Clock(fake), keyqprom.DurationBuckets(0.1, 1), keyqprom.LatencyBuckets(1, 2.5, 10))
	col, err := keyqprom.NewCollector(keyqprom.Namespace(c))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m, col)

	workload(t, c)
	fake.Advance(2 * time.Second)
	runWorkload(t, c, m, fake.Advance)

	// Starts, in order: ok1 at 2s, ok2 at 2.25s, bad at 2.5s, flaky at 2.75s and,
	// retried at once to the head, at 3s; the fax has no handler to time.
	want := `
# HELP keyq_handler_duration_seconds How long keyq handlers ran, per delivery, panics and timeouts included.
# TYPE keyq_handler_duration_seconds histogram
keyq_handler_duration_seconds_bucket{namespace="shop",queue="default",type="email",le="0.1"} 0
keyq_handler_duration_seconds_bucket{namespace="shop",queue="default",type="email",le="1"} 3
keyq_handler_duration_seconds_bucket{namespace="shop",queue="default",type="email",le="+Inf"} 3
keyq_handler_duration_seconds_sum{namespace="shop",queue="default",type="email"} 0.75
keyq_handler_duration_seconds_count{namespace="shop",queue="default",type="email"} 3
keyq_handler_duration_seconds_bucket{namespace="shop",queue="default",type="sms",le="0.1"} 0
keyq_handler_duration_seconds_bucket{namespace="shop",queue="default",type="sms",le="1"} 2
keyq_handler_duration_seconds_bucket{namespace="shop",queue="default",type="sms",le="+Inf"} 2
keyq_handler_duration_seconds_sum{namespace="shop",queue="default",type="sms"} 0.5
keyq_handler_duration_seconds_count{namespace="shop",queue="default",type="sms"} 2
# HELP keyq_queue_latency_seconds How long tasks waited from enqueue to the start of their handler, per delivery; a delayed task counts its delay, a retried task counts from its first enqueue. The enqueue time is on the store's clock.
# TYPE keyq_queue_latency_seconds histogram
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="email",le="1"} 0
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="email",le="2.5"} 3
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="email",le="10"} 3
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="email",le="+Inf"} 3
keyq_queue_latency_seconds_sum{namespace="shop",queue="default",type="email"} 6.75
keyq_queue_latency_seconds_count{namespace="shop",queue="default",type="email"} 3
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="sms",le="1"} 0
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="sms",le="2.5"} 0
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="sms",le="10"} 2
keyq_queue_latency_seconds_bucket{namespace="shop",queue="default",type="sms",le="+Inf"} 2
keyq_queue_latency_seconds_sum{namespace="shop",queue="default",type="sms"} 5.75
keyq_queue_latency_seconds_count{namespace="shop",queue="default",type="sms"} 2
# HELP keyq_queue_tasks Tasks of a queue by state (waiting, leased, delayed, dead), read from the store at scrape time.
# TYPE keyq_queue_tasks gauge
keyq_queue_tasks{namespace="shop",queue="default",state="dead"} 2
keyq_queue_tasks{namespace="shop",queue="default",state="delayed"} 0
keyq_queue_tasks{namespace="shop",queue="default",state="leased"} 0
keyq_queue_tasks{namespace="shop",queue="default",state="waiting"} 0
` + wantOutcomes
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"keyq_handler_duration_seconds", "keyq_queue_latency_seconds", "keyq_worker_tasks_total", "keyq_queue_tasks"); err != nil {
		t.Error(err)
	}
	lint(t, reg)
	if testing.Verbose() {
		t.Logf("one scrape over HTTP:\n%s", scrape(t, reg))
	}
}

// TestWorkerMetrics runs the workload on every backend on real time and checks the
// outcome counters and how many latencies and durations were observed.
func TestWorkerMetrics(t *testing.T) {
	for _, bk := range backends {
		t.Run(bk.name, func(t *testing.T) {
			c, err := keyq.New(bk.open(t), "shop")
			if err != nil {
				t.Fatal(err)
			}
			m := keyqprom.NewWorkerMetrics()
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(m)
			workload(t, c)
			runWorkload(t, c, m, func(time.Duration) {})
			if err := testutil.GatherAndCompare(reg, strings.NewReader(wantOutcomes), "keyq_worker_tasks_total"); err != nil {
				t.Error(err)
			}
			for _, name := range []string{"keyq_handler_duration_seconds", "keyq_queue_latency_seconds"} {
				for typ, n := range map[string]float64{"email": 3, "sms": 2} {
					if got := gathered(t, reg, name, map[string]string{"type": typ}); got != n {
						t.Errorf("%s{type=%q} has %v observations, want %v", name, typ, got, n)
					}
				}
			}
			lint(t, reg)
		})
	}
}
