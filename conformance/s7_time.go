package conformance

import (
	"context"
	"errors"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
)

func init() {
	register(
		test{name: "S7.1 a stalled call fails with ErrTimeout after the operation timeout", fn: testOpTimeout},
		test{name: "S7.1 an expired context fails with ErrTimeout and changes nothing", fn: testExpiredContext},
		test{name: "S7.1 a waiting dequeue gets its wait on top of the operation timeout", fn: testWaitBeyondOpTimeout},
		test{name: "S7.2 a delayed task comes at the head once due, not before", fn: testDelayed},
		test{name: "S7.3 times come from the backend's clock", fn: testBackendClock},
	)
}

// stalled is a backend whose Enqueue hangs until its context ends, like a server
// that stopped answering.
type stalled struct{ backend.Backend }

func (s stalled) Namespace(name string) (backend.Namespace, error) {
	h, err := s.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return stalledNamespace{h}, nil
}

type stalledNamespace struct{ backend.Namespace }

func (stalledNamespace) Enqueue(ctx context.Context, _ backend.EnqueueParams) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func testOpTimeout(e *env) {
	c, err := keyq.New(stalled{e.tg.Backend}, e.ns, keyq.WithOpTimeout(50*time.Millisecond))
	if err != nil {
		e.Fatal(err)
	}
	start := time.Now()
	_, err = c.Enqueue(e.ctx, "q", []byte("x"))
	if !errors.Is(err, keyq.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("stalled Enqueue: %v; want ErrTimeout matching DeadlineExceeded", err)
	}
	// The upper bounds only catch a call that waits for the test's own context.
	if d := time.Since(start); d < 50*time.Millisecond || d > patience {
		e.Fatalf("stalled Enqueue returned after %v, want it after the 50ms operation timeout", d)
	}
	c, err = keyq.New(stalled{e.tg.Backend}, e.ns, keyq.WithOpTimeout(longWait))
	if err != nil {
		e.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Millisecond) // a shorter deadline wins
	defer cancel()
	start = time.Now()
	if _, err = c.Enqueue(ctx, "q", []byte("x")); !errors.Is(err, keyq.ErrTimeout) || time.Since(start) > patience {
		e.Fatalf("stalled Enqueue with a 20ms deadline and a %v operation timeout: %v after %v", longWait, err, time.Since(start))
	}
}

func testExpiredContext(e *env) {
	c := e.client()
	ctx, cancel := context.WithDeadline(e.ctx, time.Now().Add(-time.Second))
	defer cancel()
	_, err := c.Enqueue(ctx, "q", []byte("x"))
	if !errors.Is(err, keyq.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		e.Fatalf("Enqueue with an expired context: %v", err)
	}
	_, err = c.Next(ctx)
	e.wantErr("Next with an expired context", err, keyq.ErrTimeout)
	if n, _ := c.Len(e.ctx, "q"); n != 0 {
		e.Fatalf("an enqueue that timed out queued %d tasks", n)
	}
	cctx, ccancel := context.WithCancel(e.ctx)
	ccancel()
	_, err = c.Enqueue(cctx, "q", []byte("x"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, keyq.ErrTimeout) {
		e.Fatalf("Enqueue with a cancelled context: %v; want context.Canceled as it is", err)
	}
}

// testWaitBeyondOpTimeout: a dequeue that waits 300ms with an operation timeout of
// 50ms must not end before its wait. After the wait the operation timeout bounds the
// last look, so on a machine too slow to make it within 50ms the call may end with
// ErrTimeout, but only once both have passed.
func testWaitBeyondOpTimeout(e *env) {
	const op, wait = 50 * time.Millisecond, 300 * time.Millisecond
	c := e.client(keyq.WithOpTimeout(op))
	start := time.Now()
	ls, err := c.Dequeue(e.ctx, keyq.Wait(wait))
	d := time.Since(start)
	switch {
	case d >= wait && err == nil && len(ls) == 0:
	case d >= wait+op && errors.Is(err, keyq.ErrTimeout):
		e.Logf("the look after the wait took longer than the operation timeout: %v after %v", err, d)
	default:
		e.Fatalf("Dequeue(Wait(%v)) with a %v op timeout: %d leases, %v after %v; want an empty result after the wait", wait, op, len(ls), err, d)
	}
}

func testDelayed(e *env) {
	c := e.client()
	delayed := e.mark()
	e.enqueue(c, "q", "later", keyq.Delay(e.u(3)))
	e.within(delayed, 3, "the delayed enqueue and the calls before it is due", func() {
		e.enqueue(c, "q", "now")
		e.wantQueue(c, "q", keyq.QueueStats{Waiting: 1, Delayed: 1})
		e.ack(c, e.nextPayload(c, "now"))
		e.none(c)
		e.advance(1)
		e.none(c)
		e.enqueue(c, "q", "queued meanwhile")
	})
	e.advance(3)
	e.wantQueue(c, "q", keyq.QueueStats{Waiting: 2})
	e.nextPayload(c, "later")
	e.nextPayload(c, "queued meanwhile")
	if _, err := c.EnqueueBatch(e.ctx, "q", []keyq.Message{{Payload: []byte("d1")}, {Payload: []byte("d2")}}, keyq.Delay(e.u(1))); err != nil {
		e.Fatal(err)
	}
	e.advance(2)
	e.nextPayload(c, "d2") // promoted in order, each to the head
	e.nextPayload(c, "d1")
}

func testBackendClock(e *env) {
	c := e.client()
	now := e.tg.Now()
	e.enqueue(c, "q", "a")
	l := e.next(c, keyq.LeaseFor(e.u(5)))
	after := e.tg.Now()
	// Each time must fall between the clock readings before and after the calls
	// that set it, give or take half a unit: a host clock an hour off is far out.
	slack := e.u(0.5)
	between := func(what string, t, lo, hi time.Time) {
		e.Helper()
		if t.Before(lo.Add(-slack)) || t.After(hi.Add(slack)) {
			e.Fatalf("%s %v is not between %v and %v on the backend's clock", what, t, lo, hi)
		}
	}
	between("EnqueuedAt", l.EnqueuedAt, now, after)
	between("lease deadline", l.Deadline, now.Add(e.u(5)), after.Add(e.u(5)))
	between("job StartedAt", e.job(c, l.ID).StartedAt, now, after)
}
