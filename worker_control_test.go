package keyq_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

// TestWorkerLocalRateLimits checks the minimum interval and the tasks-per-second
// limit on the worker's clock: task starts are spaced as the limit says, even with
// free handler slots and a batch of leases at hand.
func TestWorkerLocalRateLimits(t *testing.T) {
	cases := []struct {
		name  string
		opt   keyq.WorkerOption
		step  time.Duration   // how far to move the clock between checks
		after []time.Duration // start offsets of the three tasks
	}{
		{"min interval", keyq.WorkerMinInterval(time.Second), time.Second, []time.Duration{0, time.Second, 2 * time.Second}},
		{"2 per second", keyq.WorkerRate(2, 1), 500 * time.Millisecond, []time.Duration{0, 500 * time.Millisecond, time.Second}},
		{"1 per second, burst 2", keyq.WorkerRate(1, 2), time.Second, []time.Duration{0, 0, time.Second}},
	}
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := bf.new(t, false, keyq.WithQueues(q))
				w := mustWorker(t, e.client, keyq.WorkerClock(e.wclock), keyq.WorkerConcurrency(3), keyq.WorkerBatch(3), tc.opt)
				starts := make(chan time.Time, 3)
				release := make(chan struct{})
				w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
					starts <- e.wclock.Now()
					select {
					case <-release:
						return "ok", nil
					case <-ctx.Done():
						return nil, ctx.Err()
					}
				})
				for i := range 3 {
					mustEnqueue(t, e.client, q, fmt.Sprint(i))
				}
				start(t, w)
				t.Cleanup(func() { close(release) }) // before the Shutdown of start
				var got []time.Duration
				for len(got) < 3 {
					got = append(got, recv(t, starts, "task start").Sub(epoch))
					for len(got) < 3 && got[len(got)-1] == tc.after[len(got)] {
						got = append(got, recv(t, starts, "task start").Sub(epoch))
					}
					if len(got) == 3 {
						break
					}
					// The lease keeper and the pacing timer: the worker waits.
					waitTimers(t, e.wclock, 2)
					if n := len(starts); n != 0 {
						t.Fatalf("%d tasks started before their time", n)
					}
					e.wclock.Advance(tc.step)
				}
				if !slices.Equal(got, tc.after) {
					t.Fatalf("start offsets %v, want %v", got, tc.after)
				}
			})
		}
	})
}

// TestWorkerSharedRate checks that a limit shared through the backend spaces the
// task starts of two workers of one namespace.
func TestWorkerSharedRate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, true, keyq.WithQueues(q))
		const n, every = 6, 50 * time.Millisecond
		var mu sync.Mutex
		var starts []time.Time
		rec := newRecorder()
		for range 2 {
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConcurrency(2), keyq.WorkerClock(clock.Real()),
				keyq.WorkerSharedRate("api", every, 1))
			w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
				return "ok", nil
			})
			start(t, w)
		}
		for i := range n {
			mustEnqueue(t, e.client, q, fmt.Sprint(i))
		}
		for range n {
			rec.expect(t, keyq.OutcomeFinished)
		}
		mu.Lock()
		defer mu.Unlock()
		slices.SortFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
		// Grants are every apart on the backend's clock; a start follows its grant.
		if span, min := starts[n-1].Sub(starts[0]), (n-2)*every; span < min {
			t.Fatalf("%d starts within %v, want at least %v apart in all", n, span, min)
		}
	})
}

// TestWorkerSharedRateUnsupported checks that Run refuses a shared limit on a
// backend without one, with errors.ErrUnsupported.
func TestWorkerSharedRateUnsupported(t *testing.T) {
	e := newMemoryEnv(t, true)
	c := wrapClient(t, e, "ns", noLimiter)
	w := mustWorker(t, c, keyq.WorkerSharedRate("api", time.Second, 1))
	if err := w.Run(context.Background()); !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, keyq.ErrInvalid) {
		t.Fatalf("Run = %v, want errors.ErrUnsupported", err)
	}
	if _, err := c.Allow(context.Background(), "api", time.Second, 1); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Allow = %v, want errors.ErrUnsupported", err)
	}
}

