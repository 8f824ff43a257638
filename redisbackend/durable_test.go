package redisbackend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// durableBackend is a Backend with WaitReplicas on a master with one replica,
// which runs with replicaArgs.
func durableBackend(t testing.TB, opts Options, replicaArgs ...string) (b *Backend, master, replica *redistest.Server) {
	t.Helper()
	master = redistest.Start(t)
	replica = redistest.StartReplica(t, master, replicaArgs...)
	client := redis.NewClient(&redis.Options{Addr: master.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { client.Close() })
	b, err := New(client, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b, master, replica
}

// aofReady waits until b's calls on a namespace of their own are confirmed:
// a replica with appendonly yes confirms no WAITAOF until some time after its
// first sync, when it has rewritten its append-only file.
func aofReady(t *testing.T, b *Backend) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := nsOf(b, "warm").Enqueue(context.Background(), enqueueParams("warm"))
		if err == nil {
			return
		}
		if !errors.Is(err, backend.ErrNotReplicated) || time.Now().After(deadline) {
			t.Fatalf("the replica with an append-only file does not confirm a change: %v", err)
		}
	}
}

func enqueueParams(payload string) backend.EnqueueParams {
	return backend.EnqueueParams{Queue: "q",
		Tasks: []backend.Message{{Key: payload, Payload: []byte(payload), MaxAttempts: 25}}}
}

func leaseOne(t *testing.T, b *Backend) backend.Lease {
	t.Helper()
	res, err := nsOf(b, "ns").Dequeue(context.Background(), dq())
	if err != nil || len(res.Leases) != 1 {
		t.Fatalf("Dequeue = %+v, %v; want one lease", res, err)
	}
	return res.Leases[0]
}

// TestWaitReplicas (S8.8): with WaitReplicas 1, state changes succeed while the replica
// follows; with the replica stopped, each (Enqueue, Settle, SetAnswer, Pause,
// Cancel) returns its result with ErrNotReplicated after about WaitTimeout, and
// the change is on the master. By default the wait is WAIT, on a replica without
// an append-only file, and WAITAOF is never sent; with WaitAOF, on a replica
// with appendonly yes, the first call finds out whether the server has WAITAOF.
func TestWaitReplicas(t *testing.T) {
	// It waits on servers of its own far more than it computes, so it runs beside
	// the package's other waiting tests, after every sequential one: those include
	// the conformance suites, which count the driver's goroutines (S8.3).
	t.Parallel()
	for _, tc := range []struct {
		name      string
		noFn, aof bool
	}{{"functions", false, false}, {"evalsha", true, false}, {"functions/aof", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			timeout := 300 * time.Millisecond
			var replicaArgs []string
			if tc.aof {
				// A WAITAOF sent with its write reaches the replica before the
				// write is synced, and is confirmed on the replica's
				// once-a-second acknowledgement (Valkey 8.0 here), even with an
				// fsync per write.
				timeout = 1500 * time.Millisecond
				replicaArgs = []string{"--appendonly", "yes", "--appendfsync", "always"}
			}
			b, master, replica := durableBackend(t, Options{WaitReplicas: 1, WaitTimeout: timeout, NoFunctions: tc.noFn, WaitAOF: tc.aof}, replicaArgs...)
			ctx := context.Background()
			if tc.aof {
				aofReady(t, b)
			}
			n := nsOf(b, "ns")
			if _, err := n.Enqueue(ctx, enqueueParams("a")); err != nil {
				mi, _ := redistest.Command(ctx, master.Addr, "INFO", "replication")
				ri, _ := redistest.Command(ctx, replica.Addr, "INFO", "replication")
				t.Fatalf("Enqueue with the replica up: %v\n%s\n%s", err, mi, ri)
			}
			l := leaseOne(t, b)
			if err := ack1(ctx, n, l); err != nil {
				t.Fatalf("Ack with the replica up: %v", err)
			}
			mode := b.aofMode.Load()
			if tc.aof && mode == aofUnknown {
				t.Error("after a durable call with WaitAOF, whether the server has WAITAOF is still unknown")
			} else if !tc.aof && mode != aofUnknown {
				t.Error("without WaitAOF, a durable call asked whether the server has WAITAOF")
			}
			// A server counts only the commands it has: WAITAOF ran where it
			// exists and was asked for.
			stats, err := redistest.Command(ctx, master.Addr, "INFO", "commandstats")
			if err != nil {
				t.Fatal(err)
			}
			ranAOF, ranWait := strings.Contains(stats, "cmdstat_waitaof:"), strings.Contains(stats, "cmdstat_wait:")
			if ranAOF != (mode == aofOn) || !ranWait {
				t.Errorf("WaitAOF %v, the server has WAITAOF: %v; it ran WAITAOF: %v, WAIT: %v; want WAIT on the first call, and WAITAOF only with WaitAOF where the server has it",
					tc.aof, mode == aofOn, ranAOF, ranWait)
			}
			t.Logf("WaitAOF %v: the server has WAITAOF: %v", tc.aof, mode == aofOn)

			replica.Pause(t)
			defer replica.Resume(t)
			start := time.Now()
			ids, err := n.Enqueue(ctx, enqueueParams("b"))
			took := time.Since(start)
			if !errors.Is(err, backend.ErrNotReplicated) || len(ids) != 1 {
				t.Fatalf("Enqueue with the replica stopped = %v, %v; want one ID and ErrNotReplicated", ids, err)
			}
			t.Logf("Enqueue: %v after %v", err, took)
			if took < timeout/2 || took > 30*timeout {
				t.Errorf("Enqueue with the replica stopped took %v; want about WaitTimeout %v", took, timeout)
			}
			l = leaseOne(t, b) // on the master all the same
			if l.Task.ID != ids[0] {
				t.Fatalf("leased %s; want the task enqueued, %s", l.Task.ID, ids[0])
			}
			// A Settle returns its results with the error.
			dParams := backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{msg("d", 1)}}
			if _, err := n.Enqueue(ctx, dParams); !errors.Is(err, backend.ErrNotReplicated) {
				t.Fatalf("Enqueue d = %v; want ErrNotReplicated", err)
			}
			l2 := mustDequeue(t, n, 1, "q")
			if len(l2) != 1 {
				t.Fatalf("Dequeue d: %d leases", len(l2))
			}
			res, err := n.Settle(ctx, backend.SettleParams{Items: []backend.Settlement{
				{LeaseRef: ref(l), Action: backend.Release},
				{LeaseRef: ref(l2[0]), Action: backend.Release}, // one attempt: dead
				{LeaseRef: ref(l), Action: backend.Ack},
			}})
			if !errors.Is(err, backend.ErrNotReplicated) || len(res) != 3 ||
				res[0] != backend.SettleDone || res[1] != backend.SettleDead || res[2] != backend.SettleLost {
				t.Fatalf("Settle = %v, %v; want [done dead lost] and ErrNotReplicated", res, err)
			}
			l = leaseOne(t, b)
			if err := ack1(ctx, n, l); !errors.Is(err, backend.ErrNotReplicated) {
				t.Fatalf("Ack = %v; want ErrNotReplicated", err)
			}
			err = nsOf(b, "ns").SetAnswer(ctx, backend.SetAnswerParams{Key: "k", Answer: backend.Answer{Value: []byte("v"), OK: true, TTL: time.Minute}})
			if !errors.Is(err, backend.ErrNotReplicated) {
				t.Fatalf("SetAnswer = %v; want ErrNotReplicated", err)
			}
			// Pause and Cancel wait too, and return their results with the error.
			if err := n.Pause(ctx, backend.PauseParams{Queues: []string{"p"}}); !errors.Is(err, backend.ErrNotReplicated) {
				t.Fatalf("Pause = %v; want ErrNotReplicated", err)
			}
			cids, _ := n.Enqueue(ctx, enqueueParams("c"))
			if len(cids) != 1 {
				t.Fatalf("Enqueue c = %v", cids)
			}
			if r, err := n.Cancel(ctx, backend.CancelParams{ID: cids[0]}); !errors.Is(err, backend.ErrNotReplicated) || r != backend.CancelRemoved {
				t.Fatalf("Cancel = %v, %v; want removed and ErrNotReplicated", r, err)
			}
			// A lease that is gone is reported as such: nothing changed.
			err = ack1(ctx, n, l)
			if !errors.Is(err, backend.ErrLeaseLost) {
				t.Fatalf("a second Ack = %v; want ErrLeaseLost", err)
			}

			replica.Resume(t)
			deadline := time.Now().Add(30 * time.Second)
			for { // the replica catches up
				_, err := n.Enqueue(ctx, enqueueParams("c"))
				if err == nil {
					break
				}
				if !errors.Is(err, backend.ErrNotReplicated) || time.Now().After(deadline) {
					t.Fatalf("Enqueue after the replica resumed: %v", err)
				}
			}
		})
	}
}

