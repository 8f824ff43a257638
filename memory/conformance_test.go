// This file runs package conformance, both tiers, and the waiting tests that go
// through keyq.Client, on the memory driver.

package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/conformance"
	"github.com/keyq/keyq/memory"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		// A clock far from the host's shows that nothing reads the host's time.
		clk := clock.NewFake(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
		b := memory.New(memory.WithClock(clk))
		return conformance.Target{Backend: b, Now: clk.Now, Advance: clk.Advance}
	}))
}

// TestConformanceRealTime runs the suite on the host's clock, as a remote backend
// would: Advance sleeps. It keeps the suite honest for harnesses without a fake clock.
func TestConformanceRealTime(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps through the suite's time steps; -short skips it")
	}
	conformance.Run(t, conformance.HarnessFunc(func(t *testing.T) conformance.Target {
		b := memory.New()
		return conformance.Target{Backend: b, Now: time.Now, Advance: time.Sleep, Unit: 200 * time.Millisecond}
	}))
}

type fixture struct {
	clk *clock.Fake
	b   *memory.Backend
	q   *keyq.Client
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	b := memory.New(memory.WithClock(clk))
	t.Cleanup(func() { b.Close() })
	q, err := keyq.New(b, "ns", keyq.WithQueues("q"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &fixture{clk: clk, b: b, q: q, ctx: ctx}
}

// waiting starts a consumer that waits up to a minute of real time.
func (f *fixture) waiting(t *testing.T) <-chan *keyq.Lease {
	ch := make(chan *keyq.Lease, 1)
	go func() {
		l, err := f.q.Next(f.ctx, keyq.Wait(time.Minute))
		if err != nil {
			t.Errorf("waiting Next: %v", err)
		}
		ch <- l
	}()
	return ch
}

func (f *fixture) waitTimers(t *testing.T, n int) {
	t.Helper()
	if err := f.clk.WaitTimers(f.ctx, n); err != nil {
		t.Fatalf("no waiter set a timer: %v", err)
	}
}

// listening waits until someone listens to the namespace's signals: a consumer
// waits.
func (f *fixture) listening(t *testing.T) {
	t.Helper()
	waitFor(t, "a consumer to listen for signals", func() bool { return f.b.Listening() > 0 })
}

func got(t *testing.T, ch <-chan *keyq.Lease, want string) {
	t.Helper()
	select {
	case l := <-ch:
		if l == nil || string(l.Payload) != want {
			t.Fatalf("waiting consumer got %v, want %q", l, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("waiting consumer got nothing in 10s, want %q", want)
	}
}

// A consumer already waiting gets a task whose lease expires while it waits.
func TestWaiterGetsReclaimedTask(t *testing.T) {
	f := newFixture(t)
	if _, err := f.q.Enqueue(f.ctx, "q", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.q.Next(f.ctx, keyq.LeaseFor(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	ch := f.waiting(t)
	f.waitTimers(t, 1) // the waiter sleeps towards the lease deadline
	f.clk.Advance(3 * time.Second)
	got(t, ch, "a")
}

// A delayed task enqueued while a consumer waits wakes it once due, although the
// waiter started waiting before the task existed.
func TestWaiterGetsDelayedTask(t *testing.T) {
	f := newFixture(t)
	ch := f.waiting(t)
	f.listening(t)
	if _, err := f.q.Enqueue(f.ctx, "q", []byte("later"), keyq.Delay(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.waitTimers(t, 1)
	f.clk.Advance(4 * time.Second)
	select {
	case l := <-ch:
		t.Fatalf("delivered %v before it was due", l)
	default:
	}
	f.clk.Advance(2 * time.Second)
	got(t, ch, "later")
}

// A consumer that gives up while a task arrives does not keep the task from
// another that still waits.
func TestWakeUpPassedOn(t *testing.T) {
	f := newFixture(t)
	for range 50 {
		ctx, cancel := context.WithCancel(f.ctx)
		quitter := make(chan struct{})
		go func() {
			defer close(quitter)
			f.q.Next(ctx, keyq.Wait(time.Minute))
		}()
		stay := f.waiting(t)
		f.listening(t)
		cancel() // races with the enqueue below
		if _, err := f.q.Enqueue(f.ctx, "q", []byte("x")); err != nil {
			t.Fatal(err)
		}
		<-quitter
		select {
		case l := <-stay:
			if l != nil {
				f.q.Ack(f.ctx, l)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the remaining waiter was never woken")
		}
		for { // the quitter may have taken the task before it saw the cancel
			l, _ := f.q.Next(f.ctx)
			if l == nil {
				break
			}
			f.q.Ack(f.ctx, l)
		}
	}
}

// waitFor polls cond until it holds, failing after 10s with what it waited for.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}
