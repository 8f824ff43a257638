package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq/bench"
	"github.com/redis/go-redis/v9"
)

// runRaw runs the workloads on bare Redis lists with go-redis: RPUSH to enqueue,
// LPOP (BLPOP when empty) to dequeue, SET with EX to store the answer; one command
// a round trip (batch 1), and pipelined in batches. No leases, no retries, no
// dedupe: the floor under any Redis queue. It has the workloads enqueue, cycle,
// wakeup and memory, and runs those of them c.Runs.
func runRaw(ctx context.Context, url string, c Config, log func(string)) ([]bench.Result, error) {
	rc, err := bench.NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	c.meter.count(rc)
	prefix := "keyqpeers:raw:" + strconv.Itoa(rand.IntN(1e9)) + ":"
	list, answers := prefix+"list", prefix+"a:"
	defer bench.DeleteMatching(context.WithoutCancel(ctx), rc, prefix+"*")
	msgs := bench.Payloads(c.Tasks, c.Payload)
	result := func(workload string, batch, n int, d time.Duration) bench.Result {
		return bench.Result{Backend: RawName, Workload: workload, Tasks: n, Seconds: d.Seconds(),
			TasksPerS: float64(n) / d.Seconds(), Producers: c.Producers, Workers: c.Workers, Batch: batch, Payload: c.Payload}
	}
	// push enqueues share in pipelines of batch RPUSH commands.
	push := func(ctx context.Context, batch int, share []int, lats *[]time.Duration) error {
		for len(share) > 0 {
			k := min(batch, len(share))
			start := time.Now()
			var err error
			if k == 1 {
				err = rc.RPush(ctx, list, msgs[share[0]].Payload).Err()
			} else {
				_, err = rc.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, i := range share[:k] {
						p.RPush(ctx, list, msgs[i].Payload)
					}
					return nil
				})
			}
			if err != nil {
				return err
			}
			if lats != nil {
				*lats = append(*lats, time.Since(start))
			}
			share = share[k:]
		}
		return nil
	}
	// batches are the batch sizes workload w runs with: none when it is not asked for.
	batches := func(w string) []int {
		if !c.Runs(w) {
			return nil
		}
		return []int{1, c.Batch}
	}
	var out []bench.Result
	for _, batch := range batches(bench.Enqueue) {
		log(fmt.Sprintf("go-redis enqueue, batch %d", batch))
		lats := make([][]time.Duration, c.Producers)
		s, err := c.meter.start(ctx)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		if err := producers(ctx, c.Tasks, c.Producers, func(ctx context.Context, p int, share []int) error {
			return push(ctx, batch, share, &lats[p])
		}); err != nil {
			return nil, err
		}
		r := result(bench.Enqueue, batch, c.Tasks, time.Since(start))
		if r.Cost, err = c.meter.stop(ctx, s, c.Tasks); err != nil {
			return nil, err
		}
		var all []time.Duration
		for _, l := range lats {
			all = append(all, l...)
		}
		r.P50ms, r.P99ms = bench.Percentiles(all)
		out = append(out, r)
		if err := rc.Del(ctx, list).Err(); err != nil {
			return nil, err
		}
	}

	for _, batch := range batches(bench.Cycle) {
		log(fmt.Sprintf("go-redis cycle, batch %d", batch))
		r, err := c.meter.measure(ctx, bench.Cycle, func() (bench.Result, error) {
			d, err := rawCycle(ctx, rc, c, batch, list, answers, func(ctx context.Context, share []int) error {
				return push(ctx, batch, share, nil)
			})
			return result(bench.Cycle, batch, c.Tasks, d), err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}

	if c.Runs(bench.Wakeup) {
		log("go-redis wakeup")
		r, err := c.meter.measure(ctx, bench.Wakeup, func() (bench.Result, error) { return rawWakeup(ctx, rc, c, list) })
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}

	if !c.Runs(bench.Memory) {
		return out, nil
	}
	log("go-redis memory")
	before, err := bench.UsedMemory(ctx, rc)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := producers(ctx, c.Tasks, c.Producers, func(ctx context.Context, _ int, share []int) error {
		return push(ctx, c.Batch, share, nil)
	}); err != nil {
		return nil, err
	}
	r := result(bench.Memory, c.Batch, c.Tasks, time.Since(start))
	after, err := bench.UsedMemory(ctx, rc)
	if err != nil {
		return nil, err
	}
	r.BytesPerTask = float64(after-before) / float64(c.Tasks)
	r.Note = "INFO used_memory"
	kb, err := bench.KeysMemory(ctx, rc, list)
	if err != nil {
		return nil, err
	}
	r.KeyBytesPerTask = float64(kb) / float64(c.Tasks)
	r.Note += fmt.Sprintf("; keys %.0f B/task", r.KeyBytesPerTask)
	return append(out, r), nil
}

// rawCycle: producers push while workers pop up to batch payloads (pipelined
// LPOPs, or BLPOP for 50ms when the list is empty), run bench.Handler and SET each
// answer with a TTL (pipelined).
func rawCycle(ctx context.Context, rc *redis.Client, c Config, batch int, list, answers string, push func(context.Context, []int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var done atomic.Int64
	total := int64(c.Tasks)
	allDone := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range c.Workers {
		wg.Go(func() {
			for done.Load() < total && ctx.Err() == nil {
				var got []string
				if batch == 1 {
					v, err := rc.LPop(ctx, list).Result()
					if err == nil {
						got = append(got, v)
					} else if !errors.Is(err, redis.Nil) {
						cancel(err)
						return
					}
				} else {
					cmds, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
						for range batch {
							p.LPop(ctx, list)
						}
						return nil
					})
					if err != nil && !errors.Is(err, redis.Nil) {
						cancel(err)
						return
					}
					for _, cmd := range cmds {
						if v, err := cmd.(*redis.StringCmd).Result(); err == nil {
							got = append(got, v)
						}
					}
				}
				if len(got) == 0 {
					v, err := rc.Do(ctx, "blpop", list, 0.05).StringSlice()
					if errors.Is(err, redis.Nil) {
						continue
					} else if err != nil {
						cancel(err)
						return
					}
					got = append(got, v[1])
				}
				_, err := rc.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, v := range got {
						p.Set(ctx, answers+v, bench.Handler([]byte(v)), time.Hour)
					}
					return nil
				})
				if err != nil {
					cancel(err)
					return
				}
				if done.Add(int64(len(got))) == total {
					close(allDone)
				}
			}
		})
	}
	perr := producers(ctx, c.Tasks, c.Producers, func(ctx context.Context, _ int, share []int) error {
		return push(ctx, share)
	})
	if perr != nil {
		cancel(perr)
	}
	select {
	case <-allDone:
	case <-ctx.Done():
	}
	d := time.Since(start)
	cancel(nil)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return 0, err
	}
	if n := done.Load(); n != total {
		return 0, fmt.Errorf("raw cycle: %d of %d tasks done", n, total)
	}
	return d, nil
}

