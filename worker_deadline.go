package keyq

import (
	"context"
	"time"

	"github.com/keyq/keyq/clock"
)

// handlerLimit is the time limit of one handler call, on the worker's clock.
type handlerLimit struct {
	at       time.Time // when the handler's context is cancelled; zero: never
	cause    error     // ErrTaskTimeout or ErrTaskDeadline
	deadline time.Time // the task's deadline; zero: none
}

// limit works out the time limit of a handler call of t that starts now: the
// task's own timeout, or else the worker's (S7.6), cut short by the task's
// deadline (S7.7).
func (w *Worker) limit(t *Task) (handlerLimit, error) {
	timeout, deadline, err := taskLimits(t)
	if err != nil {
		return handlerLimit{}, err
	}
	if timeout == 0 {
		timeout = w.cfg.timeout
	}
	l := handlerLimit{deadline: deadline}
	if timeout > 0 {
		l.at, l.cause = w.cfg.clock.Now().Add(timeout), ErrTaskTimeout
	}
	if !deadline.IsZero() && (l.at.IsZero() || !l.at.Before(deadline)) {
		l.at, l.cause = deadline, ErrTaskDeadline
	}
	return l, nil
}

// expired reports whether the task's deadline has passed at now: it must not
// start.
func (l handlerLimit) expired(now time.Time) bool {
	return !l.deadline.IsZero() && !now.Before(l.deadline)
}

// limited returns the handler's context under l: it ends at l.at with l's
// cause, and its Deadline reports l.at. On the real clock that is
// context.WithDeadlineCause (Err is context.DeadlineExceeded); on another
// clock a timer of that clock cancels it through cancel. The returned function
// releases what it holds.
func (w *Worker) limited(ctx context.Context, l handlerLimit, cancel context.CancelCauseFunc) (context.Context, func()) {
	if l.at.IsZero() {
		return ctx, func() {}
	}
	if w.cfg.clock == clock.Real() {
		ctx, end := context.WithDeadlineCause(ctx, l.at, l.cause)
		return ctx, end
	}
	t := w.cfg.clock.TimerAt(l.at)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-t.C():
			cancel(l.cause)
		case <-stop:
		}
	}()
	if at, ok := ctx.Deadline(); !ok || l.at.Before(at) {
		ctx = clockDeadline{ctx, l.at}
	}
	return ctx, func() {
		t.Stop()
		close(stop)
		<-stopped
	}
}

// clockDeadline reports a limit on a worker's own clock as its context's
// deadline; the worker's timer cancels it.
type clockDeadline struct {
	context.Context
	at time.Time
}

func (c clockDeadline) Deadline() (time.Time, bool) { return c.at, true }
