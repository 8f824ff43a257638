package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
)

const q = "queue"

// TestWorkerOutcomes covers the outcome of each kind of handler result and the job
// record at every step (S6): success, final failure with negative caching,
// transient failure retried to the head, attempts used up, unknown task type, and
// a panicking handler.
func TestWorkerOutcomes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		t.Run("success", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock})
			seen := make(chan keyq.Job, 1)
			w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
				j, err := e.client.Job(ctx, task.ID)
				if err != nil {
					return nil, keyq.Final(err)
				}
				seen <- j
				return map[string]int{"len": len(task.Payload)}, nil
			})
			id := mustEnqueue(t, e.client, q, "hello")
			if j := mustJob(t, e.client, id); j.Status != keyq.StatusPending || j.Attempts != 0 {
				t.Fatalf("job before the worker runs: %+v, want pending, 0 attempts", j)
			}
			start(t, w)
			d := rec.expect(t, keyq.OutcomeFinished)
			if d.task.ID != id {
				t.Fatalf("finished task %s, want %s", d.task.ID, id)
			}
			if j := recv(t, seen, "handler"); j.Status != keyq.StatusRunning || j.StartedAt.IsZero() {
				t.Fatalf("job while the handler runs: %+v, want running with a start time", j)
			}
			j := mustJob(t, e.client, id)
			if j.Status != keyq.StatusFinished || j.EndedAt.IsZero() || j.Attempts != 1 {
				t.Fatalf("job after success: %+v, want finished, 1 attempt, an end time", j)
			}
			a, err := e.client.Answer(context.Background(), "hello")
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]int
			if err := a.Decode(&got); err != nil || !a.OK || got["len"] != 5 {
				t.Fatalf("answer %s ok=%v (%v), want {len:5} ok", a.Value, a.OK, err)
			}
			if st := w.Stats(); st.Processed != 1 || st.InFlight != 0 {
				t.Fatalf("stats %+v, want 1 processed, none in flight", st)
			}
		})

		t.Run("final failure is answered and cached", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock})
			calls := 0
			w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
				calls++
				return nil, fmt.Errorf("lookup: %w", keyq.Final(errors.New("bad input")))
			})
			id := mustEnqueue(t, e.client, q, "k")
			start(t, w)
			rec.expect(t, keyq.OutcomeFailed)
			j := mustJob(t, e.client, id)
			if j.Status != keyq.StatusFailed || j.LastError != "lookup: bad input" {
				t.Fatalf("job %+v, want failed with last error %q", j, "lookup: bad input")
			}
			a, err := e.client.Answer(context.Background(), "k")
			if err != nil {
				t.Fatal(err)
			}
			var fa keyq.FailureAnswer
			if err := a.Decode(&fa); err != nil || a.OK || fa.Error != "lookup: bad input" {
				t.Fatalf("answer %s ok=%v, want an error answer", a.Value, a.OK)
			}
			// A repeat of the key is answered from the store: the handler never sees it.
			mustEnqueue(t, e.client, q, "k")
			if err := w.Shutdown(bounded(t)); err != nil {
				t.Fatal(err)
			}
			if l, err := e.client.Next(context.Background()); err != nil || l != nil {
				t.Fatalf("Next after the repeat = %v, %v; want nothing", l, err)
			}
			st, err := e.client.Stats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st.Counters.Deduped != 1 || calls != 1 || w.Stats().Failed != 1 {
				t.Fatalf("deduped %d, handler calls %d, failed %d; want 1, 1, 1", st.Counters.Deduped, calls, w.Stats().Failed)
			}
		})

		t.Run("transient failure is retried at the head", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Backoff: keyq.ImmediateBackoff})
			second := make(chan keyq.Job, 2)
			order := make(chan string, 4) // payload/attempt, in the order the handler runs
			w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
				order <- fmt.Sprintf("%s/%d", task.Payload, task.Attempt)
				if task.Attempt == 0 {
					return nil, errors.New("flaky")
				}
				j, _ := e.client.Job(ctx, task.ID)
				second <- j
				return "ok", nil
			})
			id := mustEnqueue(t, e.client, q, "a")
			mustEnqueue(t, e.client, q, "b")
			start(t, w)
			if d := rec.expect(t, keyq.OutcomeRetried); d.task.ID != id || d.err == nil || d.err.Error() != "flaky" {
				t.Fatalf("retried %s with %v, want %s with flaky", d.task.ID, d.err, id)
			}
			// Back at the head: the same task comes again before "b", which fails once too.
			var got []string
			for range 4 {
				got = append(got, recv(t, order, "a handler call"))
			}
			if want := []string{"a/0", "a/1", "b/0", "b/1"}; !slices.Equal(got, want) {
				t.Fatalf("handler calls %q, want %q", got, want)
			}
			if j := recv(t, second, "second delivery"); j.Status != keyq.StatusRunning || j.Attempts != 2 || j.LastError != "flaky" {
				t.Fatalf("job on the second delivery: %+v, want running, 2 attempts, last error flaky", j)
			}
			// Acks settle in the background, up to WorkerAckBatches calls at once, and
			// a released task can be leased again before its release is recorded: the
			// outcomes come in any order (the handler calls above have theirs).
			var outcomes []string
			for range 3 {
				d := rec.next(t)
				outcomes = append(outcomes, fmt.Sprintf("%s %s/%d", d.o, d.task.Payload, d.task.Attempt))
			}
			slices.Sort(outcomes)
			if want := []string{"finished a/1", "finished b/1", "retried b/0"}; !slices.Equal(outcomes, want) {
				t.Fatalf("outcomes %q, want %q in any order", outcomes, want)
			}
			if j := mustJob(t, e.client, id); j.Status != keyq.StatusFinished || j.Attempts != 2 {
				t.Fatalf("job at the end: %+v, want finished after 2 attempts", j)
			}
			if st := w.Stats(); st.Retried != 2 || st.Processed != 2 {
				t.Fatalf("stats %+v, want 2 retried, 2 processed", st)
			}
		})

		t.Run("attempts used up go to the dead letters", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Backoff: keyq.ImmediateBackoff})
			w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) { return nil, errors.New("boom") })
			id := mustEnqueue(t, e.client, q, "x", keyq.MaxAttempts(2))
			start(t, w)
			rec.expect(t, keyq.OutcomeRetried)
			rec.expect(t, keyq.OutcomeDead)
			if j := mustJob(t, e.client, id); j.Status != keyq.StatusDead || j.LastError != "boom" || j.Attempts != 2 {
				t.Fatalf("job %+v, want dead after 2 attempts, last error boom", j)
			}
			dead, err := e.client.Dead(context.Background(), 0, 10)
			if err != nil || len(dead) != 1 || dead[0].ID != id || dead[0].Reason != "boom" {
				t.Fatalf("dead letters %+v, %v; want %s with reason boom", dead, err, id)
			}
			if st := w.Stats(); st.Dead != 1 || st.Retried != 1 {
				t.Fatalf("stats %+v, want 1 retried, 1 dead", st)
			}
		})

		t.Run("unknown type is dead-lettered", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock})
			w.HandleFunc("known", func(context.Context, *keyq.Task) (any, error) { return 1, nil })
			id := mustEnqueue(t, e.client, q, "x", keyq.Type("unknown"))
			mustEnqueue(t, e.client, q, "y", keyq.Type("known"))
			start(t, w)
			if d := rec.expect(t, keyq.OutcomeDead); !errors.Is(d.err, keyq.ErrNoHandler) {
				t.Fatalf("dead with %v, want ErrNoHandler", d.err)
			}
			rec.expect(t, keyq.OutcomeFinished)
			dead, err := e.client.Dead(context.Background(), 0, 10)
			if err != nil || len(dead) != 1 || dead[0].ID != id || !strings.Contains(dead[0].Reason, `"unknown"`) {
				t.Fatalf("dead letters %+v, %v; want %s naming the type", dead, err, id)
			}
			if j := mustJob(t, e.client, id); j.Status != keyq.StatusDead || j.Attempts != 1 {
				t.Fatalf("job %+v, want dead after 1 attempt", j)
			}
		})

		t.Run("panic is a transient failure", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Backoff: keyq.ImmediateBackoff})
			w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
				if task.Attempt == 0 {
					panic("oops")
				}
				return "fine", nil
			})
			id := mustEnqueue(t, e.client, q, "p")
			start(t, w)
			var pe *keyq.PanicError
			if d := rec.expect(t, keyq.OutcomeRetried); !errors.As(d.err, &pe) || pe.Value != "oops" {
				t.Fatalf("retried with %v, want a PanicError", d.err)
			}
			rec.expect(t, keyq.OutcomeFinished)
			if j := mustJob(t, e.client, id); !strings.Contains(j.LastError, "oops") || j.Status != keyq.StatusFinished {
				t.Fatalf("job %+v, want finished with the panic as last error", j)
			}
			if w.Stats().Panics != 1 {
				t.Fatalf("stats %+v, want 1 panic", w.Stats())
			}
		})

		t.Run("backoff delays the retry", func(t *testing.T) {
			e := bf.new(t, false, keyq.Queues(q))
			rec := newRecorder()
			delay := time.Minute
			if e.redis {
				delay = time.Second // the server's clock runs for real
			}
			w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, PollWait: 50 * time.Millisecond},
				keyq.WorkerConfig{Backoff: func(attempt int, err error) time.Duration { return delay }})
			failed := make(chan time.Time, 1)
			w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
				if task.Attempt == 0 {
					failed <- time.Now() // the release, and its delay, come after
					return nil, errors.New("later")
				}
				return "now", nil
			})
			mustEnqueue(t, e.client, q, "d")
			start(t, w)
			rec.expect(t, keyq.OutcomeRetried)
			bl, err := w.Backlog(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if st := bl[q]; st.Delayed != 1 || st.Waiting != 0 {
				// On Redis the delay runs for real: only a look inside it counts.
				if took := time.Since(<-failed); took >= delay {
					t.Logf("backlog %+v %v after the failure, past the %v delay: the machine was too slow to look inside it", st, took, delay)
				} else {
					t.Fatalf("backlog %+v right after the retry, want 1 delayed", st)
				}
			}
			if e.bclock != nil {
				e.bclock.Advance(delay)
			}
			rec.expect(t, keyq.OutcomeFinished)
		})
	})
}

