package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/keyq/keyq/bench"
	"github.com/keyq/keyq/internal/redistest"
)

// TestBullMQ runs every BullMQ workload, tiny, end to end on a real
// redis-server: node runs bullmq/bench.mjs, and its lines come back measured,
// with their cost, in the same JSON as the Go systems'. It needs node and
// npm ci --prefix bench/peers/bullmq: it skips without them, and fails under CI.
func TestBullMQ(t *testing.T) {
	if why := bullmqMissing("bullmq"); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("BullMQ %s (CI runs npm ci --prefix bench/peers/bullmq)", why)
		}
		t.Skipf("BullMQ %s", why)
	}
	url := redistest.URL(t)
	results, ratios, _ := runJSON(t, "--redis", url, "--tasks", "60", "--samples", "3", "--batch", "10",
		"--systems", "keyq,bullmq", "--workloads", "memory,enqueue,cycle,worker,wakeup", "--json")
	var lines []string
	for _, r := range results {
		if r.Backend != BullMQName {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s %d", r.Workload, r.Batch))
		if r.Seconds <= 0 || r.TasksPerS <= 0 || !strings.HasPrefix(r.Note, "bullmq ") {
			t.Errorf("nothing measured: %+v", r)
		}
		if (r.Workload == bench.Wakeup || r.Workload == bench.Enqueue) && r.P99ms <= 0 {
			t.Errorf("no latency: %+v", r)
		}
		if r.Workload == bench.Memory && (r.BytesPerTask <= 0 || r.KeyBytesPerTask <= 0) {
			t.Errorf("no memory per task: %+v", r)
		}
		checkCost(t, r)
	}
	want := []string{"memory 1", "enqueue 1", "enqueue 10", "cycle 1", "cycle 10", "wakeup 1"}
	if !slices.Equal(lines, want) {
		t.Errorf("bullmq lines %q, want %q", lines, want)
	}
	if !slices.ContainsFunc(ratios, func(r Ratio) bool { return r.Name == "keyq.Worker cycle / bullmq cycle (tasks/s)" && r.Value > 0 }) {
		t.Errorf("no keyq.Worker / bullmq ratio: %+v", ratios)
	}
	checkClean(t, url)
}

// TestBullMQMissing checks that without BullMQ installed each of its workloads
// gets a line that says so and how to install it, and nothing measured, and the
// run goes on.
func TestBullMQMissing(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--redis", "redis://127.0.0.1:1", "--cost=false", "--systems", "bullmq",
		"--bullmq-dir", dir, "--workloads", "enqueue,wakeup", "--batch", "10", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	results, _ := parseJSON(t, out.String())
	if len(results) != 3 {
		t.Fatalf("%d lines, want enqueue 1 and 10, wakeup: %+v", len(results), results)
	}
	for _, r := range results {
		if r.Backend != BullMQName || r.TasksPerS != 0 || r.Cost != nil ||
			!strings.HasPrefix(r.Note, "not run: ") || !(strings.Contains(r.Note, "npm ci --prefix "+dir) || strings.Contains(r.Note, "node not found")) {
			t.Errorf("line %+v: want bullmq, nothing measured, a note saying why and what to run", r)
		}
	}
	if !strings.Contains(errOut.String(), "bullmq not run: ") {
		t.Errorf("stderr does not say bullmq did not run: %s", errOut.String())
	}
}
