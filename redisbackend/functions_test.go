package redisbackend

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// libraries returns the names of the function libraries c holds.
func libraries(t *testing.T, c *redis.Client) []string {
	t.Helper()
	ls, err := c.FunctionList(context.Background(), redis.FunctionListQuery{}).Result()
	if err != nil {
		t.Fatalf("FUNCTION LIST: %v", err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return names
}

// roundTrip enqueues, dequeues and acks one task on b, failing t on any error.
func roundTrip(t *testing.T, b *Backend, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := nsOf(b, ns).Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Key: "p", Payload: []byte("p"), MaxAttempts: 3}}}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	res, err := nsOf(b, ns).Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("dequeue: %d leases, %v", len(res.Leases), err)
	}
	l := res.Leases[0]
	if err := ack1(ctx, nsOf(b, ns), l); err != nil {
		t.Fatalf("ack: %v", err)
	}
}

// TestFunctionsProbe: whether scripts run as functions is found by trying FUNCTION
// LOAD: a real Redis 7 takes it and holds the library after the first call;
// miniredis refuses it and the backend goes on by EVALSHA; NoFunctions never
// tries.
func TestFunctionsProbe(t *testing.T) {
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer c.Close()
		b, err := New(c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		roundTrip(t, b, "ns")
		// A server without FUNCTION (Redis 6.2, KeyDB) refuses the library:
		// the backend must have gone on by EVALSHA.
		want := fnOff
		if redistest.HasFunctions(t, c) {
			want = fnOn
		}
		if got := b.fnMode.Load(); got != want {
			t.Fatalf("mode %d, want %d (on %d, off %d)", got, want, fnOn, fnOff)
		}
		if want == fnOn {
			if names := libraries(t, c); len(names) != 1 || names[0] != libraryName {
				t.Fatalf("libraries %v, want [%s]", names, libraryName)
			}
		}
	})
	t.Run("redis with NoFunctions", func(t *testing.T) {
		srv := redistest.Start(t)
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		defer c.Close()
		b, err := New(c, Options{NoFunctions: true})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		roundTrip(t, b, "ns")
		if !redistest.HasFunctions(t, c) {
			return // no library can be there
		}
		if names := libraries(t, c); len(names) != 0 {
			t.Fatalf("libraries %v, want none", names)
		}
	})
	t.Run("miniredis", func(t *testing.T) {
		m := newMini(t)
		roundTrip(t, m.b, "ns")
		if got := m.b.fnMode.Load(); got != fnOff {
			t.Fatalf("mode %d, want functions off (%d)", got, fnOff)
		}
	})
}

// TestLibraryScripts: the library holds a function for every script that includes
// common.lua, and every such script knows its function's name.
func TestLibraryScripts(t *testing.T) {
	for name, s := range map[string]*script{
		"enqueue": scriptEnqueue, "dequeue": scriptDequeue, "settle": scriptSettle,
		"extend": scriptExtend, "reclaim": scriptReclaim, "stats": scriptStats,
		"peek": scriptPeek, "leases": scriptLeases, "dead": scriptDead, "deadaction": scriptDeadAction,
		"getanswer": scriptGetAnswer, "setanswer": scriptSetAnswer, "delanswer": scriptDelAnswer, "job": scriptJob,
		"listen": scriptListen,
	} {
		if s.fn != libraryName+"_"+name {
			t.Errorf("%s: function %q, want %q", name, s.fn, libraryName+"_"+name)
		}
		reg := "redis.register_function('" + s.fn + "',"
		if s.noWrites {
			reg = "redis.register_function{function_name='" + s.fn + "', flags={'no-writes'},"
		}
		if !strings.Contains(library, reg) {
			t.Errorf("%s: the library does not register %s", name, s.fn)
		}
	}
	if scriptAllow.fn != "" {
		t.Errorf("allow has function %q; it does not include common.lua", scriptAllow.fn)
	}
}