// TestWorkerTimeout checks that a handler that runs over the timeout has its context
// cancelled, is recorded with last error "timeout", retried, and dead-lettered once
// its attempts are used up.
func TestWorkerTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.Queues(q))
		rec := newRecorder()
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Timeout: 5 * time.Second},
			keyq.WorkerConfig{Backoff: keyq.ImmediateBackoff})
		started := make(chan keyq.Job, 2)
		causes := make(chan bool, 2)
		w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
			j, _ := e.client.Job(ctx, task.ID)
			started <- j
			<-ctx.Done()
			causes <- isCause(ctx, keyq.ErrTaskTimeout)
			return nil, ctx.Err()
		})
		id := mustEnqueue(t, e.client, q, "slow", keyq.MaxAttempts(2))
		start(t, w)
		for attempt := range 2 {
			j := recv(t, started, "handler start")
			if attempt == 1 && (j.LastError != "timeout" || j.Attempts != 2 || j.Status != keyq.StatusRunning) {
				t.Fatalf("job on the second delivery: %+v, want running, 2 attempts, last error timeout", j)
			}
			waitTimers(t, e.wclock, 2) // the lease keeper and the timeout
			e.wclock.Advance(5 * time.Second)
			if !recv(t, causes, "handler cancel") {
				t.Fatal("handler context not cancelled with cause ErrTaskTimeout")
			}
			want := keyq.OutcomeRetried
			if attempt == 1 {
				want = keyq.OutcomeDead
			}
			if d := rec.expect(t, want); !errors.Is(d.err, keyq.ErrTaskTimeout) {
				t.Fatalf("outcome error %v, want ErrTaskTimeout", d.err)
			}
		}
		if j := mustJob(t, e.client, id); j.Status != keyq.StatusDead || j.LastError != "timeout" {
			t.Fatalf("job %+v, want dead with last error timeout", j)
		}
		if st := w.Stats(); st.Timeouts != 2 {
			t.Fatalf("stats %+v, want 2 timeouts", st)
		}
	})
}

