// Command peers runs keyq's benchmark workloads on keyq over Redis, on asynq, on
// BullMQ (a Node program in bullmq/, when node and its node_modules are there) and
// on raw go-redis lists (RPUSH and LPOP, one command at a time and pipelined: the
// floor under any Redis queue), against the same redis-server in the same run, and
// prints one table (or JSON) with all of them and the ratios between them, and
// beside it each workload's cost per task: Redis commands, redis-server CPU and
// client CPU (--cost, on by default), and under callgrind the server's
// instructions (--callgrind; cost/callgrind.sh runs it).
//
// It is a module of its own, so that asynq never reaches keyq's users:
//
//	redis-server --port 6390 --save '' --daemonize yes
//	cd bench/peers && go run . --redis redis://127.0.0.1:6390
//
// Every system gets the same tasks, payload size, producers and workers (asynq's
// Concurrency). asynq runs with its defaults, among them a one-second poll of
// empty queues (TaskCheckInterval), and keeps each result for an hour
// (Retention), as keyq keeps answers. Each system's keys are deleted after its
// run.
//
// --workloads picks the workloads to run (asynq and raw go-redis have only some of
// them), and --rounds N runs every system N times, interleaved (round 1: keyq,
// asynq, raw; round 2: keyq, asynq, raw; ...) so that a noisy machine slows them
// alike, and reports each result line's median run (see Medians).
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/keyq/keyq/bench"
)

// Config is the shared sizing of one run.
type Config struct {
	Tasks, Payload, Producers, Workers, Batch int
	Samples, AsynqSamples                     int
	KeyqJobs                                  bool
	// WaitReplicas and WaitTimeout are the keyq-wait system's
	// redisbackend.Options.WaitReplicas and WaitTimeout.
	WaitReplicas int
	WaitTimeout  time.Duration
	// BullMQDir is the directory of bench.mjs and its node_modules.
	BullMQDir string
	// Workloads are the workloads to run, names from bench.Workloads; nil runs
	// them all. A system skips the ones it does not have.
	Workloads []string

	meter *meter // nil: no cost measured
}

