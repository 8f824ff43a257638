package redisbackend

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// TestCloseLeavesNoGoroutine (S8.3): many Notify calls wait on a server that
// accepts connections and never answers, so their subscriptions never confirm;
// Close ends them with ErrClosed, and once it has returned no goroutine of the
// Backend's waiter, nor one it started in go-redis's Pub/Sub, is left.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	addr := silentServer(t)
	// Short timeouts: Close waits for go-redis's Pub/Sub, which holds its lock
	// while it connects (waiter.close).
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	defer client.Close()
	b, err := New(client, Options{AllowEviction: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := nsOf(b, "ns").Notify(context.Background(), func(backend.Wake) {})
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for countStacks("redisbackend.(*waiter).register") < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Notify calls reached the waiter in 10s", countStacks("redisbackend.(*waiter).register"), n)
		}
		time.Sleep(5 * time.Millisecond) // polling for goroutines to arrive, bounded above
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Close took %v", time.Since(start))
	if k := countStacks("redisbackend.(*waiter)") + countStacks("redis.(*PubSub)"); k != 0 {
		t.Errorf("after Close, %d goroutines of the waiter or its Pub/Sub are left:\n%s", k, stacks())
	}
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, backend.ErrClosed) {
				t.Fatalf("a waiting Notify ended with %v, want ErrClosed", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiting Notify did not return within 10s of Close")
		}
	}
}

func stacks() string {
	buf := make([]byte, 1<<22)
	return string(buf[:runtime.Stack(buf, true)])
}

// countStacks counts the goroutines whose stack holds fn.
func countStacks(fn string) int {
	k := 0
	for _, g := range strings.Split(stacks(), "\n\n") {
		if strings.Contains(g, fn) {
			k++
		}
	}
	return k
}
