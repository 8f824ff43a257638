package keyq_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// TestSharedOptions checks that Queues, LeaseFor and MaxAttempts set the client's
// defaults as options of New and override them as options of one call, and that
// Delay delays an enqueue and a release alike.
func TestSharedOptions(t *testing.T) {
	ctx := context.Background()
	bc := clock.NewFake(epoch)
	b := memory.New(memory.WithClock(bc))
	defer b.Close()
	c, err := keyq.New(b, "ns", keyq.Queues("a", "b"), keyq.LeaseFor(time.Minute), keyq.MaxAttempts(3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Queues(), []string{"a", "b"}) || c.LeaseDuration() != time.Minute {
		t.Fatalf("client queues %v, lease %v; want [a b], 1m", c.Queues(), c.LeaseDuration())
	}
	mustEnqueue(t, c, "a", "1")
	mustEnqueue(t, c, "b", "2", keyq.MaxAttempts(7))
	l, err := c.Next(ctx, keyq.Queues("b"), keyq.LeaseFor(2*time.Minute))
	if err != nil || l == nil || string(l.Payload) != "2" || l.MaxAttempts != 7 || !l.Deadline.Equal(epoch.Add(2*time.Minute)) {
		t.Fatalf("Next from b = %+v, %v; want task 2, max attempts 7, leased for 2m", l, err)
	}
	// Released with a delay: gone until it is due.
	if err := c.Release(ctx, l, keyq.Delay(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	l, err = c.Next(ctx, keyq.Queues("b"))
	if err != nil || l != nil {
		t.Fatalf("Next before the release's delay = %+v, %v; want nothing", l, err)
	}
	bc.Advance(10 * time.Second)
	l, err = c.Next(ctx, keyq.Queues("b"))
	if err != nil || l == nil || string(l.Payload) != "2" {
		t.Fatalf("Next after the release's delay = %+v, %v; want task 2", l, err)
	}
	l, err = c.Next(ctx)
	if err != nil || l == nil || string(l.Payload) != "1" || l.MaxAttempts != 3 || !l.Deadline.Equal(bc.Now().Add(time.Minute)) {
		t.Fatalf("Next = %+v, %v; want task 1, max attempts 3, leased for 1m", l, err)
	}
	mustEnqueue(t, c, "a", "3", keyq.Delay(time.Second))
	if l, err := c.Next(ctx); err != nil || l != nil {
		t.Fatalf("Next before the enqueue's delay = %+v, %v; want nothing", l, err)
	}
}

// TestWorkerConfigZeroIsDefault checks that a zero WorkerConfig is valid, that
// several combine, and that a negative SettleCalls turns batching off.
func TestWorkerConfigZeroIsDefault(t *testing.T) {
	e := newMemoryEnv(t, true)
	for _, opts := range [][]keyq.WorkerOption{
		{keyq.WorkerConfig{}},
		{keyq.WorkerConfig{Concurrency: 3, Batch: 2, SettleCalls: -1}},
		{keyq.WorkerConfig{Rate: 5}}, // a burst of 1
	} {
		if _, err := keyq.NewWorker(e.client, opts...); err != nil {
			t.Errorf("NewWorker(%+v) = %v", opts, err)
		}
	}
	if _, err := keyq.NewWorker(e.client, keyq.WorkerConfig{Concurrency: keyq.MaxWorkerConcurrency + 1}); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("NewWorker over the maximum concurrency = %v, want ErrInvalid", err)
	}
}