// TestWorkerRefresh checks the refresh hook: called at start, retried with backoff
// while it fails (no task is taken meanwhile), and called again before a task once
// the period has passed.
func TestWorkerRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.WithQueues(q))
		rec := newRecorder()
		var mu sync.Mutex
		var events []string
		calls := 0
		refresh := func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls <= 2 {
				events = append(events, "refresh failed")
				return errors.New("credentials expired")
			}
			events = append(events, "refresh")
			return nil
		}
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerClock(e.wclock),
			keyq.WorkerRefresh(5*time.Second, refresh), keyq.WorkerRefreshBackoff(time.Second, 4*time.Second))
		w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
			mu.Lock()
			events = append(events, "task "+string(task.Payload))
			mu.Unlock()
			return "ok", nil
		})
		mustEnqueue(t, e.client, q, "1")
		start(t, w)
		waitTimers(t, e.wclock, 1) // the backoff after the first failure
		if n, err := e.client.Len(context.Background(), q); err != nil || n != 1 {
			t.Fatalf("queue length %d, %v while the refresh fails; want the task left waiting", n, err)
		}
		e.wclock.Advance(time.Second)
		waitTimers(t, e.wclock, 1) // the second failure waits twice as long
		e.wclock.Advance(2 * time.Second)
		rec.expect(t, keyq.OutcomeFinished)
		mustEnqueue(t, e.client, q, "2")
		rec.expect(t, keyq.OutcomeFinished)
		e.wclock.Advance(5 * time.Second)
		mustEnqueue(t, e.client, q, "3")
		for d := rec.next(t); d.o != keyq.OutcomeFinished; d = rec.next(t) {
			if d.o != keyq.OutcomeReturned { // fetched before the refresh was seen due
				t.Fatalf("outcome %s, want returned or finished", d.o)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		want := []string{"refresh failed", "refresh failed", "refresh", "task 1", "task 2", "refresh", "task 3"}
		if !slices.Equal(events, want) {
			t.Fatalf("events %q, want %q", events, want)
		}
		if st := w.Stats(); st.Refreshes != 2 || st.RefreshFailures != 2 {
			t.Fatalf("stats %+v, want 2 refreshes, 2 failures", st)
		}
	})
}

