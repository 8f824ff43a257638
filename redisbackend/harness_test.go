package redisbackend

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/keyq/keyq/conformance"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// baseTime is where miniredis's clock starts in every test.
var baseTime = time.Unix(1_700_000_000, 0)

// miniTarget is a Backend on a fresh embedded miniredis whose clock starts at
// baseTime and moves only by Advance.
type miniTarget struct {
	conformance.Target
	mr     *miniredis.Miniredis
	client *redis.Client
	b      *Backend
}

func newMini(t testing.TB) *miniTarget {
	t.Helper()
	mr := miniredis.RunT(t)
	var mu sync.Mutex
	now := baseTime
	mr.SetTime(now)
	client := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { client.Close() })
	b, err := New(client, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mt := &miniTarget{mr: mr, client: client, b: b}
	mt.Target = conformance.Target{
		Backend: b,
		Waiting: func() int { return int(b.waiting.Load()) },
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return now
		},
		Advance: func(d time.Duration) {
			mu.Lock()
			now = now.Add(d)
			mr.FastForward(d)
			mr.SetTime(now)
			mu.Unlock()
			// Waiting dequeues time their next event on the host's clock, which
			// does not move here: wake them as the server would on a due event.
			for _, ch := range mr.PubSubChannels("*") {
				mr.Publish(ch, "")
			}
		},
	}
	return mt
}

// runID and nsSeq make key prefixes unique to one test in one run, so tests can
// share a real server (KEYQ_REDIS_URL) with each other and with earlier runs.
var (
	runID = time.Now().UnixNano()
	nsSeq atomic.Int64
)

// testPrefix returns a fresh key prefix.
func testPrefix() string { return fmt.Sprintf("keyqtest-%x-%d", runID, nsSeq.Add(1)) }

// realClient returns a client of a real server: the one in KEYQ_REDIS_URL, or one
// started for t and killed when t ends. Without redis-server it skips t, or fails it
// when CI is set (internal/redistest).
func realClient(t testing.TB) *redis.Client {
	t.Helper()
	url := redistest.URL(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
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
		Waiting: func() int { return int(b.waiting.Load()) },
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
