package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestClockSkew: leases, extensions and reclaims follow the server's clock
// (S4.1, S7.3), and an empty Dequeue tells on it when the next lease expires.
// The driver reads no host clock, so a skewed host cannot mislead it. (The
// miniredis conformance run makes the same point: its server clock is years
// away from the host's.)
func TestClockSkew(t *testing.T) {
	client := realClient(t)
	ctx := context.Background()
	prefix := testPrefix()
	producer, err := New(client, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	consumer, err := New(client, Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ns := "skew"
	serverNow := func() time.Time {
		tm, err := client.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	near := func(what string, got, want time.Time) {
		t.Helper()
		// An hour off would be 3600s; the slack covers a slow test machine.
		if d := got.Sub(want); d < -2*time.Second || d > 2*time.Second {
			t.Fatalf("%s %v is %v off the server's %v", what, got, d, want)
		}
	}

	// Leases long enough for the calls inside them on a loaded machine: an hour's
	// skew is far beyond the slack either way.
	pn, cn := nsOf(producer, ns), nsOf(consumer, ns)
	enqueueOne(t, pn, "a")
	p := dq()
	p.Lease = 20 * time.Second
	res, err := cn.Dequeue(ctx, p)
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("Dequeue: %+v, %v", res, err)
	}
	l := res.Leases[0]
	now := serverNow()
	near("EnqueuedAt", l.EnqueuedAt, now)
	near("Deadline", l.Deadline, now.Add(p.Lease))
	dl, err := extend1(ctx, cn, ref(l), 30*time.Second)
	if err != nil {
		t.Fatalf("Extend: %v", err)
	}
	near("extended Deadline", dl, serverNow().Add(30*time.Second))
	if err := ack1(ctx, cn, l); err != nil {
		t.Fatalf("Ack within the lease: %v", err)
	}

	// A lease left to expire comes back after its duration on the server's clock,
	// which an empty Dequeue reports.
	enqueueOne(t, pn, "b")
	p.Lease = 300 * time.Millisecond
	if res, err = cn.Dequeue(ctx, p); err != nil || len(res.Leases) != 1 {
		t.Fatalf("Dequeue b: %+v, %v", res, err)
	}
	res, err = cn.Dequeue(ctx, p)
	// Deadlines round up to the millisecond, the server's now down: Next may be
	// a millisecond over the lease.
	if err != nil || len(res.Leases) != 0 || res.Next <= 0 || res.Next > p.Lease+time.Millisecond {
		t.Fatalf("Dequeue within the lease: %+v, %v; want nothing and Next in (0, %v]", res, err, p.Lease+time.Millisecond)
	}
	time.Sleep(res.Next) // the time the server said the lease ends
	res, err = cn.Dequeue(ctx, p)
	if err != nil || len(res.Leases) != 1 || res.Leases[0].Attempt != 1 {
		t.Fatalf("Dequeue after expiry: %+v, %v; want b at attempt 1", res, err)
	}
}

// runLoad enqueues n tasks with unique keys k0..k(n-1) from one producer while
// consumers lease and ack them with answers, calling during() meanwhile. It retries
// calls that fail (the store may be down) and checks that every task whose enqueue
// succeeded ends acked, and that no acked task is delivered again.
func runLoad(t *testing.T, newBackend func() *Backend, n, consumers int, during func(done <-chan struct{})) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a hang only
	defer cancel()
	ns := "load"
	var failedCalls atomic.Int64 // calls that failed and were retried, for the log
	backoff := func() {          // retry pacing while the store is down
		failedCalls.Add(1)
		time.Sleep(5 * time.Millisecond)
	}

	var mu sync.Mutex
	acked := make(map[string]bool) // task IDs
	deduped := 0
	var failure error
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		cancel()
	}

	prod := newBackend()
	defer prod.Close()
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range n {
			key := fmt.Sprintf("k%d", i)
			for {
				// Unique: a retry of an enqueue that did happen is ErrDuplicate.
				_, err := nsOf(prod, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Unique: true,
					Tasks: []backend.Message{{Key: key, Payload: []byte(key), MaxAttempts: 1000}}})
				if err == nil || errors.Is(err, backend.ErrDuplicate) {
					break
				}
				if ctx.Err() != nil {
					return
				}
				backoff()
			}
		}
	}()

	answered := func(b *Backend, key string) bool {
		_, err := nsOf(b, ns).GetAnswer(ctx, backend.GetAnswerParams{Key: key})
		return err == nil
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := newBackend()
			defer b.Close()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 4,
					Lease: 2 * time.Second})
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					backoff()
					continue
				}
				if len(res.Leases) == 0 {
					time.Sleep(5 * time.Millisecond) // poll pacing: nothing to lease yet
				}
				mu.Lock()
				deduped += res.Deduped
				for _, l := range res.Leases {
					if acked[l.ID] {
						mu.Unlock()
						fail(fmt.Errorf("task %s (%s) was acked and came back", l.ID, l.Payload))
						return
					}
				}
				mu.Unlock()
				for _, l := range res.Leases {
					ap := backend.Settlement{LeaseRef: ref(l), Action: backend.Ack,
						Answer: &backend.Answer{Value: l.Payload, OK: true, TTL: time.Hour}}
					for {
						err := settle1(ctx, nsOf(b, ns), ap)
						if err == nil || (errors.Is(err, backend.ErrLeaseLost) && answered(b, l.Key)) {
							mu.Lock()
							acked[l.ID] = true
							mu.Unlock()
							break
						}
						if errors.Is(err, backend.ErrLeaseLost) || ctx.Err() != nil {
							break // it will be delivered again
						}
						backoff()
					}
				}
			}
		}()
	}
	during(produced)
	<-produced

	// Every task ends acked: wait until the store holds every answer.
	check := newBackend()
	defer check.Close()
	for i := 0; i < n; {
		if ctx.Err() != nil {
			break
		}
		if answered(check, fmt.Sprintf("k%d", i)) {
			i++
			continue
		}
		time.Sleep(10 * time.Millisecond) // consumers are still working: look again
	}
	close(stop)
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	if ctx.Err() != nil {
		t.Fatalf("not every task was acked within the time limit")
	}
	if deduped != 0 {
		t.Fatalf("%d acked tasks came back and were deduped", deduped)
	}
	st, err := nsOf(check, ns).Stats(context.Background(), backend.StatsParams{Queues: []string{"q"}})
	if err != nil {
		t.Fatal(err)
	}
	if q := st.Queues["q"]; q.Waiting != 0 || q.Leased != 0 || q.Delayed != 0 || q.Dead != 0 {
		t.Fatalf("queue not empty at the end: %+v", q)
	}
	t.Logf("%d tasks, %d acks, %d failed calls retried, counters %+v", n, len(acked), failedCalls.Load(), st.Counters)
}

