package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/keyq/keyq/internal/redistest"
)

// TestRunWait runs keyq with and without WaitReplicas on a master with a
// replica: the keyq-wait lines have a WAIT for each call that enqueues or settles,
// the keyq lines none, and the ratios between them follow. On a server without
// a replica, keyq-wait refuses to start.
func TestRunWait(t *testing.T) {
	master := redistest.Start(t)
	redistest.StartReplica(t, master)
	url := "redis://" + master.Addr
	results, ratios, _ := runJSON(t, "--redis", url, "--tasks", "200", "--batch", "10",
		"--workloads", "enqueue,cycle", "--systems", "keyq,keyq-wait", "--json")
	lines := 0
	for _, r := range results {
		checkCost(t, r)
		if r.Cost == nil {
			continue
		}
		waits := r.Cost.PerCommand["wait"].Calls
		switch r.Backend {
		case KeyqName:
			if waits != 0 {
				t.Errorf("keyq %s batch %d: %v WAIT per task, want none", r.Workload, r.Batch, waits)
			}
		case KeyqWaitName:
			lines++
			// One WAIT a call that enqueues or settles; concurrent calls of
			// one client may share a call, so fewer than one per call made.
			if most := 2 / float64(r.Batch); waits <= 0 || waits > most {
				t.Errorf("keyq-wait %s batch %d: %v WAIT per task, want some and at most %v", r.Workload, r.Batch, waits, most)
			}
			if !strings.Contains(r.Note, "wait_replicas=1") {
				t.Errorf("keyq-wait %s batch %d: note %q does not say wait_replicas=1", r.Workload, r.Batch, r.Note)
			}
		}
	}
	if lines != 4 {
		t.Errorf("%d keyq-wait lines with a cost, want 4 (enqueue and cycle, batch 1 and 10): %+v", lines, results)
	}
	n := 0
	for _, r := range ratios {
		if strings.Contains(r.Name, "WaitReplicas") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d WaitReplicas ratios, want 4 (commands and server CPU of enqueue and cycle): %+v", n, ratios)
	}
	checkClean(t, url)

	alone := "redis://" + redistest.Start(t).Addr
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--redis", alone, "--tasks", "10", "--workloads", "enqueue", "--systems", "keyq-wait"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "replicas connected") {
		t.Errorf("keyq-wait without a replica: exit %d, stderr %q; want exit 1 and the replica requirement", code, errOut.String())
	}
}