// TestWaitReplicasMore: asking for more replicas than there are is
// ErrNotReplicated on every durable call, and the change is made.
func TestWaitReplicasMore(t *testing.T) {
	b, _, _ := durableBackend(t, Options{WaitReplicas: 2, WaitTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	if _, err := nsOf(b, "ns").Enqueue(ctx, enqueueParams("a")); !errors.Is(err, backend.ErrNotReplicated) {
		t.Fatalf("Enqueue = %v; want ErrNotReplicated", err)
	}
	leaseOne(t, b)
}

// TestWaitReplicasOptions: bad WaitReplicas options are ErrInvalid.
func TestWaitReplicasOptions(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for _, o := range []Options{{WaitReplicas: -1}, {WaitTimeout: -time.Second}, {WaitAOF: true}} {
		if _, err := New(c, o); !errors.Is(err, backend.ErrInvalid) {
			t.Errorf("New(%+v) = %v; want ErrInvalid", o, err)
		}
	}
}

// BenchmarkWaitReplicas measures the cost of WaitReplicas: an enqueue, a
// dequeue and an ack per task, on a master with one replica.
//
//	go test -run '^$' -bench WaitReplicas ./redisbackend/
func BenchmarkWaitReplicas(b *testing.B) {
	for _, n := range []int{0, 1} {
		b.Run("replicas="+string(rune('0'+n)), func(b *testing.B) {
			be, _, _ := durableBackend(b, Options{WaitReplicas: n})
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := nsOf(be, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{message(i)}}); err != nil {
					b.Fatal(err)
				}
				res, err := nsOf(be, "ns").Dequeue(ctx, backend.DequeueParams{Queues: []string{"q"}, Count: 1, Lease: time.Minute})
				if err != nil || len(res.Leases) != 1 {
					b.Fatal(res, err)
				}
				l := res.Leases[0]
				if err := ack1(ctx, nsOf(be, "ns"), l); err != nil {
					b.Fatal(err)
				}
			}
			reportTasks(b, b.N)
		})
	}
}