// TestScriptFlush: SCRIPT FLUSH, and on a real server FUNCTION FLUSH, while
// producers and consumers run cost nothing: scripts are sent again, the function
// library is loaded again, and no task is lost or delivered after its ack.
func TestScriptFlush(t *testing.T) {
	scripts := func(c *redis.Client) error { return c.ScriptFlush(context.Background()).Err() }
	both := func(c *redis.Client) error {
		if err := c.FunctionFlush(context.Background()).Err(); err != nil {
			return err
		}
		return scripts(c)
	}
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) *redis.Client
		flush  func(c *redis.Client) error
	}{
		{"miniredis", func(t *testing.T) *redis.Client { return newMini(t).client }, scripts},
		{"redis", func(t *testing.T) *redis.Client { return realClient(t) }, both},
	} {
		t.Run("driver="+tc.name, func(t *testing.T) {
			c := tc.client(t)
			flush := tc.flush
			if tc.name == "redis" && !redistest.HasFunctions(t, c) {
				flush = scripts
			}
			prefix := testPrefix()
			runLoad(t, func() *Backend {
				b, err := New(c, Options{Prefix: prefix})
				if err != nil {
					t.Fatal(err)
				}
				return b
			}, 500, 3, func(done <-chan struct{}) {
				flushes := 0
				for {
					select {
					case <-done:
						t.Logf("%d flushes", flushes)
						return
					default:
					}
					if err := flush(c); err != nil {
						t.Errorf("flush: %v", err)
						return
					}
					flushes++
					time.Sleep(2 * time.Millisecond) // flush pacing
				}
			})
		})
	}
}

// TestServerRestart: a real server killed (SIGKILL) and restarted with an
// append-only file fsynced at every write, twice, while a producer and consumers
// run: the clients recover by themselves, no acked task comes back and no task
// whose enqueue succeeded is lost.
func TestServerRestart(t *testing.T) {
	srv := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "always")
	// No go-redis retries: the test retries itself, with unique enqueues.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: time.Second})
	defer client.Close()
	runLoad(t, func() *Backend {
		b, err := New(client, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}, 2000, 4, func(done <-chan struct{}) {
		for range 2 {
			deadline := time.After(150 * time.Millisecond)
			select {
			case <-done:
				t.Log("producer finished before a restart")
				return
			case <-deadline: // let the load run a while
			}
			srv.Restart(t)
			t.Log("server killed and restarted")
		}
	})
}
