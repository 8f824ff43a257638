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
	for _, kill := range []bool{false, true} {
		how := "CLUSTER FAILOVER"
		if kill {
			how = "SIGKILL"
		}
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			for _, durable := range []bool{true, false} {
				t.Run(fmt.Sprintf("WaitReplicas=%d", waitReplicas(durable)), func(t *testing.T) {
					t.Parallel()
					runClusterFailover(t, kill, durable)
				})
			}
		})
	}
}

func runClusterFailover(t *testing.T, kill, durable bool) {
	tc := startTestCluster(t, true, "--cluster-node-timeout", "1000", "--repl-diskless-sync-delay", "0")
	ctx := context.Background()
	opts := Options{Prefix: testPrefix(), Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	if durable {
		opts.WaitReplicas, opts.WaitTimeout = 1, time.Second
	}
	b, err := New(tc.cc, opts)
	if errors.Is(err, backend.ErrInvalid) && durable {
		t.Skipf("the driver refuses WaitReplicas on a cluster client: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// The master that holds the namespace's slot, and its replica.
	node, err := tc.cc.MasterForKey(ctx, newNSKeys(opts.Prefix, "failover").queue("q"))
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for i < len(tc.masters) && tc.masters[i].Addr != node.Options().Addr {
		i++
	}
	if i == len(tc.masters) {
		t.Fatalf("the namespace's slot is on %s, not on a master of the cluster", node.Options().Addr)
	}
	master, replica := tc.masters[i], tc.replicas[i]

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
