package memory_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// The enqueue, dequeue, ack cycle through the driver, beside a buffered channel doing
// the same hand-off, in the same run:
//
//	go test -run '^$' -bench Cycle -benchmem ./memory/
//
// Besides ns/op, which a loaded machine inflates, each reports cpu-ns/op, the
// process's CPU time per cycle (garbage collection included), which moves less
// with load: compare drivers on it with GOMAXPROCS=1. driver=floor is the least
// any driver of this API can do per cycle (three clock reads, the five
// allocations of results the caller owns), for scale.
func BenchmarkCycle(b *testing.B) {
	payload := make([]byte, 100)
	// jobs=on keeps every record for an hour, so its cost per op grows with
	// b.N (a bigger map, more for the collector to scan); jobs=expiring keeps
	// them a millisecond, the steady cost of writing and expiring them.
	for _, tc := range []struct {
		name  string
		track bool
		ttl   time.Duration
	}{
		{"driver=memory/jobs=off", false, 0},
		{"driver=memory/jobs=on", true, time.Hour},
		{"driver=memory/jobs=expiring", true, time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			m := memory.New()
			defer m.Close()
			ns := mustNamespace(b, m, "bench")
			enq := backend.EnqueueParams{Queue: "q", TrackJobs: tc.track, JobTTL: tc.ttl,
				Tasks: []backend.Message{{Key: "k", Payload: payload, MaxAttempts: 25}}}
			deq := backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: 30e9}
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := ns.Enqueue(ctx, enq); err != nil {
					b.Fatal(err)
				}
				res, err := ns.Dequeue(ctx, deq)
				if err != nil || len(res.Leases) != 1 {
					b.Fatal(err)
				}
				ack := backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(res.Leases[0]), Action: backend.Ack}}}
				if r, err := ns.Settle(ctx, ack); err != nil || r[0] != backend.SettleDone {
					b.Fatal(r, err)
				}
			}
			cpu.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
		})
	}
	b.Run("driver=floor", func(b *testing.B) {
		// What any driver must do for one cycle through this API, and nothing
		// more: three locked calls, each reading the clock once; the results
		// the caller owns (the ID slice, the ID and the token, the lease slice,
		// the payload copy, the settle results).
		var mu sync.Mutex
		var seq uint64
		clk := clock.Real()
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			mu.Lock()
			enqueued := clk.Now()
			seq++
			ids := []string{strconv.FormatUint(seq, 10)}
			mu.Unlock()
			mu.Lock()
			now := clk.Now()
			seq++
			leases := make([]backend.Lease, 0, 1)
			leases = append(leases, backend.Lease{Token: strconv.FormatUint(seq, 10), Deadline: now})
			leases[0].ID, leases[0].EnqueuedAt = ids[0], enqueued
			leases[0].Payload = slices.Clone(payload)
			mu.Unlock()
			mu.Lock()
			_ = clk.Now()
			out := make([]backend.SettleResult, 1)
			mu.Unlock()
			floorIDs, floorLeases, floorOut = ids, leases, out
		}
		cpu.report(b)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	})
	b.Run("driver=chan", func(b *testing.B) {
		ch := make(chan []byte, 1024)
		b.ReportAllocs()
		cpu := startCPU()
		for b.Loop() {
			ch <- payload
			<-ch
		}
		cpu.report(b)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	})
}

// The same cycle from GOMAXPROCS goroutines at once, each one producer and consumer.
func BenchmarkCycleParallel(b *testing.B) {
	payload := make([]byte, 100)
	b.Run("driver=memory/jobs=off", func(b *testing.B) {
		ctx := context.Background()
		m := memory.New()
		defer m.Close()
		ns := mustNamespace(b, m, "bench")
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			enq := backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Key: "k", Payload: payload, MaxAttempts: 25}}}
			deq := backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: 30e9}
			for pb.Next() {
				if _, err := ns.Enqueue(ctx, enq); err != nil {
					b.Fatal(err)
				}
				res, err := ns.Dequeue(ctx, deq)
				if err != nil {
					b.Fatal(err)
				}
				for _, l := range res.Leases {
					ack := backend.SettleParams{Items: []backend.Settlement{{LeaseRef: ref(l), Action: backend.Ack}}}
					if _, err := ns.Settle(ctx, ack); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	})
	b.Run("driver=chan", func(b *testing.B) {
		ch := make(chan []byte, 1024)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ch <- payload
				<-ch
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
	})
}

// What the floor benchmark keeps, as a caller would.
var (
	floorIDs    []string
	floorLeases []backend.Lease
	floorOut    []backend.SettleResult
)

// cpuMeter measures a benchmark's CPU time per op.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter {
	t, _ := cpuTime()
	return cpuMeter{t}
}

// report adds the metric cpu-ns/op, if the process's CPU time can be read.
func (m cpuMeter) report(b *testing.B) {
	if t, ok := cpuTime(); ok && b.N > 0 {
		b.ReportMetric(float64(t-m.start)/float64(b.N), "cpu-ns/op")
	}
}