// TestWorkerTimeoutFinal checks the RQ-style timeout: the job ends with status
// timeout and an error answer, without a retry.
func TestWorkerTimeoutFinal(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.Queues(q))
		rec := newRecorder()
		w := mustWorker(t, e.client, rec.option(), keyq.WorkerConfig{Clock: e.wclock, Timeout: time.Second, TimeoutFinal: true})
		started := make(chan struct{}, 1)
		w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		})
		id := mustEnqueue(t, e.client, q, "slow")
		start(t, w)
		recv(t, started, "handler start")
		waitTimers(t, e.wclock, 2) // the lease keeper and the timeout
		e.wclock.Advance(time.Second)
		if d := rec.expect(t, keyq.OutcomeFailed); !errors.Is(d.err, keyq.ErrTaskTimeout) {
			t.Fatalf("outcome error %v, want ErrTaskTimeout", d.err)
		}
		if j := mustJob(t, e.client, id); j.Status != keyq.StatusTimeout || j.LastError != "timeout" || j.Attempts != 1 {
			t.Fatalf("job %+v, want timeout after one delivery", j)
		}
		a, err := e.client.Answer(context.Background(), "slow")
		var fa keyq.FailureAnswer
		if err != nil || a.OK || a.Decode(&fa) != nil || fa.Error != "timeout" {
			t.Fatalf("answer %s ok=%v (%v), want the timeout error answer", a.Value, a.OK, err)
		}
	})
}
