package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keyq/keyq/bench"
	"github.com/keyq/keyq/internal/redistest"
)

// TestRun runs every system on a real redis-server with a small load and checks
// that each workload printed a measured line, and the ratios followed.
func TestRun(t *testing.T) {
	url := redistest.URL(t)
	results, ratios, _ := runJSON(t, "--redis", url, "--tasks", "300", "--samples", "10",
		"--asynq-samples", "2", "--batch", "10", "--systems", "keyq,asynq,raw", "--json")
	seen := map[string]int{}
	for _, r := range results {
		line := fmt.Sprintf("%+v", r)
		if r.Seconds <= 0 || r.TasksPerS <= 0 {
			t.Errorf("nothing measured: %s", line)
		}
		if r.Workload == bench.Wakeup && r.P99ms <= 0 {
			t.Errorf("wakeup without latency: %s", line)
		}
		if r.Workload == bench.Memory && r.KeyBytesPerTask <= 0 {
			t.Errorf("memory without bytes per task: %s", line)
		}
		if strings.Contains(r.Note, "median") {
			t.Errorf("a median of one round: %s", line)
		}
		checkCost(t, r)
		seen[r.Backend]++
	}
	if seen[KeyqName] != 9 || seen[AsynqName] != 4 || seen[RawName] != 6 {
		t.Errorf("result lines per system: %v, want keyq 9, asynq 4, go-redis 6", seen)
	}
	if len(ratios) != 11 {
		t.Errorf("%d ratios, want 8 of throughput and 3 of cost: %+v", len(ratios), ratios)
	}
	// Raw go-redis enqueue sends one RPUSH a task, whatever the batch: the
	// commands counted on the server and sent by the client say so.
	for _, r := range results {
		if r.Backend == RawName && r.Workload == bench.Enqueue && r.Cost != nil {
			if got := r.Cost.PerCommand["rpush"].Calls; got != 1 {
				t.Errorf("go-redis enqueue batch %d: %v RPUSH per task, want 1", r.Batch, got)
			}
			if r.Cost.Sent < 1 || r.Cost.Sent > 1.1 {
				t.Errorf("go-redis enqueue batch %d: %v commands sent per task, want 1 (and a connection's handshake)", r.Batch, r.Cost.Sent)
			}
		}
	}
	checkClean(t, url)
}

// checkCost checks that r has a cost if its workload gets one, with commands,
// server and client CPU in it, and scripts where the system runs them.
func checkCost(t *testing.T, r bench.Result) {
	t.Helper()
	if !costed(r.Workload) {
		if r.Cost != nil {
			t.Errorf("a cost for %s %s, which gets none: %+v", r.Backend, r.Workload, *r.Cost)
		}
		return
	}
	if r.Cost == nil {
		t.Errorf("no cost: %+v", r)
		return
	}
	c := *r.Cost
	if c.Commands <= 0 || c.ServerCPUus <= 0 || c.ClientCPUus <= 0 || len(c.PerCommand) == 0 {
		t.Errorf("%s %s batch %d: cost not measured: %+v", r.Backend, r.Workload, r.Batch, c)
	}
	if wantScripts := r.Backend != RawName; (c.Scripts > 0) != wantScripts || c.Scripts > c.Commands {
		t.Errorf("%s %s batch %d: %v script calls of %v commands per task", r.Backend, r.Workload, r.Batch, c.Scripts, c.Commands)
	}
	if r.Backend != BullMQName && c.Sent <= 0 {
		t.Errorf("%s %s batch %d: no commands counted as sent: %+v", r.Backend, r.Workload, r.Batch, c)
	}
}

