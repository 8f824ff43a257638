package redisbackend

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// BenchmarkWorkerPaced counts what a keyq.Worker with default options costs the
// server per task when its tasks come one at a time, slower than it runs them:
// producers that each enqueue a task every 2 ms, so the worker mostly waits. This
// is where waiting costs: a fetch that finds its queue empty, or that a wake-up
// sends to the store for nothing, is a script call with no task. It reports the
// script calls (top/task; 3 is one each for enqueue, dequeue and settle) and
// every command the server ran (cmds/task), counts that do not move with machine
// load. Run
//
//	go test -run '^$' -bench WorkerPaced -benchtime 2000x ./redisbackend/
func BenchmarkWorkerPaced(b *testing.B) {
	srv := redistest.Start(b, "--save", "", "--appendonly", "no")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			rb, err := New(client, Options{Prefix: testPrefix()})
			if err != nil {
				b.Fatal(err)
			}
			defer rb.Close()
			c, err := keyq.New(rb, "paced")
			if err != nil {
				b.Fatal(err)
			}
			w, err := keyq.NewWorker(c, keyq.WorkerConfig{Concurrency: conc})
			if err != nil {
				b.Fatal(err)
			}
			var done atomic.Int64
			w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
				done.Add(1)
				return "ok", nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran := make(chan error, 1)
			go func() { ran <- w.Run(ctx) }()
			// The worker's first fetch and registrations are not the tasks'.
			if _, err := c.Enqueue(ctx, keyq.DefaultQueue, []byte("warm-up")); err != nil {
				b.Fatal(err)
			}
			waitDone(b, &done, 1)
			if err := client.ConfigResetStat(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			const producers = 4
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := p; i < b.N; i += producers {
						if _, err := c.Enqueue(ctx, keyq.DefaultQueue, fmt.Appendf(nil, "%d", i)); err != nil {
							b.Error(err)
							return
						}
						time.Sleep(2 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			waitDone(b, &done, int64(b.N)+1)
			b.StopTimer()
			stats := commandStats(b, client)
			cancel()
			if err := <-ran; err != nil {
				b.Fatal(err)
			}
			var top, all int64
			for name, calls := range stats {
				switch name {
				case "config|resetstat", "info":
					continue
				case "fcall", "fcall_ro", "evalsha", "evalsha_ro":
					top += calls
				}
				all += calls
			}
			b.ReportMetric(float64(top)/float64(b.N), "top/task")
			b.ReportMetric(float64(all)/float64(b.N), "cmds/task")
		})
	}
}

// waitDone waits until done reaches n, failing after a minute.
func waitDone(b *testing.B, done *atomic.Int64, n int64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for done.Load() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d tasks handled after a minute", done.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}
