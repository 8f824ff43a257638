package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/clock"
)

func init() {
	register(
		test{name: "S7.5 a task enqueued At a time comes once the delay to it has passed; a past time means now", fn: testEnqueueAt},
		test{name: "S7.6 a task's own timeout replaces the worker's, bounds its handler's context and is retried as a timeout", fn: testTaskTimeout},
		test{name: "S7.6 headers of the reserved prefix keyq- are refused with ErrInvalid and nothing is queued", fn: testReservedHeaders},
		test{name: "S7.7 a task taken past its deadline is not started and ends timed out, not retried", fn: testDeadlinePassed},
		test{name: "S7.7 a handler still running at its task's deadline is cancelled and the task ends timed out, not retried", fn: testDeadlineRunning},
	)
}

// workEpoch is the start of the workers' own fake clocks.
var workEpoch = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func testEnqueueAt(e *env) {
	c := e.client()
	e.enqueue(c, "q", "past", keyq.At(time.Now().Add(-time.Hour)))
	e.ack(c, e.nextPayload(c, "past"))
	// At reads the caller's clock: the delay is the time to t on it.
	delayed := e.mark()
	e.enqueue(c, "q", "later", keyq.At(time.Now().Add(e.u(3))))
	e.within(delayed, 2, "the enqueue and the calls before it is due", func() {
		e.wantQueue(c, "q", keyq.QueueStats{Delayed: 1})
		e.none(c)
	})
	e.advance(3)
	e.nextPayload(c, "later")
}

func testReservedHeaders(e *env) {
	c := e.client()
	if _, err := c.Enqueue(e.ctx, "q", []byte("x"), keyq.Header("keyq-timeout", "1s")); !errors.Is(err, keyq.ErrInvalid) {
		e.Fatalf("Enqueue with header keyq-timeout: %v, want ErrInvalid", err)
	}
	_, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("a")}, {Payload: []byte("b"), Headers: map[string]string{"keyq-mine": "v"}}})
	e.wantErr("EnqueueBatch with header keyq-mine", err, keyq.ErrInvalid)
	e.wantQueue(c, "q", keyq.QueueStats{})
}

func testTaskTimeout(e *env) {
	c := e.client()
	clk := clock.NewFake(workEpoch)
	e.enqueue(c, "q", "x", keyq.Timeout(2*time.Second))
	deadlines := make(chan time.Time, 2)
	out := e.worker(c, clk, keyq.WorkerConfig{Timeout: time.Hour, Backoff: keyq.ImmediateBackoff, Lease: e.u(5)},
		func(ctx context.Context, t *keyq.Task) (any, error) {
			dl, _ := ctx.Deadline()
			deadlines <- dl
			if t.Attempt > 0 {
				return "done", nil
			}
			<-ctx.Done()
			return nil, context.Cause(ctx)
		})
	if dl := receive(e, deadlines, "the handler's start"); !dl.Equal(workEpoch.Add(2 * time.Second)) {
		e.Fatalf("handler context deadline %v, want the task's timeout at %v", dl, workEpoch.Add(2*time.Second))
	}
	if err := clk.WaitTimers(e.ctx, 2); err != nil { // the lease keeper's and the timeout's
		e.Fatalf("the worker's timers: %v", err)
	}
	clk.Advance(2 * time.Second)
	if o := e.outcomeOf(out, keyq.OutcomeRetried); !errors.Is(o.err, keyq.ErrTaskTimeout) {
		e.Fatalf("retried with %v, want ErrTaskTimeout", o.err)
	}
	e.outcomeOf(out, keyq.OutcomeFinished)
}

// wantDeadlineEnd checks the end of a task whose deadline passed: timed out,
// its error answer "deadline exceeded", nothing left to retry.
func (e *env) wantDeadlineEnd(c *keyq.Client, o outcome, key string) {
	e.Helper()
	if !errors.Is(o.err, keyq.ErrTaskDeadline) {
		e.Fatalf("outcome error %v, want ErrTaskDeadline", o.err)
	}
	e.wantQueue(c, "q", keyq.QueueStats{})
	a, err := c.Answer(e.ctx, key)
	var f keyq.FailureAnswer
	if err != nil || a.OK || a.Decode(&f) != nil || f.Error != "deadline exceeded" {
		e.Fatalf("answer %+v (%v), want the error answer \"deadline exceeded\"", a, err)
	}
	j, err := c.Job(e.ctx, o.task.ID)
	if err != nil {
		e.Fatalf("Job: %v", err)
	}
	if j.Status != keyq.StatusTimeout || j.LastError != "deadline exceeded" {
		e.Fatalf("job %+v, want status timeout and last error \"deadline exceeded\"", j)
	}
}

func testDeadlinePassed(e *env) {
	c := e.client()
	e.enqueue(c, "q", "late", keyq.Deadline(workEpoch.Add(-time.Millisecond)))
	started := make(chan struct{}, 1)
	out := e.worker(c, clock.NewFake(workEpoch), keyq.WorkerConfig{Lease: e.u(5)}, func(context.Context, *keyq.Task) (any, error) {
		started <- struct{}{}
		return nil, nil
	})
	o := e.outcomeOf(out, keyq.OutcomeFailed)
	select {
	case <-started:
		e.Fatal("the handler ran a task past its deadline")
	default:
	}
	e.wantDeadlineEnd(c, o, "late")
}

func testDeadlineRunning(e *env) {
	c := e.client()
	clk := clock.NewFake(workEpoch)
	deadline := workEpoch.Add(5 * time.Second)
	e.enqueue(c, "q", "slow", keyq.Deadline(deadline))
	deadlines := make(chan time.Time, 1)
	out := e.worker(c, clk, keyq.WorkerConfig{Lease: e.u(5)}, func(ctx context.Context, _ *keyq.Task) (any, error) {
		dl, _ := ctx.Deadline()
		deadlines <- dl
		<-ctx.Done()
		return "late result", nil
	})
	if dl := receive(e, deadlines, "the handler's start"); !dl.Equal(deadline) {
		e.Fatalf("handler context deadline %v, want the task's %v", dl, deadline)
	}
	if err := clk.WaitTimers(e.ctx, 2); err != nil { // the lease keeper's and the deadline's
		e.Fatalf("the worker's timers: %v", err)
	}
	clk.Advance(5 * time.Second)
	e.wantDeadlineEnd(c, e.outcomeOf(out, keyq.OutcomeFailed), "slow")
}
