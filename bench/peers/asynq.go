package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/keyq/keyq/bench"
	"github.com/redis/go-redis/v9"
)

const asynqQueue = "keyqbench"

// runAsynq runs the workloads on asynq: enqueue, cycle (a Server with Concurrency
// set to the workers, whose handler writes the answer with ResultWriter), wakeup
// and memory, those of them c.Runs. asynq has no batch enqueue or dequeue, and no
// dedupe on dequeue.
func runAsynq(ctx context.Context, url string, c Config, log func(string)) ([]bench.Result, error) {
	rc, err := bench.NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	c.meter.count(rc)
	cleanup := func() error {
		err := bench.DeleteMatching(ctx, rc, "asynq:{"+asynqQueue+"}*")
		return errors.Join(err, rc.SRem(ctx, "asynq:queues", asynqQueue).Err())
	}
	if err := cleanup(); err != nil {
		return nil, err
	}
	defer cleanup()
	client := asynq.NewClientFromRedisClient(rc)
	msgs := bench.Payloads(c.Tasks, c.Payload)
	result := func(workload string, n int, d time.Duration) bench.Result {
		return bench.Result{Backend: AsynqName, Workload: workload, Tasks: n, Seconds: d.Seconds(),
			TasksPerS: float64(n) / d.Seconds(), Producers: c.Producers, Workers: c.Workers, Batch: 1, Payload: c.Payload}
	}
	enqueue := func(ctx context.Context, lats *[]time.Duration, share []int) error {
		for _, i := range share {
			start := time.Now()
			if _, err := client.EnqueueContext(ctx, asynq.NewTask("bench", msgs[i].Payload),
				asynq.Queue(asynqQueue), asynq.Retention(time.Hour), asynq.MaxRetry(0)); err != nil {
				return err
			}
			if lats != nil {
				*lats = append(*lats, time.Since(start))
			}
		}
		return nil
	}
	var out []bench.Result

	if c.Runs(bench.Enqueue) {
		log("asynq enqueue")
		lats := make([][]time.Duration, c.Producers)
		s, err := c.meter.start(ctx)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := producers(ctx, c.Tasks, c.Producers, func(ctx context.Context, p int, share []int) error {
			return enqueue(ctx, &lats[p], share)
		}); err != nil {
			return nil, err
		}
		r := result(bench.Enqueue, c.Tasks, time.Since(start))
		if r.Cost, err = c.meter.stop(ctx, s, c.Tasks); err != nil {
			return nil, err
		}
		var all []time.Duration
		for _, l := range lats {
			all = append(all, l...)
		}
		r.P50ms, r.P99ms = bench.Percentiles(all)
		out = append(out, r)
		if err := cleanup(); err != nil {
			return nil, err
		}
	}

	if c.Runs(bench.Cycle) {
		log("asynq cycle")
		var handled atomic.Int64
		allDone := make(chan struct{})
		srv := newServer(rc, c.Workers, func(ctx context.Context, t *asynq.Task) error {
			if _, err := t.ResultWriter().Write(bench.Handler(t.Payload())); err != nil {
				return err
			}
			if handled.Add(1) == int64(c.Tasks) {
				close(allDone)
			}
			return nil
		})
		if err := srv.Start(asynq.HandlerFunc(srv.handler)); err != nil {
			return nil, err
		}
		s, err := c.meter.start(ctx)
		if err != nil {
			srv.Shutdown()
			return nil, err
		}
		start := time.Now()
		perr := producers(ctx, c.Tasks, c.Producers, func(ctx context.Context, _ int, share []int) error {
			return enqueue(ctx, nil, share)
		})
		if perr == nil {
			select {
			case <-allDone:
			case <-ctx.Done():
				perr = ctx.Err()
			case <-time.After(10 * time.Minute):
				perr = fmt.Errorf("cycle: %d of %d tasks handled in 10 minutes", handled.Load(), c.Tasks)
			}
		}
		d := time.Since(start)
		var cost *bench.Cost
		if perr == nil {
			cost, perr = c.meter.stop(ctx, s, c.Tasks)
		}
		srv.Shutdown()
		if perr != nil {
			return nil, perr
		}
		r := result(bench.Cycle, c.Tasks, d)
		r.Cost = cost
		out = append(out, r)
		if err := cleanup(); err != nil {
			return nil, err
		}
	}

	if c.Runs(bench.Wakeup) {
		log("asynq wakeup")
		got := make(chan time.Time, 1)
		srv := newServer(rc, 1, func(ctx context.Context, t *asynq.Task) error {
			got <- time.Now()
			return nil
		})
		if err := srv.Start(asynq.HandlerFunc(srv.handler)); err != nil {
			return nil, err
		}
		var wl []time.Duration
		s, err := c.meter.start(ctx)
		if err != nil {
			srv.Shutdown()
			return nil, err
		}
		start := time.Now()
		for i := range c.AsynqSamples {
			time.Sleep(2 * time.Millisecond) // the same idle gap as keyq's wakeup
			sent := time.Now()
			if _, err := client.EnqueueContext(ctx, asynq.NewTask("bench", fmt.Appendf(nil, "w%d", i)), asynq.Queue(asynqQueue)); err != nil {
				srv.Shutdown()
				return nil, err
			}
			select {
			case at := <-got:
				wl = append(wl, at.Sub(sent))
			case <-time.After(bench.OpTimeout): // a hang only: a slow delivery is a slow figure
				srv.Shutdown()
				return nil, fmt.Errorf("wakeup: no delivery within %v", bench.OpTimeout)
			}
		}
		r := result(bench.Wakeup, c.AsynqSamples, time.Since(start))
		r.Cost, err = c.meter.stop(ctx, s, c.AsynqSamples)
		srv.Shutdown()
		if err != nil {
			return nil, err
		}
		r.P50ms, r.P99ms = bench.Percentiles(wl)
		r.Producers, r.Workers = 1, 1
		out = append(out, r)
		if err := cleanup(); err != nil {
			return nil, err
		}
	}

	if !c.Runs(bench.Memory) {
		return out, nil
	}
	log("asynq memory")
	before, err := bench.UsedMemory(ctx, rc)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := producers(ctx, c.Tasks, c.Producers, func(ctx context.Context, _ int, share []int) error {
		return enqueue(ctx, nil, share)
	}); err != nil {
		return nil, err
	}
	r := result(bench.Memory, c.Tasks, time.Since(start))
	after, err := bench.UsedMemory(ctx, rc)
	if err != nil {
		return nil, err
	}
	r.BytesPerTask = float64(after-before) / float64(c.Tasks)
	r.Note = "INFO used_memory"
	kb, err := bench.KeysMemory(ctx, rc, "asynq:{"+asynqQueue+"}*")
	if err != nil {
		return nil, err
	}
	r.KeyBytesPerTask = float64(kb) / float64(c.Tasks)
	r.Note += fmt.Sprintf("; keys %.0f B/task", r.KeyBytesPerTask)
	out = append(out, r)
	return out, nil // the client shares rc, closed above
}

type server struct {
	*asynq.Server
	handler func(context.Context, *asynq.Task) error
}

func newServer(rc redis.UniversalClient, concurrency int, h func(context.Context, *asynq.Task) error) *server {
	srv := asynq.NewServerFromRedisClient(rc, asynq.Config{
		Concurrency: concurrency,
		Queues:      map[string]int{asynqQueue: 1},
		LogLevel:    asynq.ErrorLevel,
	})
	return &server{Server: srv, handler: h}
}

// producers splits tasks 0..n-1 among p goroutines and calls f for each share.
func producers(ctx context.Context, n, p int, f func(ctx context.Context, producer int, share []int) error) error {
	shares := make([][]int, p)
	for i := range n {
		shares[i%p] = append(shares[i%p], i)
	}
	errs := make([]error, p)
	var wg sync.WaitGroup
	for i := range p {
		wg.Go(func() { errs[i] = f(ctx, i, shares[i]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
