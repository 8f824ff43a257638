package redisbackend

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// waitResult is what a Dequeue started in a goroutine returned.
type waitResult struct {
	res backend.DequeueResult
	err error
	d   time.Duration
}

func startDequeue(ctx context.Context, b *Backend, p backend.DequeueParams) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		start := time.Now()
		res, err := b.Dequeue(ctx, p)
		ch <- waitResult{res, err, time.Since(start)}
	}()
	return ch
}

// waitBlocked returns once n Dequeue calls of b are blocked waiting.
func waitBlocked(t *testing.T, b *Backend, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for b.waiting.Load() < int64(n) {
		if time.Now().After(deadline) {
			t.Fatalf("no Dequeue started waiting within 30s (want %d waiting)", n)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

func receiveWithin(t *testing.T, ch <-chan waitResult, d time.Duration, what string) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("%s: Dequeue still blocked after %v", what, d)
		panic("unreachable")
	}
}

func dq(ns string, wait time.Duration) backend.DequeueParams {
	return backend.DequeueParams{Namespace: ns, Queues: []string{"q"}, Count: 1, Wait: wait, Lease: time.Minute}
}

func enqueueOne(t *testing.T, b backend.Backend, ns, payload string) string {
	t.Helper()
	ids, err := b.Enqueue(context.Background(), backend.EnqueueParams{Namespace: ns, Queue: "q",
		Tasks: []backend.Message{{Key: payload, Payload: []byte(payload), MaxAttempts: 25}}})
	if err != nil {
		t.Fatalf("Enqueue(%q): %v", payload, err)
	}
	return ids[0]
}

// TestWaitSubSecond: a wait shorter than a second ends on time, empty and without
// error (S3.4): go-redis's typed blocking commands would round it to whole seconds.
// Rounded, every try takes a second; the best of three tries keeps a loaded
// machine's stalls from looking like rounding.
func TestWaitSubSecond(t *testing.T) {
	b := newMini(t).b
	var best time.Duration
	for i := range 3 {
		r := receiveWithin(t, startDequeue(context.Background(), b, dq("ns", 150*time.Millisecond)), 30*time.Second, "150ms wait")
		if r.err != nil || len(r.res.Leases) != 0 {
			t.Fatalf("Dequeue = %+v, %v; want empty, nil", r.res, r.err)
		}
		if r.d < 150*time.Millisecond {
			t.Fatalf("a 150ms wait returned after %v", r.d)
		}
		if i == 0 || r.d < best {
			best = r.d
		}
	}
	if best >= time.Second { // rounded to seconds, it would take 1s
		t.Fatalf("a 150ms wait took %v at best of three", best)
	}
}

// TestWaitWakesOnEnqueue: a waiting consumer gets a task enqueued during its wait
// at once, not at the end of the wait (S3.4).
func TestWaitWakesOnEnqueue(t *testing.T) {
	b := newMini(t).b
	ch := startDequeue(context.Background(), b, dq("ns", time.Minute))
	waitBlocked(t, b, 1)
	start := time.Now()
	enqueueOne(t, b, "ns", "x")
	r := receiveWithin(t, ch, 30*time.Second, "wake on enqueue") // long before the wait of a minute
	if r.err != nil || len(r.res.Leases) != 1 || string(r.res.Leases[0].Payload) != "x" {
		t.Fatalf("Dequeue = %+v, %v; want task x", r.res, r.err)
	}
	t.Logf("woken %v after the enqueue", time.Since(start))
}

// TestWaitCancel: cancelling a waiting Dequeue ends it promptly with the context's
// error (S3.5).
func TestWaitCancel(t *testing.T) {
	b := newMini(t).b
	ctx, cancel := context.WithCancel(context.Background())
	ch := startDequeue(ctx, b, dq("ns", time.Minute))
	waitBlocked(t, b, 1)
	cancel()
	r := receiveWithin(t, ch, 30*time.Second, "cancel") // long before the wait of a minute
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Dequeue after cancel: %v, want context.Canceled", r.err)
	}
	// The task enqueued now is still there for the next consumer.
	enqueueOne(t, b, "ns", "y")
	res, err := b.Dequeue(context.Background(), dq("ns", 0))
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("Dequeue after the cancelled one: %+v, %v", res, err)
	}
}

