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

// sentinelSet is a master, a replica and a sentinel watching them as "mymaster".
type sentinelSet struct {
	master, replica, sentinel *redistest.Server
	sc                        *redis.SentinelClient
}

func startSentinelSet(t *testing.T, args ...string) *sentinelSet {
	t.Helper()
	s := &sentinelSet{master: redistest.Start(t, args...)}
	s.replica = redistest.StartReplica(t, s.master, args...)
	s.sentinel = redistest.StartSentinel(t, "mymaster", s.master.Addr, "")
	s.sc = redis.NewSentinelClient(&redis.Options{Addr: s.sentinel.Addr})
	t.Cleanup(func() { s.sc.Close() })
	return s
}

// failover makes the sentinel promote the replica and waits until it names the
// replica as the master.
func (s *sentinelSet) failover(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for { // NOGOODSLAVE until the sentinel has found the replica
		err := s.sc.Failover(ctx, "mymaster").Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("SENTINEL FAILOVER not accepted within 60s: %v", err)
		}
		time.Sleep(100 * time.Millisecond) // poll interval
	}
	for {
		addr, err := s.sc.GetMasterAddrByName(ctx, "mymaster").Result()
		if err == nil && len(addr) == 2 && addr[0]+":"+addr[1] == s.replica.Addr {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("the sentinel did not switch the master to %s within 60s: %v %v", s.replica.Addr, addr, err)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// TestFollowMaster (S8.9): after a Sentinel failover, a listener through a
// redis+sentinel backend hears of a task enqueued on the new master, at once
// rather than when Sentinel demotes the old master (about 10s later); and a
// write to the demoted master is ErrUnavailable, never a success.
func TestFollowMaster(t *testing.T) {
	// It waits on servers of its own far more than it computes, so it runs beside
	// the package's other waiting tests, after every sequential one: those include
	// the conformance suites, which count the driver's goroutines (S8.3).
	t.Parallel()
	if testing.Short() {
		t.Skip("a Sentinel failover takes seconds")
	}
	s := startSentinelSet(t)
	ctx := context.Background()
	b, err := OpenURL(ctx, "redis+sentinel://"+s.sentinel.Addr+"?master=mymaster", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := newWakeLog()
	stop, err := nsOf(b, "ns").Notify(ctx, w.f)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	enqueueOne(t, nsOf(b, "ns"), "before")
	w.until(t, backend.Wake{Queue: "q", Count: 1}, 10*time.Second)
	if ls := mustDequeue(t, nsOf(b, "ns"), 1, "q"); len(ls) != 1 {
		t.Fatalf("Dequeue: %d leases", len(ls))
	}
	s.failover(t)

	// A producer elsewhere, on the new master.
	nc := redis.NewClient(&redis.Options{Addr: s.replica.Addr})
	defer nc.Close()
	nb, err := New(nc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer nb.Close()
	enqueueOne(t, nsOf(nb, "ns"), "after")
	enqueued := time.Now()
	for { // as a consumer would: look again at every wake-up
		w.next(t, 60*time.Second, "the task enqueued on the new master")
		res, err := nsOf(b, "ns").Dequeue(ctx, dq())
		if err == nil && len(res.Leases) == 1 && string(res.Leases[0].Payload) == "after" {
			break
		}
	}
	took := time.Since(enqueued)
	t.Logf("a listener heard of a task enqueued on the new master after %v", took)
	if took > 5*time.Second {
		t.Errorf("the listener took %v to hear of a task enqueued on the new master; it still listens on the old one", took)
	}

	// The old master, once a replica, refuses writes: ErrUnavailable.
	oc := redis.NewClient(&redis.Options{Addr: s.master.Addr})
	defer oc.Close()
	ob, err := New(oc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		role, err := oc.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "slave" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old master %s was not demoted within 60s: %v %v", s.master.Addr, role, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	_, err = nsOf(ob, "ns").Enqueue(ctx, backend.EnqueueParams{Queue: "q", Tasks: []backend.Message{{Payload: []byte("x"), MaxAttempts: 25}}})
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("Enqueue on a replica = %v; want ErrUnavailable", err)
	}
	// A replica's refusal of FUNCTION LOAD is no verdict on functions.
	if redistest.HasFunctions(t, oc) && ob.fnMode.Load() == fnOff {
		t.Error("a Backend whose first call met a replica turned functions off for good")
	}
}
