package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
	b := memory.New(memory.WithClock(clk))
	list := func(want ...string) {
		t.Helper()
		got, err := b.Namespaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("namespaces %q, want %q", got, want)
		}
	}
	list()
	// Reading a namespace does not make it one the store holds.
	ghost := mustNamespace(t, b, "ghost")
	if _, err := ghost.Stats(ctx, backend.StatsParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ghost.Peek(ctx, backend.PeekParams{Queue: "q", Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := ghost.GetAnswer(ctx, backend.GetAnswerParams{Key: "k"}); !errors.Is(err, backend.ErrNotFound) {
		t.Fatalf("answer in a fresh namespace: %v, want ErrNotFound", err)
	}
	list()

	msg := []backend.Message{{Key: "k", Payload: []byte("p"), MaxAttempts: 1}}
	if _, err := mustNamespace(t, b, "tasks").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msg}); err != nil {
		t.Fatal(err)
	}
	answer := backend.Answer{Value: []byte("1"), OK: true, TTL: time.Minute}
	if err := mustNamespace(t, b, "{answers}").SetAnswer(ctx, backend.SetAnswerParams{Key: "k", Answer: answer}); err != nil {
		t.Fatal(err)
	}
	if _, err := mustNamespace(t, b, "limits").Allow(ctx, backend.AllowParams{Name: "api", Interval: time.Hour, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	list("limits", "tasks", "{answers}")

	// Once its answer expired and its limiter refilled, a namespace holds nothing;
	// one that had tasks keeps its counters.
	clk.Advance(2 * time.Hour)
	list("tasks")

	b.Close()
	if _, err := b.Namespaces(ctx); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("namespaces after close: %v, want ErrClosed", err)
	}
}
