package keyq_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// leaseSpy wraps a namespace handle: it records the leases of every Extend call,
// and can report a result of its choosing for the settlements of releases.
type leaseSpy struct {
	nsParts

	mu      sync.Mutex
	extends [][]string           // the task IDs of each Extend call
	release backend.SettleResult // when set, what every Release item reports
}

func (s *leaseSpy) Extend(ctx context.Context, p backend.ExtendParams) ([]backend.ExtendResult, error) {
	ids := make([]string, len(p.Leases))
	for i, l := range p.Leases {
		ids[i] = l.TaskID
	}
	s.mu.Lock()
	s.extends = append(s.extends, ids)
	s.mu.Unlock()
	return s.Namespace.Extend(ctx, p)
}

func (s *leaseSpy) Settle(ctx context.Context, p backend.SettleParams) ([]backend.SettleResult, error) {
	res, err := s.Namespace.Settle(ctx, p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range p.Items {
		if s.release != 0 && it.Action == backend.Release && res != nil {
			res[i] = s.release
		}
	}
	return res, err
}

func (s *leaseSpy) extendCalls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.extends)
}

func leaseSpyEnv(t *testing.T) (env, *leaseSpy) {
	t.Helper()
	e := newMemoryEnv(t, false, keyq.Queues(q))
	spy := &leaseSpy{}
	e.client = wrapClient(t, e, namespace(t), func(h backend.Namespace) backend.Namespace {
		spy.nsParts = partsOf(h)
		return spy
	}, keyq.Queues(q))
	return e, spy
}

// TestWorkerHeartbeatBatched checks that a worker holding many leases extends
// them all in one Extend call every third of the lease, not one call per lease.
func TestWorkerHeartbeatBatched(t *testing.T) {
	const n = 5
	e, spy := leaseSpyEnv(t)
	rec := newRecorder()
	started, release := make(chan struct{}, n), make(chan struct{})
	w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Concurrency: n, Batch: n},
		keyq.WorkerConfig{Lease: 30 * time.Second})
	w.HandleFunc("", holdUntil(started, release))
	ids := enqueueN(t, e.client, n)
	start(t, w)
	for range n {
		recv(t, started, "handler start")
	}
	for beat := 1; beat <= 3; beat++ {
		waitTimers(t, e.wclock, 1) // the one keeper of every lease
		e.wclock.Advance(10 * time.Second)
		waitUntil(t, "a heartbeat", func() bool { return len(spy.extendCalls()) >= beat })
		if calls := spy.extendCalls(); len(calls) != beat {
			t.Fatalf("Extend calls %v after %d heartbeats, want one each", calls, beat)
		}
	}
	calls := spy.extendCalls()
	for _, c := range calls {
		if !slices.Equal(slices.Sorted(slices.Values(c)), slices.Sorted(slices.Values(ids))) {
			t.Fatalf("Extend calls %v, want each with the %d leases %v", calls, n, ids)
		}
	}
	close(release)
	for range n {
		rec.expect(t, keyq.OutcomeFinished)
	}
	if e.wclock.Timers() != 0 {
		t.Fatalf("%d timers left on the worker's clock with no lease held, want none", e.wclock.Timers())
	}
}

// TestWorkerOutcomeFromSettle checks that the outcome of a release is what the
// backend answered for it, not a guess from the attempt count: a first failure
// that the store reports dead-lettered is OutcomeDead, and one it reports lost
// is OutcomeLost.
func TestWorkerOutcomeFromSettle(t *testing.T) {
	for _, tc := range []struct {
		result backend.SettleResult
		want   keyq.Outcome
	}{
		{backend.SettleDead, keyq.OutcomeDead},
		{backend.SettleLost, keyq.OutcomeLost},
		{backend.SettleDone, keyq.OutcomeRetried},
	} {
		t.Run(tc.result.String(), func(t *testing.T) {
			e, spy := leaseSpyEnv(t)
			spy.release = tc.result
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Backoff: keyq.ImmediateBackoff})
			w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) { return nil, errors.New("boom") })
			mustEnqueue(t, e.client, q, "x", keyq.MaxAttempts(25)) // 24 attempts left
			start(t, w)
			d := rec.expect(t, tc.want)
			if d.task.Attempt != 0 {
				t.Fatalf("outcome for attempt %d, want the first", d.task.Attempt)
			}
			st := w.Stats()
			if got := map[keyq.Outcome]int64{keyq.OutcomeDead: st.Dead, keyq.OutcomeLost: st.Lost, keyq.OutcomeRetried: st.Retried}[tc.want]; got < 1 {
				t.Fatalf("stats %+v, want %s counted", st, tc.want)
			}
		})
	}
}
