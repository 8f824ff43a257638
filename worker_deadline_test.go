package keyq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyq/keyq"
)

func TestEnqueueAt(t *testing.T) {
	e := newMemoryEnv(t, false)
	ctx := bounded(t)
	mustEnqueue(t, e.client, "default", "past", keyq.At(time.Now().Add(-time.Hour)))
	if l, err := e.client.Next(ctx); err != nil || l == nil || string(l.Payload) != "past" {
		t.Fatalf("Next after At(an hour ago) = %v, %v; want the task at once", l, err)
	}
	mustEnqueue(t, e.client, "default", "later", keyq.At(time.Now().Add(10*time.Second)))
	if st, _ := e.client.Stats(ctx, "default"); st.Queues["default"].Delayed != 1 {
		t.Fatalf("stats after At(in 10s) = %+v, want 1 delayed", st.Queues["default"])
	}
	e.bclock.Advance(9 * time.Second)
	if l, err := e.client.Next(ctx); err != nil || l != nil {
		t.Fatalf("Next 9s after At(in 10s) = %v, %v; want nothing yet", l, err)
	}
	e.bclock.Advance(time.Second)
	if l, err := e.client.Next(ctx); err != nil || l == nil || string(l.Payload) != "later" {
		t.Fatalf("Next 10s after At(in 10s) = %v, %v; want the task", l, err)
	}
}

func TestEnqueueReservedHeaders(t *testing.T) {
	e := newMemoryEnv(t, false)
	ctx := bounded(t)
	for name, call := range map[string]func() error{
		"Header": func() error {
			_, err := e.client.Enqueue(ctx, "q", nil, keyq.Header(keyq.HeaderTimeout, "1s"))
			return err
		},
		"Message.Headers": func() error {
			_, err := e.client.EnqueueBatch(ctx, "q", []keyq.Message{{Headers: map[string]string{"keyq-anything": ""}}})
			return err
		},
		"Timeout(0)": func() error {
			_, err := e.client.Enqueue(ctx, "q", nil, keyq.Timeout(0))
			return err
		},
		"Timeout(over)": func() error {
			_, err := e.client.Enqueue(ctx, "q", nil, keyq.Timeout(keyq.MaxDuration+1))
			return err
		},
		"At(over MaxDuration)": func() error {
			_, err := e.client.Enqueue(ctx, "q", nil, keyq.At(time.Now().Add(keyq.MaxDuration+time.Hour)))
			return err
		},
		"Deadline(zero)": func() error {
			_, err := e.client.Enqueue(ctx, "q", nil, keyq.Deadline(time.Time{}))
			return err
		},
	} {
		if err := call(); !errors.Is(err, keyq.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if st, err := e.client.Stats(ctx, "q"); err != nil || st.Queues["q"] != (keyq.QueueStats{}) {
		t.Fatalf("after refused enqueues: %+v, %v; want nothing queued", st.Queues["q"], err)
	}
}

// TestWorkerDeadlinePassed checks that a task taken after its deadline is not
// started, and ends as timed out with "deadline exceeded", not retried.
func TestWorkerDeadlinePassed(t *testing.T) {
	e := newMemoryEnv(t, false)
	id := mustEnqueue(t, e.client, "default", "late", keyq.Deadline(epoch.Add(-time.Millisecond)))
	rec := newRecorder()
	w := mustWorker(t, e.client, keyq.WorkerConfig{Clock: e.wclock}, rec.option())
	w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
		t.Error("the handler ran a task past its deadline")
		return nil, nil
	})
	start(t, w)
	d := rec.expect(t, keyq.OutcomeFailed)
	if !errors.Is(d.err, keyq.ErrTaskDeadline) {
		t.Errorf("error %v, want ErrTaskDeadline", d.err)
	}
	wantExpired(t, e, id, "late")
}

// wantExpired checks the end of a task whose deadline passed.
func wantExpired(t *testing.T, e env, id, key string) {
	t.Helper()
	ctx := bounded(t)
	if j := mustJob(t, e.client, id); j.Status != keyq.StatusTimeout || j.LastError != "deadline exceeded" {
		t.Errorf("job %+v, want status timeout, last error \"deadline exceeded\"", j)
	}
	a, err := e.client.Answer(ctx, key)
	var f keyq.FailureAnswer
	if err != nil || a.OK || a.Decode(&f) != nil || f.Error != "deadline exceeded" {
		t.Errorf("answer %+v (%v), want the error answer \"deadline exceeded\"", a, err)
	}
	if st, err := e.client.Stats(ctx, "default"); err != nil || st.Queues["default"] != (keyq.QueueStats{}) {
		t.Errorf("queue %+v (%v), want nothing left to retry", st.Queues["default"], err)
	}
}

