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
	ctx := context.Background()
	var addrs []string
	var nodes []*redis.Client
	for range 3 {
		srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
		addrs = append(addrs, srv.Addr)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { c.Close() })
		nodes = append(nodes, c)
	}
	for i, c := range nodes {
		lo, hi := i*16384/3, (i+1)*16384/3-1
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
		}
		if i > 0 {
			host, port, _ := strings.Cut(addrs[0], ":")
			if err := c.Do(ctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
				t.Fatalf("CLUSTER MEET: %v", err)
			}
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range nodes {
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not up after 20s: %v %v", info, err)
			}
			time.Sleep(20 * time.Millisecond) // poll the cluster state
		}
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { cc.Close() })
	return cc
}

// TestClusterLibrary: every master of a cluster gets the function library, and
// gets it again after losing it, as a node new to the cluster would have none.
func TestClusterLibrary(t *testing.T) {
	cc := startCluster(t)
	t.Run("function library on every master", func(t *testing.T) {
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
