package redisbackend

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// fillNamespace stores something of every kind in ns: waiting, delayed, leased and
// dead tasks, answers, job records, a unique enqueue's key index and a rate limiter.
func fillNamespace(t *testing.T, b *Backend, ns string) {
	t.Helper()
	ctx := context.Background()
	n := nsOf(b, ns)
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: time.Hour,
		Tasks: []backend.Message{msg("a", 1), msg("b", 1), msg("c", 1), msg("d", 1)}})
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "r", Unique: true, Tasks: []backend.Message{msg("u", 1)}})
	mustEnqueue(t, n, backend.EnqueueParams{Queue: "r", Delay: time.Hour, Tasks: []backend.Message{msg("later", 1)}})
	leases := mustDequeue(t, n, 3, "q", "r")
	if len(leases) != 3 {
		t.Fatalf("Dequeue = %d leases; want 3", len(leases))
	}
	res, err := n.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{
		{LeaseRef: ref(leases[0]), Action: backend.Ack, Answer: &backend.Answer{Value: []byte("done"), OK: true, TTL: time.Hour}},
		{LeaseRef: ref(leases[1]), Action: backend.Release}, // one attempt only: dead
	}})
	if err != nil || res[0] != backend.SettleDone || res[1] != backend.SettleDead {
		t.Fatalf("Settle = %v, %v; want [done dead]", res, err)
	}
	if err := n.SetAnswer(ctx, backend.SetAnswerParams{Key: "gone", Answer: backend.Answer{Value: []byte("no such thing"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := nsOf(b, ns).Allow(ctx, backend.AllowParams{Name: "api", Interval: time.Second, Burst: 1}); err != nil {
		t.Fatal(err)
	}
}

// keysOf returns the keys on the server (every master of a cluster) that start with
// prefix, sorted.
func keysOf(t *testing.T, client redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	collect := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, "*", 1000).Iterator()
		for iter.Next(ctx) {
			if strings.HasPrefix(iter.Val(), prefix) {
				keys = append(keys, iter.Val())
			}
		}
		return iter.Err()
	}
	var err error
	if cc, ok := client.(*redis.ClusterClient); ok {
		// One at a time: ForEachMaster runs the masters concurrently.
		var mu sync.Mutex
		var masters []*redis.Client
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			masters = append(masters, c)
			return nil
		})
		for _, c := range masters {
			err = errors.Join(err, collect(ctx, c))
		}
	} else {
		err = collect(ctx, client)
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

// TestDropNamespace drops one namespace among others whose names it would match as
// an unescaped SCAN pattern ("a*" matches "ab"), or that share its prefix ("a"), and
// checks that exactly its keys go, on miniredis, a real server and a cluster.
func TestDropNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
	}{
		{"miniredis", func(t *testing.T) redis.UniversalClient { return newMini(t).client }},
		{"real", func(t *testing.T) redis.UniversalClient { return realClient(t) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return startCluster(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.client(t)
			prefix := testPrefix()
			b, err := New(client, Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			ctx := context.Background()
			drop, others := `a*[x]?\{}`, []string{"a", "ab", `a*[x]?\{}b`, `aa[x]x\{}`, "b"}
			for _, ns := range append([]string{drop}, others...) {
				fillNamespace(t, b, ns)
			}
			keep := keysOf(t, client, prefix+":{"+escapeTag("b")+"}:")
			for _, ns := range others[:len(others)-1] {
				keep = append(keep, keysOf(t, client, prefix+":{"+escapeTag(ns)+"}:")...)
			}
			mine := keysOf(t, client, prefix+":{"+escapeTag(drop)+"}:")
			if len(mine) < 8 {
				t.Fatalf("namespace %q holds only %q before the drop", drop, mine)
			}

			n, err := b.DropNamespace(ctx, drop)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(mine) {
				t.Errorf("DropNamespace = %d, want %d (%q)", n, len(mine), mine)
			}
			if left := keysOf(t, client, prefix+":{"+escapeTag(drop)+"}:"); len(left) != 0 {
				t.Errorf("keys left in the dropped namespace: %q", left)
			}
			all := keysOf(t, client, prefix+":")
			slices.Sort(keep)
			if !slices.Equal(all, keep) {
				t.Errorf("keys after the drop:\n%q\nwant those of the other namespaces:\n%q", all, keep)
			}

			// A dropped namespace is empty and usable again.
			if n, err := b.DropNamespace(ctx, drop); n != 0 || err != nil {
				t.Errorf("second DropNamespace = %d, %v; want 0, nil", n, err)
			}
			h := nsOf(b, drop)
			if _, err := h.GetAnswer(ctx, backend.GetAnswerParams{Key: "a"}); !errors.Is(err, backend.ErrNotFound) {
				t.Errorf("GetAnswer(a) after the drop: %v; want ErrNotFound", err)
			}
			if st, err := h.Stats(ctx, backend.StatsParams{}); err != nil || st.Counters.Enqueued != 0 {
				t.Errorf("Stats after the drop = %+v, %v; want zero counters", st, err)
			}
			for _, ns := range others {
				if _, err := b.DropNamespace(ctx, ns); err != nil {
					t.Fatal(err)
				}
			}
			if left := keysOf(t, client, prefix+":"); len(left) != 0 {
				t.Errorf("keys left after dropping every namespace: %q", left)
			}
		})
	}
}

// TestDropNamespaceBadInput: an empty namespace or a nil context is ErrInvalid, a
// closed Backend ErrClosed, and nothing is deleted.
func TestDropNamespaceBadInput(t *testing.T) {
	mt := newMini(t)
	fillNamespace(t, mt.b, "x")
	before := keysOf(t, mt.client, "keyq:")
	if _, err := mt.b.DropNamespace(context.Background(), ""); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("empty namespace: %v, want ErrInvalid", err)
	}
	var nilCtx context.Context
	if _, err := mt.b.DropNamespace(nilCtx, "x"); !errors.Is(err, backend.ErrInvalid) {
		t.Errorf("nil context: %v, want ErrInvalid", err)
	}
	mt.b.Close()
	if _, err := mt.b.DropNamespace(context.Background(), "x"); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
	if after := keysOf(t, mt.client, "keyq:"); !slices.Equal(before, after) {
		t.Errorf("keys changed by refused calls:\n%q\nwant\n%q", after, before)
	}
}
