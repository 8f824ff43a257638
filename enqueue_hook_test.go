package keyq_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/memory"
)

// TestEnqueueHook checks that a client's hooks see every task of Enqueue and
// EnqueueBatch, in order, with the task as it will be stored, that the headers
// they set come back on delivery, and that they never write to the caller's map.
func TestEnqueueHook(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	type seen struct{ ns, queue, key, typ string }
	var got []seen
	hook := func(name string) keyq.EnqueueHook {
		return func(_ context.Context, ns, queue string, m *keyq.Message) {
			if m.Headers == nil {
				t.Fatalf("hook %s: nil headers", name)
			}
			got = append(got, seen{ns, queue, m.Key, m.Type})
			m.Headers[name] = m.Headers["caller"] + "+" + name
		}
	}
	c, err := keyq.New(b, "hooked", keyq.Queues("q"), keyq.OnEnqueue(hook("a")), keyq.OnEnqueue(hook("b")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Enqueue(ctx, "q", []byte("p1"), keyq.Type("t1")); err != nil {
		t.Fatal(err)
	}
	caller := map[string]string{"caller": "c"}
	if _, err := c.EnqueueBatch(ctx, "q", []keyq.Message{{Payload: []byte("p2"), Key: "k2", Headers: caller}}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"caller": "c"}; !maps.Equal(caller, want) {
		t.Errorf("the hooks wrote to the caller's headers: %v", caller)
	}
	want := []seen{{"hooked", "q", "p1", "t1"}, {"hooked", "q", "p1", "t1"}, {"hooked", "q", "k2", ""}, {"hooked", "q", "k2", ""}}
	if len(got) != len(want) {
		t.Fatalf("hooks saw %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("hook call %d saw %+v, want %+v", i, got[i], want[i])
		}
	}
	ls, err := c.Dequeue(ctx, keyq.Batch(2))
	if err != nil || len(ls) != 2 {
		t.Fatalf("dequeue: %d leases, %v", len(ls), err)
	}
	for i, wantH := range []map[string]string{
		{"a": "+a", "b": "+b"},
		{"caller": "c", "a": "c+a", "b": "c+b"},
	} {
		if !maps.Equal(ls[i].Headers, wantH) {
			t.Errorf("task %d came back with headers %v, want %v", i, ls[i].Headers, wantH)
		}
	}
}

// TestEnqueueHookSkipsBadInput checks that hooks never see an enqueue that is
// refused as invalid, a nil context included, and that a nil hook is refused.
func TestEnqueueHookSkipsBadInput(t *testing.T) {
	b := memory.New()
	t.Cleanup(func() { _ = b.Close() })
	calls := 0
	c, err := keyq.New(b, "hooked", keyq.OnEnqueue(func(context.Context, string, string, *keyq.Message) { calls++ }))
	if err != nil {
		t.Fatal(err)
	}
	//lint:ignore SA1012 a nil context is the bad input under test
	if _, err := c.Enqueue(nil, "q", []byte("p")); !errors.Is(err, keyq.ErrInvalid) { //nolint:staticcheck
		t.Errorf("nil context: %v, want ErrInvalid", err)
	}
	if _, err := c.Enqueue(context.Background(), "", []byte("p")); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("empty queue: %v, want ErrInvalid", err)
	}
	if calls != 0 {
		t.Errorf("hooks ran %d times for refused enqueues", calls)
	}
	if _, err := keyq.New(b, "hooked", keyq.OnEnqueue(nil)); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("nil hook: %v, want ErrInvalid", err)
	}
}

// TestWorkerAddOnDone checks that hooks added with WorkerAddOnDone run after the
// WorkerOnDone hook set before them, each once per delivery, in order.
func TestWorkerAddOnDone(t *testing.T) {
	env := newMemoryEnv(t, true)
	var order []string
	done := make(chan struct{}, 1)
	w := mustWorker(t, env.client,
		keyq.WorkerConfig{OnDone: func(*keyq.Task, keyq.Outcome, error) { order = append(order, "app") }},
		keyq.WorkerAddOnDone(func(*keyq.Task, keyq.Outcome, error) { order = append(order, "metrics") }),
		keyq.WorkerAddOnDone(nil),
		keyq.WorkerAddOnDone(func(_ *keyq.Task, o keyq.Outcome, _ error) {
			order = append(order, "traces:"+string(o))
			done <- struct{}{}
		}))
	w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) { return "ok", nil })
	mustEnqueue(t, env.client, "default", "p")
	start(t, w)
	recv(t, done, "the last OnDone hook")
	if want := []string{"app", "metrics", "traces:finished"}; !slices.Equal(order, want) {
		t.Errorf("hooks ran as %v, want %v", order, want)
	}
}
