package redisbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/keyq/keyq/memory"
	"github.com/redis/go-redis/v9"
)

// The benchmarks run on a real redis-server (started for them, or KEYQ_REDIS_URL)
// and, for comparison, on the memory backend. Run them with
//
//	go test -run '^$' -bench . ./redisbackend/

var payload100 = bytes.Repeat([]byte("x"), 100)

// benchSeq numbers benchmark tasks, so that no two share a key (a shared key with
// an answer would be deduped, not delivered).
var benchSeq atomic.Int64

func benchBackends(b *testing.B, f func(b *testing.B, be backend.Backend)) {
	b.Run("driver=memory", func(b *testing.B) {
		m := memory.New()
		defer m.Close()
		f(b, m)
	})
	b.Run("driver=redis", func(b *testing.B) {
		client := realClient(b)
		rb, err := New(client, Options{Prefix: testPrefix()})
		if err != nil {
			b.Fatal(err)
		}
		defer rb.Close()
		f(b, rb)
	})
}

// message returns a task with a distinct 100-byte payload that is also its key.
func message(i int) backend.Message {
	p := slices.Clone(payload100)
	copy(p, strconv.Itoa(i))
	return backend.Message{Key: string(p), Payload: p, MaxAttempts: 25}
}

func reportTasks(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "tasks/s")
}

// BenchmarkEnqueue measures enqueues of one 100-byte task.
func BenchmarkEnqueue(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend.Backend) {
		ctx := context.Background()
		for b.Loop() {
			if _, err := be.Enqueue(ctx, backend.EnqueueParams{Namespace: "bench", Queue: "q",
				Tasks: []backend.Message{message(int(benchSeq.Add(1)))}}); err != nil {
				b.Fatal(err)
			}
		}
		reportTasks(b, b.N)
	})
}

// cycle enqueues batch tasks, leases them and acks each with an answer, in one
// AckBatch call when the backend has it.
func cycle(ctx context.Context, be backend.Backend, ns string, first, batch int) error {
	msgs := make([]backend.Message, batch)
	for i := range msgs {
		msgs[i] = message(first + i)
	}
	if _, err := be.Enqueue(ctx, backend.EnqueueParams{Namespace: ns, Queue: "q", Tasks: msgs}); err != nil {
		return err
	}
	for got := 0; got < batch; {
		res, err := be.Dequeue(ctx, backend.DequeueParams{Namespace: ns, Queues: []string{"q"}, Count: batch - got,
			Wait: time.Second, Lease: time.Minute})
		if err != nil {
			return err
		}
		acks := make([]backend.AckParams, len(res.Leases))
		for i, l := range res.Leases {
			acks[i] = backend.AckParams{Namespace: ns, TaskID: l.ID, Token: l.Token,
				Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Minute}}
		}
		if ba, ok := be.(backend.BatchAcker); ok && len(acks) > 1 {
			errs, err := ba.AckBatch(ctx, acks)
			if err == nil {
				err = errors.Join(errs...)
			}
			if err != nil {
				return err
			}
		} else {
			for _, a := range acks {
				if err := be.Ack(ctx, a); err != nil {
					return err
				}
			}
		}
		got += len(res.Leases) + res.Deduped
	}
	return nil
}

// BenchmarkCycle measures the full cycle of a task: enqueue, lease, ack with an
// answer; with one client, with 50 concurrent clients, and in batches of 100.
func BenchmarkCycle(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend.Backend) {
		ctx := context.Background()
		b.Run("clients=1", func(b *testing.B) {
			for b.Loop() {
				if err := cycle(ctx, be, "cycle1", int(benchSeq.Add(1)), 1); err != nil {
					b.Fatal(err)
				}
			}
			reportTasks(b, b.N)
		})
		b.Run("clients=50", func(b *testing.B) {
			b.SetParallelism(max(1, 50/runtimeProcs()))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := cycle(ctx, be, "cycle50", int(benchSeq.Add(1)), 1); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportTasks(b, b.N)
		})
		b.Run("batch=100", func(b *testing.B) {
			for b.Loop() {
				if err := cycle(ctx, be, "cycle100", int(benchSeq.Add(100)), 100); err != nil {
					b.Fatal(err)
				}
			}
			reportTasks(b, 100*b.N)
		})
	})
}

// BenchmarkWakeup measures how long a consumer blocked in a waiting Dequeue takes
// to get a task from the moment its enqueue starts, and reports p50 and p99.
func BenchmarkWakeup(b *testing.B) {
	client := realClient(b)
	rb, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		b.Fatal(err)
	}
	defer rb.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ch := make(chan error, 1)
		before := rb.waiting.Load()
		go func() {
			res, err := rb.Dequeue(ctx, backend.DequeueParams{Namespace: "wake", Queues: []string{"q"}, Count: 1,
				Wait: 10 * time.Second, Lease: time.Minute})
			if err == nil && len(res.Leases) != 1 {
				err = fmt.Errorf("woke with %d tasks", len(res.Leases))
			}
			ch <- err
		}()
		for rb.waiting.Load() == before {
			time.Sleep(100 * time.Microsecond) // poll until the consumer blocks
		}
		b.StartTimer()
		start := time.Now()
		if _, err := rb.Enqueue(ctx, backend.EnqueueParams{Namespace: "wake", Queue: "q",
			Tasks: []backend.Message{message(i)}}); err != nil {
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

// BenchmarkMemory measures the server memory a queued 100-byte task costs, with job
// tracking off and on, against a bare Redis list of the same payloads, on a server
// of its own. It reports bytes per task and the ratio to the bare list.
func BenchmarkMemory(b *testing.B) {
	const n = 100_000
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	ctx := context.Background()
	used := func() int64 {
		info, err := client.Info(ctx, "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO")
		return 0
	}
	measure := func(fill func()) float64 {
		if err := client.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		before := used()
		fill()
		return float64(used()-before) / n
	}
	var bare, off, on float64
	for b.Loop() {
		bare = measure(func() {
			for i := 0; i < n; i += 1000 {
				pipe := client.Pipeline()
				for j := i; j < i+1000; j++ {
					pipe.RPush(ctx, "bare", message(j).Payload)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, track := range []bool{false, true} {
			v := measure(func() {
				rb, err := New(client, Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer rb.Close()
				for i := 0; i < n; i += 1000 {
					msgs := make([]backend.Message, 1000)
					for j := range msgs {
						msgs[j] = message(i + j)
					}
					if _, err := rb.Enqueue(ctx, backend.EnqueueParams{Namespace: "mem", Queue: "q", Tasks: msgs,
						TrackJobs: track, JobTTL: time.Hour}); err != nil {
						b.Fatal(err)
					}
				}
			})
			if track {
				on = v
			} else {
				off = v
			}
		}
	}
	b.ReportMetric(bare, "bare-B/task")
	b.ReportMetric(off, "keyq-B/task")
	b.ReportMetric(on, "keyq-tracked-B/task")
	b.ReportMetric(off/bare, "ratio")
	b.ReportMetric(on/bare, "ratio-tracked")
}

// BenchmarkRawList is the floor: go-redis pipelined RPUSH then LPOP of 100-byte
// payloads, 100 per pipeline, with no keyq at all.
func BenchmarkRawList(b *testing.B) {
	client := realClient(b)
	ctx := context.Background()
	key := testPrefix() + ":raw"
	for b.Loop() {
		pipe := client.Pipeline()
		for range 100 {
			pipe.RPush(ctx, key, payload100)
		}
		for range 100 {
			pipe.LPop(ctx, key)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reportTasks(b, 100*b.N)
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