// rawWakeup: a consumer blocks in BLPOP; after the idle gap the producer RPUSHes
// one task; the latency is from the RPUSH to BLPOP's return.
func rawWakeup(ctx context.Context, rc *redis.Client, c Config, list string) (bench.Result, error) {
	type delivery struct {
		at  time.Time
		err error
	}
	waiting := make(chan struct{})
	got := make(chan delivery)
	go func() {
		for range c.Samples {
			waiting <- struct{}{}
			_, err := rc.BLPop(ctx, bench.OpTimeout, list).Result() // a hang only
			got <- delivery{time.Now(), err}
		}
	}()
	var lats []time.Duration
	start := time.Now()
	for i := range c.Samples {
		<-waiting
		time.Sleep(2 * time.Millisecond) // the same idle gap as keyq's wakeup
		sent := time.Now()
		if err := rc.RPush(ctx, list, "w"+strconv.Itoa(i)).Err(); err != nil {
			return bench.Result{}, err
		}
		d := <-got
		if d.err != nil {
			return bench.Result{}, fmt.Errorf("raw wakeup: %w", d.err)
		}
		lats = append(lats, d.at.Sub(sent))
	}
	r := bench.Result{Backend: RawName, Workload: bench.Wakeup, Tasks: c.Samples, Seconds: time.Since(start).Seconds(),
		Producers: 1, Workers: 1, Batch: 1, Payload: c.Payload}
	r.TasksPerS = float64(c.Samples) / r.Seconds
	r.P50ms, r.P99ms = bench.Percentiles(lats)
	return r, nil
}