// Runs reports whether the run includes workload w.
func (c Config) Runs(w string) bool { return c.Workloads == nil || slices.Contains(c.Workloads, w) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: go run . [flags]   (in bench/peers)\n\nRuns the same workloads on keyq over Redis, asynq and raw go-redis lists against\none redis-server, and prints the results and the ratios between them. With\n--rounds N every system runs N times, interleaved, and each line is its median run.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	url := fs.String("redis", "redis://127.0.0.1:6379", "the redis-server every system uses, as a redis:// URL")
	var c Config
	fs.IntVar(&c.Tasks, "tasks", 20000, "tasks per workload")
	fs.IntVar(&c.Payload, "payload", 64, "payload bytes per task")
	fs.IntVar(&c.Producers, "producers", 2, "goroutines enqueueing")
	fs.IntVar(&c.Workers, "workers", 8, "goroutines dequeueing (asynq: Concurrency)")
	fs.IntVar(&c.Batch, "batch", 100, "tasks per call of the batched workloads (keyq batch, raw go-redis pipeline)")
	fs.IntVar(&c.Samples, "samples", 200, "rounds of the wakeup workload")
	fs.IntVar(&c.AsynqSamples, "asynq-samples", 20, "rounds of the wakeup workload on asynq, which polls once a second")
	fs.BoolVar(&c.KeyqJobs, "keyq-jobs", true, "keep keyq's job records (asynq keeps its task state regardless)")
	fs.StringVar(&c.BullMQDir, "bullmq-dir", "bullmq", "the directory of bench.mjs and its node_modules (npm ci --prefix bench/peers/bullmq)")
	fs.IntVar(&c.WaitReplicas, "wait-replicas", 1, "the keyq-wait system's WaitReplicas: replicas each enqueue and settle waits for (the server must be a master with that many replicas)")
	fs.DurationVar(&c.WaitTimeout, "wait-timeout", time.Second, "the keyq-wait system's WaitTimeout")
	cost := fs.Bool("cost", true, "measure each workload's cost per task: commands, redis-server CPU, client CPU (INFO commandstats and cpu diffs; not memory and dedupe)")
	cgSpec := fs.String("callgrind", "", "PID:OUTFILE of a redis-server under valgrind --tool=callgrind --callgrind-out-file=OUTFILE: adds its instructions per task to the cost (cost/callgrind.sh)")
	systems := fs.String("systems", "keyq,asynq,raw,bullmq", "comma-separated systems to run: keyq, asynq, raw, bullmq (bullmq needs node and npm ci --prefix bench/peers/bullmq), keyq-wait (keyq with --wait-replicas; needs a master with replicas)")
	workloads := fs.String("workloads", strings.Join(bench.Workloads, ","),
		"comma-separated workloads to run on every system that has them: "+strings.Join(bench.Workloads, ", ")+
			" (asynq and go-redis: enqueue, cycle, wakeup, memory)")
	rounds := fs.Int("rounds", 1, "runs of every system, interleaved (round 1: keyq, asynq, raw; round 2: ...); each line is the median run by tasks/s (wakeup: by p99 ms)")
	asJSON := fs.Bool("json", false, "print one JSON object per result line, then the ratios")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || c.Tasks < 1 || c.Payload < 0 || c.Producers < 1 || c.Workers < 1 || c.Batch < 1 || c.Samples < 1 || c.AsynqSamples < 1 || *rounds < 1 || c.WaitReplicas < 1 || c.WaitTimeout <= 0 {
		fmt.Fprintln(stderr, "peers: bad arguments: counts must be positive, and no positional arguments")
		fs.Usage()
		return 2
	}
	runners := map[string]func(context.Context, string, Config, func(string)) ([]bench.Result, error){
		"keyq": runKeyq, "asynq": runAsynq, "raw": runRaw, "bullmq": runBullMQ, "keyq-wait": runKeyqWait,
	}
	var names []string
	for _, s := range strings.Split(*systems, ",") {
		s = strings.TrimSpace(s)
		if runners[s] == nil {
			fmt.Fprintf(stderr, "peers: unknown system %q: want keyq, asynq, raw, bullmq or keyq-wait\n", s)
			return 2
		}
		names = append(names, s)
	}
	for _, w := range strings.Split(*workloads, ",") {
		w = strings.TrimSpace(w)
		if !slices.Contains(bench.Workloads, w) {
			fmt.Fprintf(stderr, "peers: unknown workload %q: want some of %s\n", w, strings.Join(bench.Workloads, ", "))
			return 2
		}
		if !slices.Contains(c.Workloads, w) {
			c.Workloads = append(c.Workloads, w)
		}
	}
	cg, err := parseCallgrind(*cgSpec)
	if err != nil || (cg != nil && !*cost) {
		fmt.Fprintf(stderr, "peers: %v\n", cmp.Or(err, errors.New("--callgrind needs --cost")))
		return 2
	}
	if *cost {
		if c.meter, err = newMeter(ctx, *url, cg); err != nil {
			fmt.Fprintf(stderr, "peers: cost: %v\n", err)
			return 1
		}
		defer c.meter.close()
	}
	runs := make([][]bench.Result, *rounds)
	for i := range runs {
		for _, s := range names {
			prefix := fmt.Sprintf("round %d/%d: ", i+1, *rounds)
			rs, err := runners[s](ctx, *url, c, func(msg string) { fmt.Fprintf(stderr, "peers: %s%s\n", prefix, msg) })
			if err != nil {
				fmt.Fprintf(stderr, "peers: %s%s: %v\n", prefix, s, err)
				return 1
			}
			runs[i] = append(runs[i], rs...)
		}
	}
	results := Medians(runs)
	if len(results) == 0 {
		fmt.Fprintf(stderr, "peers: systems %s run none of the workloads %s\n", *systems, *workloads)
		return 2
	}
	ratios := Ratios(results)
	if *asJSON {
		if err := bench.WriteJSON(stdout, results); err != nil {
			return 1
		}
		for _, r := range ratios {
			if err := writeRatioJSON(stdout, r); err != nil {
				return 1
			}
		}
		return 0
	}
	if err := bench.WriteTable(stdout, results); err != nil {
		return 1
	}
	fmt.Fprintln(stdout)
	if err := writeCost(stdout, results); err != nil {
		return 1
	}
	for _, r := range ratios {
		fmt.Fprintf(stdout, "%-72s %10.3f  (target %s)\n", r.Name, r.Value, r.Target)
	}
	return 0
}