// TestWaitClose: Close ends a waiting Dequeue promptly with ErrClosed, later calls
// fail with it, and a second Close returns nil (S8.3).
func TestWaitClose(t *testing.T) {
	b := newMini(t).b
	ch := startDequeue(context.Background(), b, dq("ns", time.Minute))
	waitBlocked(t, b, 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	r := receiveWithin(t, ch, 30*time.Second, "Close") // long before the wait of a minute
	if !errors.Is(r.err, backend.ErrClosed) {
		t.Fatalf("Dequeue after Close: %v, want ErrClosed", r.err)
	}
	if _, err := b.Enqueue(context.Background(), backend.EnqueueParams{Namespace: "ns", Queue: "q",
		Tasks: []backend.Message{{Payload: []byte("z"), Key: "z", MaxAttempts: 1}}}); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Enqueue after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestWaitWakesAtLeaseExpiry: a consumer waiting on an empty queue gets a task whose
// lease expires during its wait, without any other call (S4.5).
func TestWaitWakesAtLeaseExpiry(t *testing.T) {
	client := realClient(t)
	b, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ns := "expiry"
	enqueueOne(t, b, ns, "x")
	p := dq(ns, 0)
	p.Lease = 200 * time.Millisecond
	if res, err := b.Dequeue(context.Background(), p); err != nil || len(res.Leases) != 1 {
		t.Fatalf("first Dequeue: %+v, %v", res, err)
	}
	r := receiveWithin(t, startDequeue(context.Background(), b, dq(ns, time.Minute)), 30*time.Second, "lease expiry")
	if r.err != nil || len(r.res.Leases) != 1 || r.res.Leases[0].Attempt != 1 {
		t.Fatalf("Dequeue = %+v, %v; want the reclaimed task at attempt 1", r.res, r.err)
	}
	if r.d > 30*time.Second {
		t.Fatalf("the reclaimed task came %v after the wait began, nearer its end than the 200ms lease", r.d)
	}
}

// TestWaitSurvivesClientKill: killing every client connection while a Dequeue waits,
// the Pub/Sub one included, does not strand it: it resubscribes and still gets a
// task enqueued afterwards.
func TestWaitSurvivesClientKill(t *testing.T) {
	client := realClient(t)
	b, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	ch := startDequeue(ctx, b, dq("kill", 2*time.Minute))
	waitBlocked(t, b, 1)
	admin := redis.NewClient(&redis.Options{Addr: client.Options().Addr})
	defer admin.Close()
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE pubsub: %v", err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatalf("CLIENT KILL TYPE normal: %v", err)
	}
	enqueueOne(t, b, "kill", "after-kill")
	r := receiveWithin(t, ch, time.Minute, "after CLIENT KILL")
	if r.err != nil || len(r.res.Leases) != 1 || string(r.res.Leases[0].Payload) != "after-kill" {
		t.Fatalf("Dequeue = %+v, %v; want the task enqueued after the kill", r.res, r.err)
	}
}

// TestWakeCoversBatches: a message that n tasks are ready in a queue wakes that
// queue's waiters, longest waiting first, until their batch sizes cover n; a
// waiter already woken counts for nothing, and an empty queue name wakes all.
func TestWakeCoversBatches(t *testing.T) {
	newState := func(counts ...int) *channelState {
		st := &channelState{}
		for i, c := range counts {
			q := "q"
			if i == 1 {
				q = "other" // a waiter of another queue is never woken for q
			}
			st.regs = append(st.regs, &waitReg{queues: []string{q}, count: c, c: make(chan string, 1)})
		}
		return st
	}
	woken := func(st *channelState) (out []int) {
		for i, r := range st.regs {
			select {
			case <-r.c:
				out = append(out, i)
			default:
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		counts []int
		q      string
		n      int
		pre    []int // woken before the message
		want   []int
	}{
		{"one batch covers the tasks", []int{100, 100, 100, 100}, "q", 100, nil, []int{0}},
		{"a second batch for the rest", []int{100, 100, 100, 100}, "q", 150, nil, []int{0, 2}},
		{"single tasks, one waiter each", []int{1, 1, 1, 1}, "q", 2, nil, []int{0, 2}},
		{"more tasks than batches", []int{10, 10, 10}, "q", 1000, nil, []int{0, 2}},
		{"a woken waiter does not count", []int{100, 100, 100, 100}, "q", 100, []int{0}, []int{0, 2}},
		{"empty queue name wakes all", []int{100, 100, 100}, "", 1, nil, []int{0, 1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newState(tc.counts...)
			for _, i := range tc.pre {
				st.regs[i].c <- "q"
			}
			st.wakeLocked(tc.q, tc.n)
			if got := woken(st); !slices.Equal(got, tc.want) {
				t.Fatalf("woken %v, want %v", got, tc.want)
			}
		})
	}
}
