package keyq_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/keyq/keyq"
)

// TestDefaultWorkerBackoff checks the default's delays: between d/2 and d for
// d = 1s * 2^attempt up to 10 minutes, and spread between those bounds.
func TestDefaultWorkerBackoff(t *testing.T) {
	for attempt := range 40 {
		d := keyq.DefaultWorkerBackoffMax
		if attempt < 20 && keyq.DefaultWorkerBackoffBase<<attempt < d {
			d = keyq.DefaultWorkerBackoffBase << attempt
		}
		lo, hi := d, time.Duration(0)
		for range 200 {
			got := keyq.DefaultWorkerBackoff(attempt, errors.New("x"))
			if got < d/2 || got > d {
				t.Fatalf("attempt %d: delay %v, want between %v and %v", attempt, got, d/2, d)
			}
			lo, hi = min(lo, got), max(hi, got)
		}
		if hi-lo < d/4 {
			t.Errorf("attempt %d: 200 delays all within [%v, %v]: no jitter to speak of", attempt, lo, hi)
		}
	}
	if got := keyq.DefaultWorkerBackoff(0, nil); got < 500*time.Millisecond || got > time.Second {
		t.Errorf("first retry after %v, want 0.5 to 1s", got)
	}
}

// TestJitter checks that a seeded source gives the same delays, that they keep
// within [d/2, d], and that 0 or less passes through.
func TestJitter(t *testing.T) {
	f := keyq.ExponentialBackoff(time.Second, time.Minute)
	a := keyq.Jitter(f, rand.New(rand.NewPCG(1, 2)))
	b := keyq.Jitter(f, rand.New(rand.NewPCG(1, 2)))
	for attempt := range 10 {
		da, db := a(attempt, nil), b(attempt, nil)
		d := f(attempt, nil)
		if da != db || da < d/2 || da > d {
			t.Fatalf("attempt %d: delays %v and %v from one seed, want equal and between %v and %v", attempt, da, db, d/2, d)
		}
	}
	for _, d := range []time.Duration{-time.Second, 0} {
		if got := keyq.Jitter(func(int, error) time.Duration { return d }, nil)(3, nil); got != d {
			t.Errorf("jitter of %v = %v, want it passed through", d, got)
		}
	}
	if got := keyq.Jitter(func(int, error) time.Duration { return 1 }, nil)(0, nil); got != 1 {
		t.Errorf("jitter of 1ns = %v, want 1ns: a delay never becomes 0", got)
	}
	if got := keyq.ImmediateBackoff(5, errors.New("x")); got != 0 {
		t.Errorf("ImmediateBackoff = %v, want 0", got)
	}
}

// TestWorkerDefaultBackoffPoison checks that a task that keeps failing does not
// starve the tasks behind it: with a poison task at the head and three good tasks
// behind it, a worker with the default backoff handles the good ones before the
// poison task's second attempt, which comes once its delay is due (S7.2). On
// memory the worker has default options and the backend's clock is a fake one,
// moved by the longest first delay of the default; on Redis, whose clock runs for
// real, the same jittered exponential backoff starts at an hour, so that the
// order does not depend on the machine's speed, and the poison task is checked to
// wait in the delayed set.
func TestWorkerDefaultBackoffPoison(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bf backendFactory) {
		e := bf.new(t, false, keyq.Queues(q))
		rec := newRecorder()
		opts := []keyq.WorkerOption{rec.option(), keyq.WorkerConfig{Clock: e.wclock}}
		if e.bclock == nil {
			opts = append(opts, keyq.WorkerConfig{Backoff: keyq.Jitter(keyq.ExponentialBackoff(time.Hour, time.Hour), nil)})
		}
		w := mustWorker(t, e.client, opts...)
		calls := make(chan string, 100) // payload/attempt, in the order the handler runs
		w.HandleFunc("", func(_ context.Context, task *keyq.Task) (any, error) {
			calls <- fmt.Sprintf("%s/%d", task.Payload, task.Attempt)
			if string(task.Payload) == "poison" {
				return nil, errors.New("poison")
			}
			return "ok", nil
		})
		for _, p := range []string{"poison", "g1", "g2", "g3"} {
			mustEnqueue(t, e.client, q, p)
		}
		start(t, w)
		var got []string
		for range 4 {
			got = append(got, recv(t, calls, "a handler call"))
		}
		if want := []string{"poison/0", "g1/0", "g2/0", "g3/0"}; !slices.Equal(got, want) {
			t.Fatalf("handler calls %q, want %q: the good tasks before the poison task's second attempt", got, want)
		}
		var outcomes []string
		for range 4 {
			d := rec.next(t)
			outcomes = append(outcomes, fmt.Sprintf("%s %s", d.o, d.task.Payload))
		}
		slices.Sort(outcomes)
		if want := []string{"finished g1", "finished g2", "finished g3", "retried poison"}; !slices.Equal(outcomes, want) {
			t.Fatalf("outcomes %q, want %q in any order", outcomes, want)
		}
		bl, err := w.Backlog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st := bl[q]; st.Delayed != 1 || st.Waiting != 0 {
			t.Fatalf("backlog %+v once the good tasks are done, want the poison task delayed", st)
		}
		if e.bclock == nil {
			return
		}
		e.bclock.Advance(keyq.DefaultWorkerBackoffBase) // the longest first delay
		if c := recv(t, calls, "the poison task's second attempt"); c != "poison/1" {
			t.Fatalf("handler call %q after the delay, want poison/1", c)
		}
	})
}
