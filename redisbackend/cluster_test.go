package redisbackend

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// startCluster starts three redis-server masters in cluster mode, splits the 16384
// slots between them and returns a cluster client once the cluster is up.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	return startTestCluster(t, false).cc
}

// testCluster is a cluster of three masters, each with one replica or none.
type testCluster struct {
	masters  []*redistest.Server
	replicas []*redistest.Server // replicas[i] replicates masters[i]
	cc       *redis.ClusterClient
}

// startTestCluster starts three redis-server masters in cluster mode with args,
// splits the 16384 slots between them, gives each a replica if withReplicas,
// and returns once every node knows every other, the cluster state is ok and
// each replica's link to its master is up.
func startTestCluster(t *testing.T, withReplicas bool, args ...string) *testCluster {
	t.Helper()
	ctx := context.Background()
	args = append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"}, args...)
	tc := &testCluster{}
	var addrs []string
	client := map[string]*redis.Client{}
	start := func() *redistest.Server {
		srv := redistest.Start(t, args...)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { c.Close() })
		client[srv.Addr] = c
		return srv
	}
	for range 3 {
		srv := start()
		tc.masters = append(tc.masters, srv)
		addrs = append(addrs, srv.Addr)
	}
	if withReplicas {
		for range 3 {
			tc.replicas = append(tc.replicas, start())
		}
	}
	nodes := append(slices.Clone(tc.masters), tc.replicas...)
	host, port, _ := strings.Cut(addrs[0], ":")
	for i, srv := range nodes {
		c := client[srv.Addr]
		if i < 3 {
			// CLUSTER ADDSLOTS with every slot, not ADDSLOTSRANGE, which Redis 6.2
			// and KeyDB lack.
			args := []any{"CLUSTER", "ADDSLOTS"}
			for slot := i * 16384 / 3; slot < (i+1)*16384/3; slot++ {
				args = append(args, slot)
			}
			if err := c.Do(ctx, args...).Err(); err != nil {
				t.Fatalf("CLUSTER ADDSLOTS: %v", err)
			}
		}
		if i > 0 {
			if err := c.Do(ctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
				t.Fatalf("CLUSTER MEET: %v", err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	// waitNode polls one node until ok, or fails t with what it last saw.
	waitNode := func(srv *redistest.Server, what string, ok func(c *redis.Client) (string, bool)) {
		t.Helper()
		for {
			last, done := ok(client[srv.Addr])
			if done {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s: %s not within 20s: %s", srv.Addr, what, last)
			}
			time.Sleep(20 * time.Millisecond) // poll the cluster state
		}
	}
	known := fmt.Sprintf("cluster_known_nodes:%d", len(nodes))
	for _, srv := range nodes {
		waitNode(srv, "every node known", func(c *redis.Client) (string, bool) {
			info, err := c.ClusterInfo(ctx).Result()
			return fmt.Sprint(info, err), err == nil && strings.Contains(info, known)
		})
	}
	for i, srv := range tc.replicas {
		id, err := client[tc.masters[i].Addr].Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			t.Fatalf("CLUSTER MYID: %v", err)
		}
		if err := client[srv.Addr].Do(ctx, "CLUSTER", "REPLICATE", id).Err(); err != nil {
			t.Fatalf("CLUSTER REPLICATE: %v", err)
		}
	}
	for _, srv := range nodes {
		waitNode(srv, "cluster state ok", func(c *redis.Client) (string, bool) {
			info, err := c.ClusterInfo(ctx).Result()
			return fmt.Sprint(info, err), err == nil && strings.Contains(info, "cluster_state:ok")
		})
	}
	for _, srv := range tc.replicas {
		waitNode(srv, "replica link up", func(c *redis.Client) (string, bool) {
			info, err := c.Info(ctx, "replication").Result()
			return fmt.Sprint(info, err), err == nil && strings.Contains(info, "master_link_status:up")
		})
	}
	tc.cc = redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { tc.cc.Close() })
	return tc
}

// TestClusterLibrary: every master of a cluster gets the function library, and
// gets it again after losing it, as a node new to the cluster would have none.
func TestClusterLibrary(t *testing.T) {
	cc := startCluster(t)
	t.Run("function library on every master", func(t *testing.T) {
		if !redistest.HasFunctions(t, cc) {
			t.Skip("no function library on a server without FUNCTION (Redis 6.2, KeyDB)")
		}
		b, err := New(cc, Options{Prefix: testPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx := context.Background()
		has := func() {
			t.Helper()
			err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				if names := libraries(t, c); !slices.Contains(names, libraryName) {
					t.Errorf("master %s holds libraries %v, not %s", c.Options().Addr, names, libraryName)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 { // namespaces in different slots
			roundTrip(t, b, fmt.Sprintf("ns%d", i))
		}
		has()
		if err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.FunctionFlush(ctx).Err()
		}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			roundTrip(t, b, fmt.Sprintf("ns%d", i))
		}
		has()
	})
}