// Medians reduces the results of several rounds (rounds[i] holds round i's
// results) to one line per backend, workload and batch, in the order of the
// first round: of each line's runs it keeps the one with the median tasks/s, or
// for bench.Wakeup the median p99_ms, whole (its other numbers are that run's),
// and adds "median of N rounds" to its note when there were N > 1 runs.
// For an even count of runs it keeps the lower-middle one: of the two middle runs
// in ascending order of the measure, the one with the lower value (for tasks/s the
// slower run, for p99 the one with the lower latency). Ties keep round order.
// A line that appears twice in one round (keyq with --batch 1 runs batch 1 twice)
// is two lines, matched by their order within the round.
func Medians(rounds [][]bench.Result) []bench.Result {
	type key struct {
		backend, workload string
		batch, nth        int
	}
	var order []key
	groups := map[key][]bench.Result{}
	for _, round := range rounds {
		seen := map[key]int{}
		for _, r := range round {
			k := key{r.Backend, r.Workload, r.Batch, 0}
			k.nth = seen[k]
			seen[k]++
			if _, ok := groups[k]; !ok {
				order = append(order, k)
			}
			groups[k] = append(groups[k], r)
		}
	}
	out := make([]bench.Result, 0, len(order))
	for _, k := range order {
		runs := slices.Clone(groups[k])
		measure := func(r bench.Result) float64 { return r.TasksPerS }
		if k.workload == bench.Wakeup {
			measure = func(r bench.Result) float64 { return r.P99ms }
		}
		slices.SortStableFunc(runs, func(a, b bench.Result) int { return cmp.Compare(measure(a), measure(b)) })
		m := runs[(len(runs)-1)/2]
		if len(runs) > 1 {
			if m.Note != "" {
				m.Note += "; "
			}
			m.Note += fmt.Sprintf("median of %d rounds", len(runs))
		}
		out = append(out, m)
	}
	return out
}

// Ratio compares two results of one run.
type Ratio struct {
	Name   string  `json:"ratio"`
	Value  float64 `json:"value"`
	Target string  `json:"target"`
}

// Ratios computes the comparisons issue 5 asks for, from whichever results are
// there.
func Ratios(rs []bench.Result) []Ratio {
	find := func(backend, workload string, batch int) *bench.Result {
		i := slices.IndexFunc(rs, func(r bench.Result) bool {
			return r.Backend == backend && r.Workload == workload && (batch == 0 || r.Batch == batch)
		})
		if i < 0 {
			return nil
		}
		return &rs[i]
	}
	var out []Ratio
	if k, a := find(KeyqName, bench.Cycle, 1), find(AsynqName, bench.Cycle, 1); k != nil && a != nil && a.TasksPerS > 0 {
		out = append(out, Ratio{"keyq cycle / asynq cycle (tasks/s)", k.TasksPerS / a.TasksPerS, ">= 3"})
	}
	if k, a := find(KeyqName, bench.Worker, 1), find(AsynqName, bench.Cycle, 1); k != nil && a != nil && a.TasksPerS > 0 {
		out = append(out, Ratio{"keyq.Worker cycle / asynq cycle (tasks/s)", k.TasksPerS / a.TasksPerS, ">= 3"})
	}
	for _, w := range []string{bench.Cycle, bench.Worker} {
		var kb *bench.Result
		for i := range rs {
			if rs[i].Backend == KeyqName && rs[i].Workload == w && rs[i].Batch > 1 {
				kb = &rs[i]
			}
		}
		if a := find(AsynqName, bench.Cycle, 1); kb != nil && a != nil && a.TasksPerS > 0 {
			out = append(out, Ratio{fmt.Sprintf("keyq %s batch %d / asynq cycle (tasks/s)", w, kb.Batch), kb.TasksPerS / a.TasksPerS, ">= 3"})
		}
	}
	if k := find(KeyqName, bench.Wakeup, 0); k != nil {
		out = append(out, Ratio{"keyq wakeup p99 (ms)", k.P99ms, "<= 2"})
	}
	if a := find(AsynqName, bench.Wakeup, 0); a != nil {
		out = append(out, Ratio{"asynq wakeup p99 (ms)", a.P99ms, "none; polls once a second"})
	}
	var kb, rb *bench.Result
	for i := range rs {
		r := &rs[i]
		if r.Workload == bench.Cycle && r.Batch > 1 {
			switch r.Backend {
			case KeyqName:
				kb = r
			case RawName:
				rb = r
			}
		}
	}
	if kb != nil && rb != nil && rb.TasksPerS > 0 {
		out = append(out, Ratio{"keyq batched cycle / raw pipelined cycle", kb.TasksPerS / rb.TasksPerS, ">= 0.40"})
	}
	if k, r := find(KeyqName, bench.Cycle, 1), find(RawName, bench.Cycle, 1); k != nil && r != nil && r.TasksPerS > 0 {
		out = append(out, Ratio{"keyq cycle / raw single-command cycle", k.TasksPerS / r.TasksPerS, "none"})
	}
	if k, b := find(KeyqName, bench.Worker, 1), find(BullMQName, bench.Cycle, 1); k != nil && b != nil && b.TasksPerS > 0 {
		out = append(out, Ratio{"keyq.Worker cycle / bullmq cycle (tasks/s)", k.TasksPerS / b.TasksPerS, ">= 2"})
	}
	return append(out, costRatios(find, kb, rb)...)
}

