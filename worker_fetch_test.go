package keyq_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

// fetchSpy wraps a namespace handle and records each Dequeue call that leased
// tasks.
type fetchSpy struct {
	nsParts
	mu      sync.Mutex
	fetches []fetch
}

// fetch is one Dequeue call: how many tasks it asked for and how many it got.
type fetch struct{ asked, got int }

func (s *fetchSpy) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	r, err := s.Namespace.Dequeue(ctx, p)
	if len(r.Leases) > 0 {
		s.mu.Lock()
		s.fetches = append(s.fetches, fetch{p.Count, len(r.Leases)})
		s.mu.Unlock()
	}
	return r, err
}

func (s *fetchSpy) calls() []fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.fetches)
}

// fetchSpyEnv is bf's env with its client on a fetchSpy.
func fetchSpyEnv(t *testing.T, bf backendFactory) (env, *fetchSpy) {
	t.Helper()
	e := bf.new(t, false, keyq.WithQueues(q))
	spy := &fetchSpy{}
	e.client = wrapClient(t, e, namespace(t), func(h backend.Namespace) backend.Namespace {
		spy.nsParts = partsOf(h)
		return spy
	}, keyq.WithQueues(q))
	return e, spy
}

// TestWorkerFetchFreeSlots checks that with the default batch of 1 a fetch leases a
// task per free handler slot, in one call; and that it leases one task per call
// with a single handler or when the worker paces its starts.
func TestWorkerFetchFreeSlots(t *testing.T) {
	cases := []struct {
		name        string
		concurrency int
		opts        []keyq.WorkerOption
		want        []fetch // the calls that leased tasks
	}{
		{"four free slots, one call", 4, nil, []fetch{{4, 4}}},
		{"one handler, one task a call", 1, nil, []fetch{{1, 1}, {1, 1}, {1, 1}, {1, 1}}},
		{"paced, one task a call", 4, []keyq.WorkerOption{keyq.WorkerRate(1000, 4)}, []fetch{{1, 1}, {1, 1}, {1, 1}, {1, 1}}},
	}
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				const n = 4
				e, spy := fetchSpyEnv(t, bf)
				c := e.client
				rec := newRecorder()
				w := mustWorker(t, c, append(tc.opts, rec.option(), keyq.WorkerClock(e.wclock), keyq.WorkerConcurrency(tc.concurrency))...)
				started, release := make(chan string, n), make(chan struct{})
				w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
					started <- string(task.Payload)
					if tc.concurrency > 1 {
						<-release // all n run at once
					}
					return echo(ctx, task)
				})
				enqueueN(t, c, n)
				start(t, w)
				var order []string
				for range n {
					order = append(order, recv(t, started, "handler start"))
				}
				if tc.concurrency > 1 {
					if ws := w.Stats(); ws.Running != n || ws.InFlight != n {
						t.Fatalf("stats %+v with every handler started, want %d running, %d in flight", ws, n, n)
					}
					close(release)
				}
				for range n {
					rec.expect(t, keyq.OutcomeFinished)
				}
				if tc.concurrency == 1 && !slices.Equal(order, []string{"p0", "p1", "p2", "p3"}) {
					t.Fatalf("handled %v, want queue order", order)
				}
				if got := spy.calls(); !slices.Equal(got, tc.want) {
					t.Fatalf("fetches (asked, got) %v, want %v", got, tc.want)
				}
				for i := range n {
					expectAnswer(t, c, fmt.Sprint("p", i), fmt.Sprint("a-p", i))
				}
			})
		}
	})
}

// TestWorkerFetchHoldsNoSpareLease checks that with the default batch a worker whose
// slots are all busy leases nothing more: the next task waits in the queue, and is
// fetched, alone, once a slot frees up.
func TestWorkerFetchHoldsNoSpareLease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e, spy := fetchSpyEnv(t, bf)
		c := e.client
		rec := newRecorder()
		w := mustWorker(t, c, rec.option(), keyq.WorkerClock(e.wclock), keyq.WorkerConcurrency(2), keyq.WorkerPollWait(50*time.Millisecond))
		started := make(chan string, 3)
		release := map[string]chan struct{}{"p0": make(chan struct{}), "p1": make(chan struct{}), "p2": make(chan struct{})}
		w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
			started <- string(task.Payload)
			<-release[string(task.Payload)]
			return echo(ctx, task)
		})
		enqueueN(t, c, 3)
		start(t, w)
		recv(t, started, "handler start")
		recv(t, started, "handler start")
		bl, err := w.Backlog(context.Background())
		if err != nil || bl[q].Waiting != 1 || bl[q].Leased != 2 {
			t.Fatalf("backlog %+v, %v with both slots busy; want 2 leased, 1 waiting", bl[q], err)
		}
		close(release["p0"])
		if p := recv(t, started, "third handler start"); p != "p2" {
			t.Fatalf("then started %s, want p2", p)
		}
		close(release["p1"])
		close(release["p2"])
		for range 3 {
			rec.expect(t, keyq.OutcomeFinished)
		}
		if got, want := spy.calls(), []fetch{{2, 2}, {1, 1}}; !slices.Equal(got, want) {
			t.Fatalf("fetches (asked, got) %v, want %v", got, want)
		}
	})
}