// TestWorkerShutdown covers the ways a worker stops: nothing is lost, nothing is
// acked twice, unfinished and unstarted tasks go back with their attempts kept.
func TestWorkerShutdown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		t.Run("running handler finishes", func(t *testing.T) {
			e := bf.new(t, false, keyq.WithQueues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerClock(e.wclock))
			started, release := make(chan struct{}, 1), make(chan struct{})
			w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
				started <- struct{}{}
				<-release
				return "ok", nil
			})
			mustEnqueue(t, e.client, q, "1")
			start(t, w)
			recv(t, started, "handler start")
			stopped := make(chan error, 1)
			go func() { stopped <- w.Shutdown(context.Background()) }()
			recv(t, w.StopRequested(), "stop request")
			mustEnqueue(t, e.client, q, "2") // too late: the worker is stopping
			close(release)
			if err := recv(t, stopped, "Shutdown"); err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			rec.expect(t, keyq.OutcomeFinished)
			waiting, err := e.client.Peek(context.Background(), q, 0, 10)
			if err != nil || len(waiting) != 1 || string(waiting[0].Payload) != "2" || waiting[0].Attempt != 0 {
				t.Fatalf("waiting after shutdown %+v, %v; want task 2 with attempt 0", waiting, err)
			}
		})

		t.Run("shutdown deadline hands unfinished tasks back", func(t *testing.T) {
			e := bf.new(t, false, keyq.WithQueues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerClock(e.wclock))
			started, cause := make(chan struct{}, 1), make(chan error, 1)
			w.HandleFunc("", func(ctx context.Context, _ *keyq.Task) (any, error) {
				started <- struct{}{}
				<-ctx.Done()
				cause <- context.Cause(ctx)
				return nil, ctx.Err()
			})
			id := mustEnqueue(t, e.client, q, "1")
			start(t, w)
			recv(t, started, "handler start")
			ctx, cancel := context.WithCancel(context.Background())
			stopped := make(chan error, 1)
			go func() { stopped <- w.Shutdown(ctx) }()
			cancel() // the deadline passes
			if err := recv(t, stopped, "Shutdown"); !errors.Is(err, context.Canceled) {
				t.Fatalf("Shutdown = %v, want context.Canceled", err)
			}
			if err := recv(t, cause, "handler cancel"); !errors.Is(err, keyq.ErrShutdown) {
				t.Fatalf("handler cause %v, want ErrShutdown", err)
			}
			rec.expect(t, keyq.OutcomeReturned)
			waiting, err := e.client.Peek(context.Background(), q, 0, 10)
			if err != nil || len(waiting) != 1 || waiting[0].ID != id || waiting[0].Attempt != 0 {
				t.Fatalf("waiting %+v, %v; want the task back with attempt 0", waiting, err)
			}
			if j := mustJob(t, e.client, id); j.Status != keyq.StatusPending {
				t.Fatalf("job %+v, want pending", j)
			}
		})

		t.Run("run context cancel waits the grace period", func(t *testing.T) {
			e := bf.new(t, false, keyq.WithQueues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerClock(e.wclock), keyq.WorkerShutdownTimeout(5*time.Second))
			started := make(chan struct{}, 1)
			w.HandleFunc("", func(ctx context.Context, _ *keyq.Task) (any, error) {
				started <- struct{}{}
				<-ctx.Done()
				return nil, ctx.Err()
			})
			id := mustEnqueue(t, e.client, q, "1")
			ctx, cancel := context.WithCancel(context.Background())
			ran := make(chan error, 1)
			go func() { ran <- w.Run(ctx) }()
			recv(t, started, "handler start")
			cancel()
			waitTimers(t, e.wclock, 2) // the lease keeper and the grace period
			select {
			case err := <-ran:
				t.Fatalf("Run returned %v before the grace period passed", err)
			default:
			}
			e.wclock.Advance(5 * time.Second)
			if err := recv(t, ran, "Run return"); err != nil {
				t.Fatalf("Run = %v", err)
			}
			rec.expect(t, keyq.OutcomeReturned)
			if waiting, err := e.client.Peek(context.Background(), q, 0, 10); err != nil || len(waiting) != 1 || waiting[0].ID != id || waiting[0].Attempt != 0 {
				t.Fatalf("waiting %+v, %v; want the task back with attempt 0", waiting, err)
			}
		})

		for _, tc := range []struct {
			name   string
			opts   []keyq.WorkerOption
			timers int
		}{
			// The keeper of the three leases, and the pacing timer.
			{"waiting for the rate limit", []keyq.WorkerOption{keyq.WorkerConcurrency(3), keyq.WorkerMinInterval(time.Hour)}, 2},
			// The keeper of the three leases; two wait for the one handler slot.
			{"waiting for a handler slot", []keyq.WorkerOption{keyq.WorkerConcurrency(1)}, 1},
		} {
			t.Run("unstarted batch leases go back in order/"+tc.name, func(t *testing.T) {
				e := bf.new(t, false, keyq.WithQueues(q))
				rec := newRecorder()
				w := mustWorker(t, e.client, append(tc.opts, rec.option(), keyq.WorkerClock(e.wclock), keyq.WorkerBatch(3))...)
				started, release := make(chan struct{}, 1), make(chan struct{})
				w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
					started <- struct{}{}
					<-release
					return "ok", nil
				})
				for i := range 3 {
					mustEnqueue(t, e.client, q, fmt.Sprint(i))
				}
				start(t, w)
				recv(t, started, "handler start")
				waitTimers(t, e.wclock, tc.timers)
				stopped := make(chan error, 1)
				go func() { stopped <- w.Shutdown(context.Background()) }()
				rec.expect(t, keyq.OutcomeReturned)
				rec.expect(t, keyq.OutcomeReturned)
				close(release)
				if err := recv(t, stopped, "Shutdown"); err != nil {
					t.Fatalf("Shutdown = %v", err)
				}
				rec.expect(t, keyq.OutcomeFinished)
				waiting, err := e.client.Peek(context.Background(), q, 0, 10)
				if err != nil || len(waiting) != 2 {
					t.Fatalf("waiting %+v, %v; want 2", waiting, err)
				}
				for i, task := range waiting {
					if string(task.Payload) != fmt.Sprint(i+1) || task.Attempt != 0 {
						t.Fatalf("waiting[%d] = %q attempt %d, want %q attempt 0", i, task.Payload, task.Attempt, fmt.Sprint(i+1))
					}
				}
				st, err := e.client.Stats(context.Background())
				if err != nil || st.Counters.Acked != 1 {
					t.Fatalf("counters %+v, %v; want 1 ack", st.Counters, err)
				}
			})
		}

		t.Run("shutdown before run", func(t *testing.T) {
			e := bf.new(t, false, keyq.WithQueues(q))
			w := mustWorker(t, e.client)
			if err := w.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := w.Run(bounded(t)); err != nil {
				t.Fatalf("Run after Shutdown = %v, want nil at once", err)
			}
		})
	})
}

