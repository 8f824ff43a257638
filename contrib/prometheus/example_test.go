package keyqprom_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyq/keyq"
	keyqprom "github.com/keyq/keyq/contrib/prometheus"
	"github.com/keyq/keyq/memory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// A service exports its queues with a Collector and its workers with
// WorkerMetrics; a real one would serve reg with
// http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})).
func Example() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()
	q, _ := keyq.New(b, "shop")

	col, err := keyqprom.NewCollector(keyqprom.Namespace(q)) // every queue of "shop"
	if err != nil {
		panic(err)
	}
	wm := keyqprom.NewWorkerMetrics()
	reg := prometheus.NewRegistry()
	reg.MustRegister(col, wm)

	done := make(chan struct{})
	w, _ := keyq.NewWorker(q, wm.OnDone(q.Namespace()),
		keyq.WorkerAddOnDone(func(*keyq.Task, keyq.Outcome, error) { close(done) }))
	w.Use(wm.Middleware(q.Namespace()))
	w.HandleFunc("email", func(ctx context.Context, t *keyq.Task) (any, error) { return "sent", nil })

	_, _ = q.Enqueue(ctx, "default", []byte("hello"), keyq.Type("email"))
	_, _ = q.Enqueue(ctx, "default", []byte("later"), keyq.Type("email"), keyq.Delay(time.Hour))
	go func() { _ = w.Run(ctx) }()
	<-done
	_ = w.Shutdown(ctx)

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "keyq_queue_tasks", "keyq_worker_tasks_total", "keyq_up":
			var buf bytes.Buffer
			_, _ = expfmt.MetricFamilyToText(&buf, mf)
			for _, line := range strings.Split(buf.String(), "\n") {
				if line != "" && !strings.HasPrefix(line, "#") {
					fmt.Println(line)
				}
			}
		}
	}
	// Output:
	// keyq_queue_tasks{namespace="shop",queue="default",state="dead"} 0
	// keyq_queue_tasks{namespace="shop",queue="default",state="delayed"} 1
	// keyq_queue_tasks{namespace="shop",queue="default",state="leased"} 0
	// keyq_queue_tasks{namespace="shop",queue="default",state="waiting"} 0
	// keyq_up{namespace="shop"} 1
	// keyq_worker_tasks_total{namespace="shop",outcome="finished",queue="default",type="email"} 1
}
