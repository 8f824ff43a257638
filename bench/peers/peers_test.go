package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keyq/keyq/bench"
	"github.com/keyq/keyq/internal/redistest"
)

// TestRun runs every system on a real redis-server with a small load and checks
// that each workload printed a measured line, and the ratios followed.
func TestRun(t *testing.T) {
	url := redistest.URL(t)
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--redis", url, "--tasks", "300", "--samples", "10",
		"--asynq-samples", "2", "--batch", "10", "--json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	seen := map[string]int{}
	var ratios []Ratio
	for line := range strings.Lines(out.String()) {
		var r struct {
			bench.Result
			Ratio string `json:"ratio"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if r.Ratio != "" {
			var x Ratio
			json.Unmarshal([]byte(line), &x)
			ratios = append(ratios, x)
			continue
		}
		if r.Seconds <= 0 || r.TasksPerS <= 0 {
			t.Errorf("nothing measured: %s", line)
		}
		if r.Workload == bench.Wakeup && r.P99ms <= 0 {
			t.Errorf("wakeup without latency: %s", line)
		}
		if r.Workload == bench.Memory && r.KeyBytesPerTask <= 0 {
			t.Errorf("memory without bytes per task: %s", line)
		}
		seen[r.Backend]++
	}
	if seen[KeyqName] != 9 || seen[AsynqName] != 4 || seen[RawName] != 6 {
		t.Errorf("result lines per system: %v, want keyq 9, asynq 4, go-redis 6", seen)
	}
	if len(ratios) != 8 {
		t.Errorf("%d ratios: %+v", len(ratios), ratios)
	}
	// The runs cleaned up after themselves.
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

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--tasks", "0"}, {"--systems", "keyq,rabbit"}, {"extra"}, {"--nope"}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || out.Len() != 0 || errOut.Len() == 0 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
}
