//go:build ignore

// re-enable when front lands: package conformance needs package keyq. The
// targets follow conformance.Target of branch conf.

package redisbackend

import (
	"context"
	"testing"
	"time"

	"github.com/keyq/keyq/conformance"
	"github.com/redis/go-redis/v9"
)

// TestConformanceMiniredis runs the shared suite on a fresh embedded miniredis per
// test, with the server's clock moved by hand.
func TestConformanceMiniredis(t *testing.T) {
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		mt := newMini(t)
		return conformance.Target{Backend: mt.b, Now: mt.Now, Advance: mt.Advance}
	}))
}

// TestConformanceRedis runs the shared suite on one real redis-server (started for
// this test, or the one in KEYQ_REDIS_URL), with a fresh key prefix per test and
// real time. The scripts run as Redis 7 functions, as they do by default on a
// server that takes them (functions.go).
func TestConformanceRedis(t *testing.T) {
	client := realClient(t)
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		return newReal(t, client)
	}))
}

// TestConformanceRedisEval runs the suite on the real server again with every
// script sent by EVALSHA, as on Redis 6.2 and KeyDB, which have no functions.
func TestConformanceRedisEval(t *testing.T) {
	client := realClient(t)
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		return newRealWith(t, client, Options{NoFunctions: true})
	}))
}

// newReal returns a target on a real server with a fresh namespace prefix.
func newReal(t testing.TB, client redis.UniversalClient) conformance.Target {
	t.Helper()
	return newRealWith(t, client, Options{})
}

// newRealWith is newReal with options; the prefix is always a fresh one.
func newRealWith(t testing.TB, client redis.UniversalClient, opts Options) conformance.Target {
	t.Helper()
	opts.Prefix = testPrefix()
	b, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	return conformance.Target{
		Backend: b,
		Now: func() time.Time {
			tm, err := client.Time(context.Background()).Result()
			if err != nil {
				t.Errorf("TIME: %v", err)
			}
			return tm.Truncate(time.Millisecond)
		},
		Advance: func(d time.Duration) { time.Sleep(d) }, // real time: the only way to move it
		Unit:    200 * time.Millisecond,
	}
}

// TestConformanceCluster runs the shared suite on a three-node Redis Cluster: every
// script must touch only keys of its namespace's slot, or the cluster refuses it.
func TestConformanceCluster(t *testing.T) {
	cc := startCluster(t)
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		return newReal(t, cc)
	}))
}