// TestWorkerDeadlineWhileRunning checks that a handler's context carries its
// task's deadline, is cancelled at it with cause ErrTaskDeadline, and that the
// task then ends as timed out, not retried, even though the handler returned
// nil.
func TestWorkerDeadlineWhileRunning(t *testing.T) {
	e := newMemoryEnv(t, false)
	deadline := epoch.Add(5 * time.Second)
	id := mustEnqueue(t, e.client, "default", "slow", keyq.Deadline(deadline), keyq.Timeout(time.Minute))
	rec := newRecorder()
	w := mustWorker(t, e.client, keyq.WorkerConfig{Clock: e.wclock, Timeout: time.Hour}, rec.option())
	running := make(chan time.Time, 1)
	w.HandleFunc("", func(ctx context.Context, _ *keyq.Task) (any, error) {
		dl, _ := ctx.Deadline()
		running <- dl
		<-ctx.Done()
		if !isCause(ctx, keyq.ErrTaskDeadline) {
			t.Errorf("handler cancelled with cause %v, want ErrTaskDeadline", context.Cause(ctx))
		}
		return "ignored", nil
	})
	start(t, w)
	if dl := recv(t, running, "the handler's start"); !dl.Equal(deadline) {
		t.Errorf("handler context deadline %v, want the task's %v", dl, deadline)
	}
	e.wclock.Advance(5*time.Second - time.Millisecond)
	select {
	case d := <-rec.ch:
		t.Fatalf("outcome %s before the deadline", d.o)
	default:
	}
	e.wclock.Advance(time.Millisecond)
	d := rec.expect(t, keyq.OutcomeFailed)
	if !errors.Is(d.err, keyq.ErrTaskDeadline) {
		t.Errorf("error %v, want ErrTaskDeadline", d.err)
	}
	wantExpired(t, e, id, "slow")
}

// TestWorkerTaskTimeout checks that a task's own timeout takes the place of
// the worker's, is its handler's context deadline, and counts as the worker's
// timeout: the task is retried with the last error "timeout".
func TestWorkerTaskTimeout(t *testing.T) {
	e := newMemoryEnv(t, false)
	id := mustEnqueue(t, e.client, "default", "x", keyq.Timeout(2*time.Second))
	rec := newRecorder()
	w := mustWorker(t, e.client, keyq.WorkerConfig{Clock: e.wclock, Timeout: time.Hour, Backoff: keyq.ImmediateBackoff}, rec.option())
	running := make(chan time.Time, 2)
	w.HandleFunc("", func(ctx context.Context, task *keyq.Task) (any, error) {
		dl, _ := ctx.Deadline()
		running <- dl
		if task.Attempt > 0 {
			return "done", nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	start(t, w)
	if dl := recv(t, running, "the handler's start"); !dl.Equal(epoch.Add(2 * time.Second)) {
		t.Errorf("handler context deadline %v, want %v", dl, epoch.Add(2*time.Second))
	}
	e.wclock.Advance(2 * time.Second)
	if d := rec.expect(t, keyq.OutcomeRetried); !errors.Is(d.err, keyq.ErrTaskTimeout) {
		t.Errorf("error %v, want ErrTaskTimeout", d.err)
	}
	rec.expect(t, keyq.OutcomeFinished)
	if j := mustJob(t, e.client, id); j.Status != keyq.StatusFinished || j.Attempts != 2 {
		t.Errorf("job %+v, want finished after 2 attempts", j)
	}
	if s := w.Stats(); s.Timeouts != 1 {
		t.Errorf("stats %+v, want 1 timeout", s)
	}
}

// TestWorkerMalformedLimit checks that a task whose reserved header is
// malformed (set by an enqueue hook, which may) fails for good, unstarted.
func TestWorkerMalformedLimit(t *testing.T) {
	e := newMemoryEnv(t, false, keyq.OnEnqueue(func(_ context.Context, _, _ string, m *keyq.Message) {
		m.Headers = map[string]string{keyq.HeaderDeadline: "yesterday"}
	}))
	mustEnqueue(t, e.client, "default", "x")
	rec := newRecorder()
	w := mustWorker(t, e.client, keyq.WorkerConfig{Clock: e.wclock}, rec.option())
	w.HandleFunc("", func(context.Context, *keyq.Task) (any, error) {
		t.Error("the handler ran a task with a malformed deadline")
		return nil, nil
	})
	start(t, w)
	if d := rec.expect(t, keyq.OutcomeFailed); d.err == nil || !keyq.IsFinal(d.err) {
		t.Errorf("error %v, want a final error", d.err)
	}
}

// TestWorkerDeadlineRealClock checks that on the real clock the handler's
// context is a context.WithDeadline one: Err is context.DeadlineExceeded. The
// deadline leaves the worker 2 s to start the task: a task past its deadline
// is never started (S7.7), and a loaded machine (-race, busy cores) has been
// seen to take longer than 200 ms from enqueue to start.
func TestWorkerDeadlineRealClock(t *testing.T) {
	e := newMemoryEnv(t, true)
	mustEnqueue(t, e.client, "default", "x", keyq.Deadline(time.Now().Add(2*time.Second)))
	rec := newRecorder()
	w := mustWorker(t, e.client, rec.option())
	errs := make(chan error, 1)
	w.HandleFunc("", func(ctx context.Context, _ *keyq.Task) (any, error) {
		<-ctx.Done()
		if !isCause(ctx, keyq.ErrTaskDeadline) {
			t.Errorf("cause %v, want ErrTaskDeadline", context.Cause(ctx))
		}
		errs <- ctx.Err()
		return nil, ctx.Err()
	})
	start(t, w)
	if err := recv(t, errs, "the deadline"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx.Err() = %v, want context.DeadlineExceeded", err)
	}
	rec.expect(t, keyq.OutcomeFailed)
}
