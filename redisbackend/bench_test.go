package redisbackend

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
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

// BenchmarkEnqueue measures enqueues of one 100-byte task.
func BenchmarkEnqueue(b *testing.B) {
	benchBackends(b, func(b *testing.B, be backend.Backend) {
		ctx := context.Background()
		for b.Loop() {
			if _, err := benchNS(b, be, "bench").Enqueue(ctx, backend.EnqueueParams{Queue: "q",
				Tasks: []backend.Message{message(int(benchSeq.Add(1)))}}); err != nil {
				b.Fatal(err)
			}
		}
		reportTasks(b, b.N)
	})
}

// cycle enqueues batch tasks, leases them and acks each with an answer, in one
// Settle call.
func cycle(ctx context.Context, be backend.Backend, ns string, first, batch int) error {
	n, err := be.Namespace(ns)
	if err != nil {
		return err
	}
	msgs := make([]backend.Message, batch)
	for i := range msgs {
		msgs[i] = message(first + i)
	}
	if _, err := n.Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs}); err != nil {
		return err
	}
	for got := 0; got < batch; {
		res, err := n.Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: batch - got, Lease: time.Minute})
		if err != nil {
			return err
		}
		if len(res.Leases) == 0 {
			if res.Deduped == 0 {
				return fmt.Errorf("%d of %d tasks missing", batch-got, batch)
			}
			got += res.Deduped
			continue
		}
		acks := make([]backend.Settlement, len(res.Leases))
		for i, l := range res.Leases {
			acks[i] = backend.Settlement{LeaseRef: backend.LeaseRef{TaskID: l.ID, Token: l.Token}, Action: backend.Ack,
				Answer: &backend.Answer{Value: []byte("ok"), OK: true, TTL: time.Minute}}
		}
		out, err := n.Settle(ctx, backend.SettleParams{Items: acks})
		if err != nil {
			return err
		}
		for i, r := range out {
			if r != backend.SettleDone {
				return fmt.Errorf("ack %d: %v", i, r)
			}
		}
		got += len(res.Leases) + res.Deduped
	}
	return nil
}

// benchNS returns be's namespace ns.
func benchNS(b *testing.B, be backend.Backend, ns string) backend.Namespace {
	n, err := be.Namespace(ns)
	if err != nil {
		b.Fatal(err)
	}
	return n
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
					if _, err := nsOf(rb, "mem").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msgs,
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
