package redisbackend

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// TestNamespaces lists the namespaces of a store on miniredis, a real server and a
// three-master cluster, whose namespaces sit on different masters.
func TestNamespaces(t *testing.T) {
	for _, c := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"miniredis", func(t *testing.T) redis.UniversalClient { return newMini(t).client }},
		{"redis", func(t *testing.T) redis.UniversalClient { return realClient(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return startCluster(t) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := c.client(t)
			b, err := New(client, Options{Prefix: testPrefix()})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			testNamespaces(t, b, client)
		})
	}
}

func testNamespaces(t *testing.T, b *Backend, client redis.UniversalClient) {
	ctx := context.Background()
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
	if _, err := nsOf(b, "ghost").Stats(ctx, backend.StatsParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nsOf(b, "ghost").Peek(ctx, backend.PeekParams{Queue: "q", Count: 1}); err != nil {
		t.Fatal(err)
	}
	list()

	// Keys of another prefix, or of none, are not namespaces of this store.
	other, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	msg := []backend.Message{{Key: "k", Payload: []byte("p"), MaxAttempts: 1}}
	if _, err := nsOf(other, "theirs").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msg}); err != nil {
		t.Fatal(err)
	}
	if err := client.Set(ctx, b.opts.Prefix+":{no-colon}", "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}

	// Namespaces with braces and percent signs come back as they were named.
	names := []string{"tasks", "{answers}", "50%{x}", "a:b"}
	for i := range 40 { // enough keys that SCAN takes more than one call on a cluster
		names = append(names, "n"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if _, err := nsOf(b, names[0]).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: msg}); err != nil {
		t.Fatal(err)
	}
	answer := backend.Answer{Value: []byte("1"), OK: true, TTL: time.Minute}
	for _, ns := range names[1:] {
		if err := nsOf(b, ns).SetAnswer(ctx, backend.SetAnswerParams{Key: "k", Answer: answer}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	list(names...)

	b.Close()
	if _, err := b.Namespaces(ctx); err != backend.ErrClosed {
		t.Fatalf("namespaces after close: %v, want ErrClosed", err)
	}
}
