package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq/bench"
)

// defaultTasks is the tasks per workload of each backend when --tasks is not
// given: sized so that a run with no flags ends well within a minute.
var defaultTasks = map[string]int{
	bench.MemoryBackend:    50000,
	bench.MiniredisBackend: 2000,
	bench.RedisBackend:     20000,
}

func cmdBench(ctx context.Context, args []string, env *Env) error {
	fs := newFlags(env, "keyq bench [flags]", `
Bench runs keyq's workloads on each backend and prints a table (or JSON) of the
results on stdout:

	memory   store growth per queued task: Go heap (memory, miniredis) or Redis
	         INFO used_memory, and MEMORY USAGE of the workload's keys (redis)
	enqueue  producers append tasks; p50/p99 of one enqueue call
	cycle    producers enqueue while workers dequeue, run a handler and ack each
	         task with its answer (the workers drive keyq.Client directly)
	worker   the same cycle run by keyq.Worker (concurrency --workers)
	wakeup   a consumer waits in Dequeue; a producer enqueues one task; p50/p99 of
	         the time from enqueue to delivery
	dedupe   dequeue of tasks whose key is already answered, which it drops

With no flags it runs the memory backend and the Redis backend on an embedded
miniredis, and needs no server. Add --redis URL (or --backends redis) to measure
a real server; the workloads use namespaces of their own and delete them after.`)
	tasks := fs.Int("tasks", 0, "tasks per workload (default 50000 on memory, 2000 on miniredis, 20000 on redis)")
	payload := fs.Int("payload", 64, "payload bytes per task")
	producers := fs.Int("producers", 2, "goroutines enqueueing")
	workers := fs.Int("workers", 8, "goroutines dequeueing")
	batch := fs.Int("batch", 1, "tasks per enqueue and per dequeue call")
	samples := fs.Int("samples", 200, "rounds of the wakeup workload")
	backends := fs.String("backends", "", "comma-separated backends: memory, miniredis, redis (default memory,miniredis, plus redis with --redis)")
	workloads := fs.String("workloads", strings.Join(bench.Workloads, ","), "comma-separated workloads")
	url := fs.String("redis", "", "the Redis server of the redis backend, as a redis:// URL (default $"+redisURLEnv+", or redis://127.0.0.1:6379)")
	jobs := fs.Bool("jobs", true, "keep job records (keyq.JobTracking); false saves a write per state change")
	asJSON := fs.Bool("json", false, "print one JSON object per result line")
	args, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return fs.badUsage("unexpected arguments %q", args)
	}
	names := splitList(*backends)
	if len(names) == 0 {
		names = []string{bench.MemoryBackend, bench.MiniredisBackend}
		if *url != "" {
			names = append(names, bench.RedisBackend)
		}
	}
	for _, n := range names {
		if _, ok := defaultTasks[n]; !ok {
			return fs.badUsage("unknown backend %q: want memory, miniredis or redis", n)
		}
	}
	wls := splitList(*workloads)
	for _, w := range wls {
		if !slices.Contains(bench.Workloads, w) {
			return fs.badUsage("unknown workload %q: want some of %s", w, strings.Join(bench.Workloads, ","))
		}
	}
	if *tasks < 0 || *payload < 0 || *producers < 1 || *workers < 1 || *batch < 1 || *samples < 1 {
		return fs.badUsage("--tasks and --payload must not be negative, the other counts must be positive")
	}
	if slices.Contains(names, bench.RedisBackend) && *url == "" {
		*url = defaultRedisURL()
	}

	var results []bench.Result
	report := func() error {
		if *asJSON {
			return bench.WriteJSON(env.Stdout, results)
		}
		return bench.WriteTable(env.Stdout, results)
	}
	for _, name := range names {
		t, err := openTarget(ctx, name, *url)
		if err != nil {
			return err
		}
		cfg := bench.Config{Tasks: *tasks, Payload: *payload, Producers: *producers,
			Workers: *workers, Batch: *batch, Samples: *samples, NoJobs: !*jobs}
		if cfg.Tasks == 0 {
			cfg.Tasks = defaultTasks[name]
		}
		if *payload == 0 {
			cfg.Payload = -1 // bench.Config: negative means none
		}
		for _, w := range wls {
			total := cfg.Tasks
			if w == bench.Wakeup {
				total = cfg.Samples
			}
			bar := startProgress(env, name+" "+w, total)
			cfg.Progress = bar.add
			r, err := bench.Run(ctx, w, t, cfg)
			bar.stop()
			if err != nil {
				t.Close()
				if ctx.Err() != nil && len(results) > 0 {
					_ = report() // stopped from outside: the figures measured so far
				}
				return fmt.Errorf("%s on %s: %w", w, name, err)
			}
			if r.Payload < 0 {
				r.Payload = 0
			}
			results = append(results, r)
		}
		if err := t.Close(); err != nil {
			return fmt.Errorf("closing %s: %w", name, err)
		}
	}
	return report()
}

func openTarget(ctx context.Context, name, url string) (*bench.Target, error) {
	switch name {
	case bench.MemoryBackend:
		return bench.OpenMemory(), nil
	case bench.MiniredisBackend:
		return bench.OpenMiniredis()
	default:
		ctx, cancel := context.WithTimeout(ctx, openTimeout) // as OpenRedis does
		defer cancel()
		return bench.OpenRedis(ctx, url)
	}
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// progress draws a bar on a terminal's stderr; off a terminal it does nothing.
type progress struct {
	done  atomic.Int64
	quit  chan struct{}
	ended sync.WaitGroup
}

func startProgress(env *Env, label string, total int) *progress {
	p := &progress{quit: make(chan struct{})}
	if !env.Terminal {
		return p
	}
	p.ended.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			drawBar(env.Stderr, label, int(p.done.Load()), total)
			select {
			case <-p.quit:
				fmt.Fprintf(env.Stderr, "\r%s\r", strings.Repeat(" ", 79))
				return
			case <-tick.C:
			}
		}
	})
	return p
}

func (p *progress) add(n int) { p.done.Add(int64(n)) }

func (p *progress) stop() {
	close(p.quit)
	p.ended.Wait()
}

func drawBar(w io.Writer, label string, done, total int) {
	const width = 30
	filled := 0
	if total > 0 {
		filled = min(done*width/total, width)
	}
	fmt.Fprintf(w, "\r%-24.24s [%s%s] %d/%d", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, total)
}