// TestRunRounds runs one workload on two systems three times and checks that the
// output holds one median line per backend and batch, for that workload only,
// and the ratios between them.
func TestRunRounds(t *testing.T) {
	url := redistest.URL(t)
	results, ratios, stderr := runJSON(t, "--redis", url, "--tasks", "300", "--batch", "10",
		"--workloads", "cycle", "--rounds", "3", "--systems", "keyq,raw", "--json")
	lines := map[string]int{}
	for _, r := range results {
		if r.Workload != bench.Cycle {
			t.Errorf("workload %s not asked for: %+v", r.Workload, r)
		}
		if r.Seconds <= 0 || r.TasksPerS <= 0 {
			t.Errorf("nothing measured: %+v", r)
		}
		if !strings.Contains(r.Note, "median of 3 rounds") {
			t.Errorf("note %q without the rounds: %+v", r.Note, r)
		}
		lines[fmt.Sprintf("%s batch %d", r.Backend, r.Batch)]++
	}
	want := map[string]int{KeyqName + " batch 1": 1, KeyqName + " batch 10": 1, RawName + " batch 1": 1, RawName + " batch 10": 1}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("lines per backend and batch: %v, want %v", lines, want)
	}
	var names []string
	for _, r := range ratios {
		names = append(names, r.Name)
	}
	wantRatios := []string{"keyq batched cycle / raw pipelined cycle", "keyq cycle / raw single-command cycle",
		"keyq cycle commands per task", "keyq batched cycle / raw pipelined cycle (server CPU per task)"}
	if !slices.Equal(names, wantRatios) {
		t.Errorf("ratios %q, want %q", names, wantRatios)
	}
	for _, msg := range []string{"round 1/3: " + KeyqName + " cycle", "round 3/3: go-redis cycle, batch 10"} {
		if !strings.Contains(stderr, msg) {
			t.Errorf("stderr without %q:\n%s", msg, stderr)
		}
	}
	if strings.Contains(stderr, "round 4/3") || strings.Contains(stderr, "wakeup") {
		t.Errorf("stderr shows a run not asked for:\n%s", stderr)
	}
	checkClean(t, url)
}

