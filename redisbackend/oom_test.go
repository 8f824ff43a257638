package redisbackend

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestEvictionPolicy (S8.7): on a server whose maxmemory-policy may evict keys, the
// Backend refuses every call with ErrInvalid and ErrEvictionPolicy and writes
// nothing, OpenURL refuses at once, and Options.AllowEviction accepts the risk. A
// user whose ACL forbids CONFIG leaves the policy unknown, and the Backend runs.
func TestEvictionPolicy(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "allkeys-lru")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	ctx := context.Background()
	enqueue := func(b *Backend) error {
		_, err := nsOf(b, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q",
			Tasks: []backend.Message{{Payload: []byte("x"), Key: "x", MaxAttempts: 1}}})
		return err
	}
	for _, policy := range []string{"allkeys-lru", "volatile-lru", "allkeys-random"} {
		if err := client.ConfigSet(ctx, "maxmemory-policy", policy).Err(); err != nil {
			t.Fatal(err)
		}
		b, err := New(client, Options{Prefix: testPrefix()})
		if err != nil {
			t.Fatal(err)
		}
		err = enqueue(b)
		if !errors.Is(err, backend.ErrInvalid) || !errors.Is(err, ErrEvictionPolicy) {
			t.Fatalf("Enqueue under %s: %v, want ErrInvalid and ErrEvictionPolicy", policy, err)
		}
		if _, err := nsOf(b, "ns").Stats(ctx, backend.StatsParams{}); !errors.Is(err, ErrEvictionPolicy) {
			t.Fatalf("Stats under %s: %v, want ErrEvictionPolicy", policy, err)
		}
		b.Close()
		if n, err := client.DBSize(ctx).Result(); err != nil || n != 0 {
			t.Fatalf("refused calls under %s left %d keys (%v)", policy, n, err)
		}
		if _, err := OpenURL(ctx, "redis://"+srv.Addr, Options{}); !errors.Is(err, ErrEvictionPolicy) {
			t.Fatalf("OpenURL under %s: %v, want ErrEvictionPolicy", policy, err)
		}
		ob, err := OpenURL(ctx, "redis://"+srv.Addr, Options{AllowEviction: true, Prefix: testPrefix()})
		if err != nil {
			t.Fatalf("OpenURL with AllowEviction under %s: %v", policy, err)
		}
		if err := enqueue(ob); err != nil {
			t.Fatalf("Enqueue with AllowEviction under %s: %v", policy, err)
		}
		ob.Close()
		if err := client.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
	}

	// An ACL user without CONFIG: the policy stays unknown, the calls go on.
	if err := client.Do(ctx, "ACL", "SETUSER", "noconfig", "on", ">pw", "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	limited := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: "noconfig", Password: "pw"})
	defer limited.Close()
	b, err := New(limited, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := enqueue(b); err != nil {
		t.Fatalf("Enqueue by a user without CONFIG: %v, want the policy unknown and the call through", err)
	}

	// noeviction is safe.
	if err := client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	nb, err := New(client, Options{Prefix: testPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	if err := enqueue(nb); err != nil {
		t.Fatalf("Enqueue under noeviction: %v", err)
	}
}

// TestOutOfMemory (S8.1): a server over its maxmemory with noeviction refuses writes:
// Enqueue fails with ErrFull and changes
// nothing, as does Pause, while Stats, Peek, Leases, Dead, Delayed, Job and plain
// GetAnswer still work, with functions and by EVALSHA. Once there is room,
// writes work again.
func TestOutOfMemory(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory-policy", "noeviction")
	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct {
		name string
		opts Options
	}{{"functions", Options{}}, {"evalsha", Options{NoFunctions: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.Prefix = testPrefix()
			b, err := New(client, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			q := nsOf(b, "ns")
			mustEnqueue(t, q, backend.EnqueueParams{Queue: "q", TrackJobs: true, JobTTL: time.Hour,
				Tasks: []backend.Message{msg("a", 1), msg("b", 1), msg("c", 1), msg("d", 1)}})
			mustEnqueue(t, q, backend.EnqueueParams{Queue: "later", Delay: time.Hour, Tasks: []backend.Message{msg("x", 1)}})
			dead := mustDequeue(t, q, 1, "q")
			if len(dead) != 1 {
				t.Fatalf("Dequeue = %d leases", len(dead))
			}
			if err := settle1(ctx, q, backend.Settlement{LeaseRef: ref(dead[0]), Action: backend.Release}); err != nil { // dead: one attempt
				t.Fatal(err)
			}
			ls := mustDequeue(t, q, 1, "q")
			if len(ls) != 1 {
				t.Fatalf("Dequeue = %d leases", len(ls))
			}
			l := ls[0]
			answer := backend.Answer{Value: []byte("1"), OK: true, TTL: time.Hour}
			if err := q.SetAnswer(ctx, backend.SetAnswerParams{Key: "answered", Answer: answer}); err != nil {
				t.Fatal(err)
			}
			before, err := q.Stats(ctx, backend.StatsParams{})
			if err != nil {
				t.Fatal(err)
			}

			if err := client.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
				t.Fatal(err)
			}
			full := true
			defer func() {
				if full {
					client.ConfigSet(context.Background(), "maxmemory", "0")
				}
			}()
			e := backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("e", 1)}}
			if _, err := q.Enqueue(ctx, e); !errors.Is(err, backend.ErrFull) {
				t.Fatalf("Enqueue out of memory: %v, want ErrFull", err)
			}
			if err := q.SetAnswer(ctx, backend.SetAnswerParams{Key: "other", Answer: answer}); !errors.Is(err, backend.ErrFull) {
				t.Fatalf("SetAnswer out of memory: %v, want ErrFull", err)
			}
			if err := q.Pause(ctx, backend.PauseParams{Queues: []string{"q"}}); !errors.Is(err, backend.ErrFull) {
				t.Fatalf("Pause out of memory: %v, want ErrFull", err)
			}
			st, err := q.Stats(ctx, backend.StatsParams{})
			if err != nil {
				t.Fatalf("Stats out of memory: %v", err)
			}
			if st.Counters != before.Counters || st.Queues["q"] != before.Queues["q"] || st.Queues["q"].Paused {
				t.Fatalf("out of memory, stats went from %+v to %+v: a refused call changed something", before, st)
			}
			if ts, err := q.Peek(ctx, backend.PeekParams{Queue: "q", Count: 10}); err != nil || len(ts) != 2 {
				t.Fatalf("Peek out of memory = %d tasks, %v; want 2", len(ts), err)
			}
			if ls, err := q.Leases(ctx, backend.LeasesParams{Count: 10}); err != nil || len(ls) != 1 {
				t.Fatalf("Leases out of memory = %d, %v; want 1", len(ls), err)
			}
			if ds, err := q.Dead(ctx, backend.DeadParams{Count: 10}); err != nil || len(ds) != 1 {
				t.Fatalf("Dead out of memory = %d, %v; want 1", len(ds), err)
			}
			if ds, err := q.Delayed(ctx, backend.DelayedParams{Count: 10}); err != nil || len(ds) != 1 {
				t.Fatalf("Delayed out of memory = %d, %v; want 1", len(ds), err)
			}
			if j, err := q.Job(ctx, backend.JobParams{ID: l.ID}); err != nil || j.Status != backend.StatusRunning {
				t.Fatalf("Job out of memory = %+v, %v; want running", j, err)
			}
			if a, err := q.GetAnswer(ctx, backend.GetAnswerParams{Key: "answered"}); err != nil || string(a.Value) != "1" {
				t.Fatalf("GetAnswer out of memory = %+v, %v; want 1", a, err)
			}

			if err := client.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
				t.Fatal(err)
			}
			full = false
			if _, err := q.Enqueue(ctx, e); err != nil {
				t.Fatalf("Enqueue with room again: %v", err)
			}
			if err := ack1(ctx, q, l); err != nil {
				t.Fatalf("Ack with room again: %v", err)
			}
		})
	}
}