// costRatios are the comparisons of cost per task (issues 14 and 17: keyq with
// and without WaitReplicas, one task a call) between the results
// that have a cost: find looks a result up as in Ratios; kb and rb are keyq's
// and raw go-redis's batched cycles, or nil.
func costRatios(find func(backend, workload string, batch int) *bench.Result, kb, rb *bench.Result) []Ratio {
	var out []Ratio
	for _, w := range []string{bench.Enqueue, bench.Cycle, bench.Worker} {
		k, kw := find(KeyqName, w, 1), find(KeyqWaitName, w, 1)
		if k == nil || kw == nil || k.Cost == nil || kw.Cost == nil || k.Cost.ServerCPUus <= 0 {
			continue
		}
		out = append(out,
			Ratio{fmt.Sprintf("keyq %s with WaitReplicas: commands per task", w), kw.Cost.Commands, "none"},
			Ratio{fmt.Sprintf("keyq %s with WaitReplicas / without (server CPU per task)", w), kw.Cost.ServerCPUus / k.Cost.ServerCPUus, "none"})
	}
	k, a := find(KeyqName, bench.Cycle, 1), find(AsynqName, bench.Cycle, 1)
	if k == nil || k.Cost == nil {
		return out
	}
	out = append(out, Ratio{"keyq cycle commands per task", k.Cost.Commands, "<= 20"})
	if a != nil && a.Cost != nil && a.Cost.ServerCPUus > 0 {
		out = append(out, Ratio{"keyq cycle / asynq cycle (server CPU per task)", k.Cost.ServerCPUus / a.Cost.ServerCPUus, "<= 1"})
		if a.Cost.Instructions > 0 {
			out = append(out, Ratio{"keyq cycle / asynq cycle (server instructions per task)", k.Cost.Instructions / a.Cost.Instructions, "<= 1"})
		}
	}
	if kb != nil && rb != nil && kb.Cost != nil && rb.Cost != nil && rb.Cost.ServerCPUus > 0 {
		out = append(out, Ratio{"keyq batched cycle / raw pipelined cycle (server CPU per task)", kb.Cost.ServerCPUus / rb.Cost.ServerCPUus, "<= 2.5"})
		if rb.Cost.Instructions > 0 {
			out = append(out, Ratio{"keyq batched cycle / raw pipelined cycle (server instructions per task)", kb.Cost.Instructions / rb.Cost.Instructions, "<= 2.5"})
		}
	}
	return out
}