// TestRunWorkloads checks that asynq and raw go-redis run only the workloads
// asked for, and that a selection none of the systems has is a usage error.
func TestRunWorkloads(t *testing.T) {
	url := redistest.URL(t)
	results, ratios, _ := runJSON(t, "--redis", url, "--tasks", "100", "--batch", "10",
		"--workloads", "enqueue, memory,enqueue", "--systems", "asynq,raw", "--json")
	var lines []string
	for _, r := range results {
		lines = append(lines, fmt.Sprintf("%s %s %d", r.Backend, r.Workload, r.Batch))
	}
	want := []string{"asynq enqueue 1", "asynq memory 1", "go-redis enqueue 1", "go-redis enqueue 10", "go-redis memory 10"}
	if !slices.Equal(lines, want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
	if len(ratios) != 0 {
		t.Errorf("ratios without cycle or wakeup lines: %+v", ratios)
	}
	checkClean(t, url)

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--redis", url, "--workloads", "dedupe", "--systems", "asynq,raw"}, &out, &errOut)
	if code != 2 || out.Len() != 0 || !strings.Contains(errOut.String(), "none of the workloads") {
		t.Errorf("dedupe on asynq and raw: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}
}

// runJSON runs the command with args, which ask for --json, fails t unless it
// exits 0, and returns the results and ratios it printed, and its stderr.
func runJSON(t *testing.T, args ...string) ([]bench.Result, []Ratio, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	results, ratios := parseJSON(t, out.String())
	return results, ratios, errOut.String()
}

// parseJSON splits the --json output into result lines and ratios.
func parseJSON(t *testing.T, out string) ([]bench.Result, []Ratio) {
	t.Helper()
	var results []bench.Result
	var ratios []Ratio
	for line := range strings.Lines(out) {
		var r struct {
			bench.Result
			Ratio string `json:"ratio"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if r.Ratio != "" {
			var x Ratio
			if err := json.Unmarshal([]byte(line), &x); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			ratios = append(ratios, x)
			continue
		}
		results = append(results, r.Result)
	}
	return results, ratios
}

// checkClean checks that the runs deleted their keys.
func checkClean(t *testing.T, url string) {
	t.Helper()
	rc, err := bench.NewRedisClient(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for _, pattern := range []string{"keyq:{bench-*", "asynq:{keyqbench}*", "keyqpeers:*"} {
		if keys, err := rc.Keys(context.Background(), pattern).Result(); err != nil || len(keys) > 0 {
			t.Errorf("left behind %d keys matching %s (%v): %.5q", len(keys), pattern, err, keys)
		}
	}
}

func TestMedians(t *testing.T) {
	res := func(backend, workload string, batch int, tasksPerS, p99 float64, note string) bench.Result {
		return bench.Result{Backend: backend, Workload: workload, Batch: batch, TasksPerS: tasksPerS, P99ms: p99, Note: note}
	}
	// Three rounds: the median by tasks/s, or by p99 for wakeup, whatever the
	// round it came from; the note kept, the rounds added; first-round order.
	three := [][]bench.Result{
		{res("k", bench.Cycle, 1, 300, 9, ""), res("k", bench.Cycle, 10, 1000, 1, "x"), res("k", bench.Wakeup, 1, 5, 2.0, ""), res("r", bench.Cycle, 1, 7, 0, "")},
		{res("k", bench.Cycle, 1, 100, 1, ""), res("k", bench.Cycle, 10, 3000, 2, "x"), res("k", bench.Wakeup, 1, 9, 0.5, ""), res("r", bench.Cycle, 1, 8, 0, "")},
		{res("k", bench.Cycle, 1, 200, 5, ""), res("k", bench.Cycle, 10, 2000, 3, "x"), res("k", bench.Wakeup, 1, 1, 1.0, ""), res("r", bench.Cycle, 1, 9, 0, "")},
	}
	got := Medians(three)
	want := []bench.Result{
		res("k", bench.Cycle, 1, 200, 5, "median of 3 rounds"),
		res("k", bench.Cycle, 10, 2000, 3, "x; median of 3 rounds"),
		res("k", bench.Wakeup, 1, 1, 1.0, "median of 3 rounds"),
		res("r", bench.Cycle, 1, 8, 0, "median of 3 rounds"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("three rounds:\n got %+v\nwant %+v", got, want)
	}

	// Four rounds: the lower-middle run, by tasks/s the slower of the two middle
	// ones, by p99 the lower. A line twice in a round (keyq with --batch 1) stays
	// two lines.
	var four [][]bench.Result
	for i, v := range []float64{40, 10, 30, 20} {
		four = append(four, []bench.Result{
			res("k", bench.Cycle, 1, v, 0, ""), res("k", bench.Cycle, 1, 1000+v, 0, ""),
			res("k", bench.Wakeup, 1, 0, []float64{4, 1, 3, 2}[i], "")})
	}
	got = Medians(four)
	want = []bench.Result{
		res("k", bench.Cycle, 1, 20, 0, "median of 4 rounds"),
		res("k", bench.Cycle, 1, 1020, 0, "median of 4 rounds"),
		res("k", bench.Wakeup, 1, 0, 2, "median of 4 rounds"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("four rounds:\n got %+v\nwant %+v", got, want)
	}

	// One round: the results as they were, notes untouched.
	one := [][]bench.Result{{res("k", bench.Cycle, 1, 5, 0, "x"), res("k", bench.Memory, 1, 6, 0, "")}}
	if got := Medians(one); !slices.Equal(got, one[0]) {
		t.Errorf("one round: %+v", got)
	}
	if got := Medians(nil); len(got) != 0 {
		t.Errorf("no rounds: %+v", got)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--tasks", "0"}, {"--systems", "keyq,rabbit"}, {"extra"}, {"--nope"},
		{"--rounds", "0"}, {"--rounds", "-1"}, {"--workloads", "cycle,nope"}, {"--workloads", ""}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
	// The unknown workload named, and the ones there are.
	var out, errOut bytes.Buffer
	run(context.Background(), []string{"--workloads", "cycle,nope"}, &out, &errOut)
	if msg := errOut.String(); !strings.Contains(msg, `"nope"`) || !strings.Contains(msg, strings.Join(bench.Workloads, ", ")) {
		t.Errorf("stderr %q does not name the workload and the valid ones", msg)
	}
}