// syncBuffer is a bytes.Buffer safe for the worker's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkerStats checks the worker's counters, the backlog it reports and its log.
func TestWorkerStats(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.WithQueues("high", "low"))
		rec := newRecorder()
		var logs syncBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerClock(e.wclock), keyq.WorkerLogger(logger),
			keyq.WorkerBackoff(keyq.ImmediateBackoff))
		hold, release := make(chan struct{}, 1), make(chan struct{})
		w.HandleFunc("ok", func(context.Context, *keyq.Task) (any, error) { return 1, nil })
		w.HandleFunc("final", func(context.Context, *keyq.Task) (any, error) { return nil, keyq.Final(errors.New("no")) })
		w.HandleFunc("flaky", func(_ context.Context, task *keyq.Task) (any, error) {
			if task.Attempt == 0 {
				return nil, errors.New("again")
			}
			return 2, nil
		})
		w.HandleFunc("hold", func(context.Context, *keyq.Task) (any, error) {
			hold <- struct{}{}
			<-release
			return 3, nil
		})
		for i, typ := range []string{"ok", "final", "flaky", "missing"} {
			mustEnqueue(t, e.client, "high", fmt.Sprint(i), keyq.Type(typ))
		}
		mustEnqueue(t, e.client, "high", "h", keyq.Type("hold"))
		mustEnqueue(t, e.client, "low", "later", keyq.Type("ok"))
		bl, err := w.Backlog(context.Background())
		if err != nil || bl["high"].Waiting != 5 || bl["low"].Waiting != 1 {
			t.Fatalf("backlog %+v, %v; want 5 high, 1 low", bl, err)
		}
		start(t, w)
		for range 5 { // ok, final, flaky (retried, finished), missing
			rec.next(t)
		}
		recv(t, hold, "hold handler")
		if st := w.Stats(); st.InFlight != 1 || st.Running != 1 {
			t.Fatalf("stats %+v while a handler runs, want 1 in flight, 1 running", st)
		}
		close(release)
		rec.expect(t, keyq.OutcomeFinished) // hold
		rec.expect(t, keyq.OutcomeFinished) // low priority last
		want := keyq.WorkerStats{Processed: 4, Failed: 1, Retried: 1, Dead: 1}
		if st := w.Stats(); st != want {
			t.Fatalf("stats %+v, want %+v", st, want)
		}
		if s := logs.String(); !strings.Contains(s, "no handler") || !strings.Contains(s, "outcome=finished") {
			t.Fatalf("log lacks the dead letter or the outcomes:\n%s", s)
		}
	})
}

// TestWorkerQueues checks that a worker serves its own ordered list of queues,
// highest priority first, and leaves other queues alone.
func TestWorkerQueues(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.WithQueues("a", "b", "c"))
		rec := newRecorder()
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerClock(e.wclock), keyq.WorkerQueues("b", "a"), keyq.WorkerBatch(4))
		// The order the handler sees; outcomes may be settled in another (batched acks).
		handled := make(chan string, 4)
		w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
			handled <- string(task.Payload)
			return "ok", nil
		})
		mustEnqueue(t, e.client, "c", "c1")
		mustEnqueue(t, e.client, "a", "a1")
		mustEnqueue(t, e.client, "b", "b1")
		mustEnqueue(t, e.client, "b", "b2")
		start(t, w)
		var got []string
		for range 3 {
			rec.expect(t, keyq.OutcomeFinished)
			got = append(got, recv(t, handled, "a handled task"))
		}
		if want := []string{"b1", "b2", "a1"}; !slices.Equal(got, want) {
			t.Fatalf("handled %q, want %q", got, want)
		}
		if n, err := e.client.Len(context.Background(), "c"); err != nil || n != 1 {
			t.Fatalf("queue c holds %d (%v), want its task left alone", n, err)
		}
	})
}

// TestWorkerOptionsInvalid checks that NewWorker refuses bad options with
// ErrInvalid.
func TestWorkerOptionsInvalid(t *testing.T) {
	e := newMemoryEnv(t, true)
	for name, opt := range map[string]keyq.WorkerOption{
		"zero concurrency":    keyq.WorkerConcurrency(0),
		"zero batch":          keyq.WorkerBatch(0),
		"no queues":           keyq.WorkerQueues(),
		"empty queue":         keyq.WorkerQueues("a", ""),
		"zero lease":          keyq.WorkerLease(0),
		"negative timeout":    keyq.WorkerTimeout(-time.Second),
		"rate without burst":  keyq.WorkerRate(5, 0),
		"negative rate":       keyq.WorkerRate(-1, 1),
		"refresh no period":   keyq.WorkerRefresh(0, func(context.Context) error { return nil }),
		"shared no interval":  keyq.WorkerSharedRate("x", 0, 1),
		"refresh backoff":     keyq.WorkerRefreshBackoff(time.Second, time.Millisecond),
		"nil logger":          keyq.WorkerLogger(nil),
		"nil clock":           keyq.WorkerClock(nil),
		"zero poll wait":      keyq.WorkerPollWait(0),
		"negative min spread": keyq.WorkerMinInterval(-time.Second),
	} {
		if _, err := keyq.NewWorker(e.client, opt); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("%s: NewWorker = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := keyq.NewWorker(nil); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("nil client: NewWorker = %v, want ErrInvalid", err)
	}
	w := mustWorker(t, e.client)
	if err := w.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background()); !errors.Is(err, keyq.ErrInvalid) {
		t.Errorf("second Run = %v, want ErrInvalid", err)
	}
}
