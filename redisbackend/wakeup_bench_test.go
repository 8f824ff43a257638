//go:build ignore

// re-enable when front lands: BenchmarkWakeup waits through package keyq.

package redisbackend

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// watchNS is a namespace handle that reports every Dequeue that found nothing.
// It embeds the driver's handle, so keyq finds its Notifier as usual.
type watchNS struct {
	*namespace
	empty chan struct{}
}

func (w *watchNS) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	res, err := w.namespace.Dequeue(ctx, p)
	if err == nil && len(res.Leases) == 0 {
		select {
		case w.empty <- struct{}{}:
		default:
		}
	}
	return res, err
}

// watchBackend hands out one watchNS.
type watchBackend struct {
	*Backend
	ns *watchNS
}

func (w watchBackend) Namespace(string) (backend.Namespace, error) { return w.ns, nil }

// BenchmarkWakeup measures how long a consumer waiting in keyq's Dequeue takes to
// get a task from the moment its enqueue starts, and reports p50 and p99. The
// enqueue starts once the consumer's Dequeue has found the queue empty, so the
// task can only reach it through a wake-up.
func BenchmarkWakeup(b *testing.B) {
	client := realClient(b)
	rb, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	w := &watchNS{namespace: rb.handle("wake"), empty: make(chan struct{}, 1)}
	q, err := keyq.New(watchBackend{rb, w}, "wake", keyq.WithQueues("q"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		select { // an empty Dequeue of the previous round
		case <-w.empty:
		default:
		}
		ch := make(chan error, 1)
		go func() {
			ls, err := q.Dequeue(ctx, keyq.Wait(10*time.Second))
			if err == nil && len(ls) != 1 {
				err = fmt.Errorf("woke with %d tasks", len(ls))
			}
			ch <- err
		}()
		select {
		case <-w.empty:
		case err := <-ch:
			b.Fatalf("the consumer returned before it found the queue empty: %v", err)
		case <-time.After(10 * time.Second):
			b.Fatal("the consumer's first Dequeue did not come within 10s")
		}
		b.StartTimer()
		start := time.Now()
		if _, err := w.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{message(i)}}); err != nil {
			b.Fatal(err)
		}
		if err := <-ch; err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
