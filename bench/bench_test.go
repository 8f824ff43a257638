package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyq/keyq/internal/redistest"
)

// targets returns every backend the tests run on; the real server is skipped
// locally when redis-server is missing (redistest decides).
func targets(t testing.TB) []func(testing.TB) *Target {
	return []func(testing.TB) *Target{
		func(testing.TB) *Target { return OpenMemory() },
		func(tb testing.TB) *Target {
			tg, err := OpenMiniredis()
			if err != nil {
				tb.Fatal(err)
			}
			return tg
		},
		func(tb testing.TB) *Target {
			tg, err := OpenRedis(context.Background(), redistest.URL(tb))
			if err != nil {
				tb.Fatal(err)
			}
			return tg
		},
	}
}

var targetNames = []string{MemoryBackend, MiniredisBackend, RedisBackend}

func TestWorkloads(t *testing.T) {
	for i, open := range targets(t) {
		t.Run("driver="+targetNames[i], func(t *testing.T) {
			tg := open(t)
			t.Cleanup(func() {
				if err := tg.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			for _, batch := range []int{1, 7} {
				cfg := Config{Tasks: 200, Payload: 32, Producers: 2, Workers: 3, Batch: batch, Samples: 20}
				for _, w := range Workloads {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang only
					var progressed int
					var mu = make(chan struct{}, 1)
					cfg.Progress = func(n int) { mu <- struct{}{}; progressed += n; <-mu }
					r, err := Run(ctx, w, tg, cfg)
					cancel()
					if err != nil {
						t.Fatalf("%s batch %d: %v", w, batch, err)
					}
					want := cfg.Tasks
					if w == Wakeup {
						want = cfg.Samples
					}
					if r.Tasks != want || r.Backend != targetNames[i] || r.Workload != w {
						t.Errorf("%s: result %+v, want %d tasks of %s", w, r, want, targetNames[i])
					}
					if r.Seconds <= 0 || r.TasksPerS <= 0 {
						t.Errorf("%s: no time measured: %+v", w, r)
					}
					if (w == Enqueue || w == Wakeup) && (r.P50ms <= 0 || r.P99ms < r.P50ms) {
						t.Errorf("%s: percentiles p50 %v p99 %v", w, r.P50ms, r.P99ms)
					}
					if w == Memory {
						got := r.BytesPerTask
						if r.KeyBytesPerTask != 0 {
							// On Redis, used_memory moves with client buffers too; the
							// size of the workload's own keys does not.
							got = r.KeyBytesPerTask
						}
						if got <= float64(cfg.Payload) {
							t.Errorf("memory: %v bytes per task of %d payload bytes (%+v)", got, cfg.Payload, r)
						}
					}
					if w != Memory && progressed != want {
						t.Errorf("%s: progress reported %d of %d", w, progressed, want)
					}
				}
			}
		})
	}
}

func TestRunUnknown(t *testing.T) {
	if _, err := Run(context.Background(), "nope", OpenMemory(), Config{}); err == nil {
		t.Fatal("unknown workload ran")
	}
}

func TestPercentiles(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	p50, p99 := Percentiles(d)
	if p50 != 50 || p99 != 99 {
		t.Fatalf("p50 %v p99 %v, want 50 99", p50, p99)
	}
	if p50, p99 := Percentiles(nil); p50 != 0 || p99 != 0 {
		t.Fatalf("empty: %v %v", p50, p99)
	}
}

func TestReport(t *testing.T) {
	rs := []Result{{Backend: "memory", Workload: "wakeup", Tasks: 3, Seconds: 1.5, TasksPerS: 2, P50ms: 0.25, P99ms: 1.5}}
	var tab bytes.Buffer
	if err := WriteTable(&tab, rs); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(tab.String()), "\n"); len(lines) != 2 ||
		!strings.Contains(lines[1], "wakeup") || !strings.Contains(lines[1], "0.250") {
		t.Fatalf("table:\n%s", tab.String())
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rs); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"backend", "workload", "tasks", "seconds", "tasks_per_s", "p50_ms", "p99_ms", "bytes_per_task"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON has no %q: %s", k, js.String())
		}
	}
	// A figure the workload did not measure is null, not 0.
	if got["p50_ms"] != 0.25 || got["bytes_per_task"] != nil {
		t.Errorf("JSON p50_ms %v bytes_per_task %v, want 0.25 and null: %s", got["p50_ms"], got["bytes_per_task"], js.String())
	}
	var back Result
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back != rs[0] {
		t.Errorf("JSON read back as %+v (%v), want %+v", back, err, rs[0])
	}
}

// TestMemoryBatch checks that the memory workload enqueues in the batch it
// reports, the one asked for: its row must not claim a batch it did not use.
func TestMemoryBatch(t *testing.T) {
	tg := OpenMemory()
	defer tg.Close()
	for _, batch := range []int{1, 7} {
		var calls atomic.Int64
		cfg := Config{Tasks: 70, Producers: 1, Batch: batch, Progress: func(int) { calls.Add(1) }}
		r, err := Run(context.Background(), Memory, tg, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Batch != batch || calls.Load() != int64(70/batch) {
			t.Errorf("batch %d: the row says batch %d; the tasks went in %d enqueue calls, want %d",
				batch, r.Batch, calls.Load(), 70/batch)
		}
	}
}

// benchmark runs workload w on every backend as sub-benchmarks named
// driver=<backend>, with b.N tasks (or wakeup rounds), and reports tasks/s.
func benchmark(b *testing.B, w string, cfg Config) {
	for i, open := range targets(b) {
		b.Run("driver="+targetNames[i], func(b *testing.B) {
			tg := open(b)
			b.Cleanup(func() {
				if err := tg.Close(); err != nil {
					b.Errorf("close: %v", err)
				}
			})
			c := cfg
			c.Tasks, c.Samples = b.N, b.N
			b.ResetTimer()
			r, err := Run(context.Background(), w, tg, c)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.TasksPerS, "tasks/s")
			if r.P99ms > 0 {
				b.ReportMetric(r.P50ms, "p50-ms")
				b.ReportMetric(r.P99ms, "p99-ms")
			}
			if r.BytesPerTask != 0 {
				b.ReportMetric(r.BytesPerTask, "B/task")
			}
		})
	}
}

func BenchmarkEnqueue(b *testing.B)      { benchmark(b, Enqueue, Config{Producers: 4}) }
func BenchmarkEnqueueBatch(b *testing.B) { benchmark(b, Enqueue, Config{Producers: 4, Batch: 100}) }
func BenchmarkCycle(b *testing.B)        { benchmark(b, Cycle, Config{Producers: 2, Workers: 8}) }
func BenchmarkCycleBatch(b *testing.B) {
	benchmark(b, Cycle, Config{Producers: 2, Workers: 8, Batch: 100})
}
func BenchmarkWakeup(b *testing.B) { benchmark(b, Wakeup, Config{}) }
func BenchmarkDedupe(b *testing.B) { benchmark(b, Dedupe, Config{Workers: 2, Batch: 100}) }
func BenchmarkMemory(b *testing.B) { benchmark(b, Memory, Config{}) }
func BenchmarkWorker(b *testing.B) { benchmark(b, Worker, Config{Producers: 2, Workers: 8}) }
func BenchmarkWorkerBatch(b *testing.B) {
	benchmark(b, Worker, Config{Producers: 2, Workers: 8, Batch: 100})
}
