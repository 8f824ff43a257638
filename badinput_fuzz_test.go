package keyq_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
)

// FuzzLimits (S1.5, S8.4) passes arbitrary durations and sizes to every call that
// takes one: each call either works or fails with ErrInvalid (ErrLeaseLost for a
// lease call after the lease ended), and none panics. Run it longer with
// go test -fuzz FuzzLimits.
func FuzzLimits(f *testing.F) {
	for _, s := range []struct {
		d int64
		n int
	}{{0, 0}, {1, 1}, {-1, -1}, {math.MaxInt64, math.MaxInt}, {math.MinInt64, math.MinInt}, {int64(keyq.MaxDuration), keyq.MaxCount},
		{int64(keyq.MaxDuration) + 1, keyq.MaxCount + 1}, {999_999, 1 << 40}} {
		f.Add(s.d, s.n)
	}
	f.Fuzz(func(t *testing.T, d int64, n int) {
		b := memory.New()
		defer b.Close()
		ctx := context.Background()
		dur := time.Duration(d)
		ok := func(what string, err error) {
			t.Helper()
			if err != nil && !errors.Is(err, keyq.ErrInvalid) && !errors.Is(err, keyq.ErrLeaseLost) {
				t.Fatalf("%s(%v, %d): %v, want nil, ErrInvalid or ErrLeaseLost", what, dur, n, err)
			}
		}
		_, err := keyq.New(b, "ns", keyq.LeaseFor(dur), keyq.AnswerTTL(dur, dur), keyq.JobTTL(dur), keyq.OpTimeout(dur))
		ok("New", err)
		q, err := keyq.New(b, "ns")
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Enqueue(ctx, "default", []byte("x"), keyq.Delay(dur), keyq.MaxAttempts(n))
		ok("Enqueue", err)
		if _, err := q.Enqueue(ctx, "default", []byte("y")); err != nil {
			t.Fatal(err)
		}
		_, err = q.Dequeue(ctx, keyq.Batch(n), keyq.LeaseFor(dur))
		ok("Dequeue", err)
		l, err := q.Next(ctx)
		ok("Next", err)
		if l != nil {
			ok("Extend", q.Extend(ctx, l, dur))
			ok("Release", q.Release(ctx, l, keyq.Delay(dur)))
		}
		_, err = q.Peek(ctx, "default", n, n)
		ok("Peek", err)
		_, err = q.Leases(ctx, n)
		ok("Leases", err)
		_, err = q.Dead(ctx, n, n)
		ok("Dead", err)
		_, err = q.Allow(ctx, "r", dur, n)
		ok("Allow", err)
		_, err = keyq.NewWorker(q, keyq.WorkerConfig{Concurrency: n, Batch: n, SettleCalls: n},
			keyq.WorkerConfig{Lease: dur, PollWait: dur, Timeout: dur})
		ok("NewWorker", err)
	})
}
