package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// cancelOn is a progress writer that cancels a run once a label shows on it.
type cancelOn struct {
	label  string
	cancel context.CancelFunc
}

func (w cancelOn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(w.label)) {
		w.cancel()
	}
	return len(p), nil
}

// TestBenchStoppedReportsPartial: a bench run stopped from outside (an interrupt or
// a deadline) still prints the figures it measured before it fails.
func TestBenchStoppedReportsPartial(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	// The progress bar of the second backend stops the run.
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: cancelOn{"miniredis", cancel}, Terminal: true}
	code := run(ctx, []string{"bench", "--tasks", "5000", "--workloads", "enqueue", "--json"}, env)
	if code == 0 {
		t.Fatalf("bench stopped on its second backend: exit 0\n%s", out.String())
	}
	var got []string
	for _, l := range lines(out.String()) {
		var r struct{ Backend, Workload string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("bench --json line %q: %v", l, err)
		}
		got = append(got, r.Backend+"/"+r.Workload)
	}
	if !slices.Equal(got, []string{"memory/enqueue"}) {
		t.Fatalf("a stopped bench printed %q, want the figures measured before the stop: [memory/enqueue]", got)
	}
}
