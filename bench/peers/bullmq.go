package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyq/keyq/bench"
)

// BullMQName is BullMQ's name in the results.
const BullMQName = "bullmq"

// bullmqPrefix is the key prefix of BullMQ's keys (queue keyqbench).
const bullmqPrefix = "keyqpeers:bullmq"

// bullmqLine is what bullmq/bench.mjs prints for one run.
type bullmqLine struct {
	Workload   string  `json:"workload"`
	Batch      int     `json:"batch"`
	Tasks      int     `json:"tasks"`
	Seconds    float64 `json:"seconds"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	ClientCPUs float64 `json:"client_cpu_s"`
	InfoBefore string  `json:"info_before"`
	InfoAfter  string  `json:"info_after"`
	Version    string  `json:"version"`
}

// bullmqMissing says why BullMQ cannot run from dir, or "" when it can: node in
// PATH and dir/node_modules holding bullmq.
func bullmqMissing(dir string) string {
	if _, err := exec.LookPath("node"); err != nil {
		return "not run: node not found in PATH"
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bullmq", "package.json")); err != nil {
		return fmt.Sprintf("not run: no %s; run npm ci --prefix %s", filepath.Join(dir, "node_modules", "bullmq"), dir)
	}
	return ""
}

// runBullMQ runs the workloads asynq has (enqueue, cycle, wakeup, memory), those
// of them c.Runs, on BullMQ: one run of bullmq/bench.mjs (under Node) each, add
// one by one (batch 1) and addBulk (batch c.Batch) for enqueue and cycle, a
// Worker with concurrency c.Workers whose processor returns bench.Handler's
// answer, completed jobs kept an hour. Without node or the bullmq package
// installed, each workload gets a line whose note says so and nothing measured.
func runBullMQ(ctx context.Context, url string, c Config, log func(string)) ([]bench.Result, error) {
	type run struct {
		w     string
		batch int
	}
	var runs []run
	for _, w := range []string{bench.Memory, bench.Enqueue, bench.Cycle, bench.Wakeup} {
		if !c.Runs(w) {
			continue
		}
		runs = append(runs, run{w, 1})
		if (w == bench.Enqueue || w == bench.Cycle) && c.Batch > 1 {
			runs = append(runs, run{w, c.Batch})
		}
	}
	if len(runs) == 0 {
		return nil, nil
	}
	result := func(r run) bench.Result {
		res := bench.Result{Backend: BullMQName, Workload: r.w, Producers: c.Producers, Workers: c.Workers, Batch: r.batch, Payload: c.Payload}
		if r.w == bench.Wakeup {
			res.Producers, res.Workers = 1, 1
		}
		return res
	}
	if why := bullmqMissing(c.BullMQDir); why != "" {
		log("bullmq " + why)
		var out []bench.Result
		for _, r := range runs {
			res := result(r)
			res.Note = why
			out = append(out, res)
		}
		return out, nil
	}
	rc, err := bench.NewRedisClient(ctx, url)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	cleanup := func() error { return bench.DeleteMatching(context.WithoutCancel(ctx), rc, bullmqPrefix+":*") }
	if err := cleanup(); err != nil {
		return nil, err
	}
	defer cleanup()
	var out []bench.Result
	for _, r := range runs {
		log(fmt.Sprintf("bullmq %s, batch %d", r.w, r.batch))
		var before int64
		if r.w == bench.Memory {
			if before, err = bench.UsedMemory(ctx, rc); err != nil {
				return nil, err
			}
		}
		line, err := runNode(ctx, url, c, r.w, r.batch)
		if err != nil {
			return nil, err
		}
		res := result(r)
		res.Tasks, res.Seconds, res.P50ms, res.P99ms = line.Tasks, line.Seconds, line.P50ms, line.P99ms
		if line.Seconds > 0 {
			res.TasksPerS = float64(line.Tasks) / line.Seconds
		}
		res.Note = "bullmq " + line.Version
		if r.batch > 1 {
			res.Note += ", addBulk"
		}
		if r.w == bench.Memory {
			after, err := bench.UsedMemory(ctx, rc)
			if err != nil {
				return nil, err
			}
			res.BytesPerTask = float64(after-before) / float64(line.Tasks)
			kb, err := bench.KeysMemory(ctx, rc, bullmqPrefix+":*")
			if err != nil {
				return nil, err
			}
			res.KeyBytesPerTask = float64(kb) / float64(line.Tasks)
			res.Note += fmt.Sprintf("; INFO used_memory; keys %.0f B/task", res.KeyBytesPerTask)
		}
		if c.meter != nil && costed(r.w) {
			cost, err := diffInfo(line.InfoBefore, line.InfoAfter, line.Tasks)
			if err != nil {
				return nil, err
			}
			cost.ClientCPUus = line.ClientCPUs * 1e6 / float64(line.Tasks)
			if cg := c.meter.cg; cg != nil {
				ir, err := cg.lastDump()
				if err != nil {
					return nil, err
				}
				cost.Instructions = max(0, ir-cg.idle*line.Seconds) / float64(line.Tasks)
			}
			res.Cost = cost
		}
		out = append(out, res)
		if err := cleanup(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runNode runs bullmq/bench.mjs for one workload and returns the line it printed.
// The configuration, the URL with it, goes on stdin, not the command line.
func runNode(ctx context.Context, url string, c Config, workload string, batch int) (bullmqLine, error) {
	cfg := map[string]any{
		"redis": url, "workload": workload, "batch": batch, "tasks": c.Tasks, "payload": c.Payload,
		"producers": c.Producers, "workers": c.Workers, "samples": c.Samples, "prefix": bullmqPrefix,
	}
	if c.meter != nil && c.meter.cg != nil {
		cfg["callgrindPid"] = c.meter.cg.pid
	}
	in, err := json.Marshal(cfg)
	if err != nil {
		return bullmqLine{}, err
	}
	cmd := exec.CommandContext(ctx, "node", "bench.mjs")
	cmd.Dir = c.BullMQDir
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return bullmqLine{}, fmt.Errorf("bullmq %s: node bench.mjs: %w: %s", workload, err, strings.TrimSpace(stderr.String()))
	}
	var line bullmqLine
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &line); err != nil {
		return bullmqLine{}, fmt.Errorf("bullmq %s: output %.200q: %w", workload, stdout.String(), err)
	}
	if line.Tasks <= 0 || line.Seconds <= 0 {
		return bullmqLine{}, errors.New("bullmq " + workload + ": nothing measured")
	}
	return line, nil
}
