package web

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/keyq/keyq"
)

// Demo runs a small workload on namespace ns of c's backend until ctx ends, for
// keyq web --demo and for tests: a producer enqueues tasks of three types into
// three queues, some delayed and one binary, a few times a second; a worker
// handles them, taking a moment each, failing some once (retried) and some for
// good (dead-lettered after two attempts). It returns when the producer and the
// worker have stopped.
func Demo(ctx context.Context, c *keyq.Client) error {
	w, err := keyq.NewWorker(c, keyq.WorkerConfig{Queues: []string{"emails", "thumbnails", "reports"}},
		keyq.WorkerConfig{Concurrency: 8, Lease: 30 * time.Second},
		keyq.WorkerConfig{Backoff: func(int, error) time.Duration { return 2 * time.Second }, ShutdownTimeout: time.Second})
	if err != nil {
		return err
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var mu sync.Mutex
	chance := func(p float64) bool { mu.Lock(); defer mu.Unlock(); return rnd.Float64() < p }
	nap := func(ctx context.Context, d time.Duration) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	handle := func(ctx context.Context, t *keyq.Task) (any, error) {
		nap(ctx, time.Duration(200+len(t.Payload)%7*150)*time.Millisecond)
		switch {
		case crc32.ChecksumIEEE(t.Payload)%12 == 0:
			return nil, errors.New("upstream refused the request") // every attempt: dead-lettered
		case chance(0.08):
			return nil, errors.New("smtp: 421 try again later")
		}
		return "done", nil
	}
	w.HandleFunc("email", handle)
	w.HandleFunc("thumbnail", handle)
	w.HandleFunc("report", func(ctx context.Context, t *keyq.Task) (any, error) {
		nap(ctx, 3*time.Second) // long: its lease shows
		return handle(ctx, t)
	})
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	for i := 0; ctx.Err() == nil && err == nil; i++ {
		switch i % 5 {
		case 0, 1, 2:
			_, err = c.Enqueue(ctx, "emails", fmt.Appendf(nil, `{"to":"user%d@example.com","template":"welcome"}`, i),
				keyq.Type("email"), keyq.MaxAttempts(2))
		case 3:
			_, err = c.Enqueue(ctx, "thumbnails", []byte{0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, byte(i), byte(i >> 8)},
				keyq.Type("thumbnail"), keyq.MaxAttempts(2), keyq.Delay(time.Duration(i%3)*time.Second))
		case 4:
			_, err = c.Enqueue(ctx, "reports", fmt.Appendf(nil, "report #%d", i), keyq.Type("report"), keyq.MaxAttempts(2))
		}
		nap(ctx, 250*time.Millisecond)
	}
	stop()
	werr := <-done
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(err, werr)
}
