package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
)

// TestClusterFailover (S8.8) runs failoverLoad's producers and worker through a
// cluster client on a cluster of three masters with one replica each, and
// fails over the master of the namespace's slot mid-run: by CLUSTER FAILOVER on
// its replica, which the master joins (it stops its clients until the replica
// has caught up), or by SIGKILL, after which the other masters find it failed
// (cluster-node-timeout 1s) and its replica takes over; the killed master then
// restarts empty and rejoins as the replica. With WaitReplicas 1 none may be
// lost; without it the counts are only logged.
//
// Like every parallel test of this package, it sits in a file named after
// conformance_test.go: go test starts the top-level tests in the order of their
// files, and a test paused in t.Parallel while a conformance suite counts the
// package's goroutines (S8.3) would count as one of the driver's.
func TestClusterFailover(t *testing.T) {
	t.Parallel() // it waits on servers of its own, as TestSentinelFailover
	if testing.Short() {
		t.Skip("a cluster failover takes seconds")
	}
	failoverCases(t, "CLUSTER FAILOVER", runClusterFailover)
}

func runClusterFailover(t *testing.T, kill, durable bool) {
	tc := startTestCluster(t, true, "--cluster-node-timeout", "1000", "--repl-diskless-sync-delay", "0")
	ctx := context.Background()
	opts := Options{Prefix: testPrefix(), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	if durable {
		opts.WaitReplicas, opts.WaitTimeout = 1, time.Second
	}
	b, err := New(tc.cc, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	master, replica := tc.slotOf(t, opts.Prefix, "failover")

	how := "cluster CLUSTER FAILOVER"
	switchOver := func(t *testing.T) {
		t.Helper()
		if _, err := redistest.Command(ctx, replica.Addr, "CLUSTER", "FAILOVER"); err != nil {
			t.Fatalf("CLUSTER FAILOVER on %s: %v", replica.Addr, err)
		}
		promoted(t, replica)
	}
	if kill {
		how = "cluster SIGKILL"
		switchOver = func(t *testing.T) {
			t.Helper()
			master.Kill()
			promoted(t, replica)
			master.Restart(t) // empty: it rejoins as the replica of its old replica
		}
	}
	r := failoverLoad(t, b, switchOver)
	r.report(t, how, durable)
}

// slotOf returns the master that holds the slot of namespace ns under prefix,
// and its replica.
func (tc *testCluster) slotOf(t *testing.T, prefix, ns string) (master, replica *redistest.Server) {
	t.Helper()
	node, err := tc.cc.MasterForKey(context.Background(), newNSKeys(prefix, ns).queue("q"))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range tc.masters {
		if m.Addr == node.Options().Addr {
			return m, tc.replicas[i]
		}
	}
	t.Fatalf("the slot of namespace %q is on %s, not on a master of the cluster", ns, node.Options().Addr)
	return nil, nil
}

// TestClusterWaitReplicas (S8.8): on a cluster, WaitReplicas waits for the
// replica of the master that holds the namespace's slot. With that replica
// stopped, each enqueue returns ErrNotReplicated, though the other masters'
// replicas run (a WAIT sent to any master would find one); once it runs again,
// enqueues succeed.
func TestClusterWaitReplicas(t *testing.T) {
	t.Parallel() // it waits on servers of its own, as TestSentinelFailover
	tc := startTestCluster(t, true, "--repl-diskless-sync-delay", "0")
	opts := Options{Prefix: testPrefix(), WaitReplicas: 1, WaitTimeout: 100 * time.Millisecond}
	b, err := New(tc.cc, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	n := nsOf(b, "ns")
	_, replica := tc.slotOf(t, opts.Prefix, "ns")
	waitCond(t, 10*time.Second, "an enqueue confirmed by the replica", func() bool {
		_, err := n.Enqueue(ctx, enqueueParams("first"))
		return err == nil
	})
	replica.Pause(t)
	for i := range 6 {
		_, err := n.Enqueue(ctx, enqueueParams(fmt.Sprintf("paused-%d", i)))
		if !errors.Is(err, backend.ErrNotReplicated) {
			t.Errorf("Enqueue %d with the slot's replica stopped = %v; want ErrNotReplicated", i, err)
		}
	}
	replica.Resume(t)
	waitCond(t, 10*time.Second, "an enqueue confirmed once the replica runs again", func() bool {
		_, err := n.Enqueue(ctx, enqueueParams("resumed"))
		return err == nil
	})
}

// promoted waits until the cluster node srv is a master.
func promoted(t *testing.T, srv *redistest.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		info, err := redistest.Command(ctx, srv.Addr, "INFO", "replication")
		if err == nil && strings.Contains(info, "role:master") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the replica %s was not promoted within 30s: %q, %v", srv.Addr, info, err)
		case <-time.After(20 * time.Millisecond): // poll interval
		}
	}
}

// waitCond polls cond until it holds, or fails t after d saying what did not
// happen.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}
