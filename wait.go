package keyq

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// Waiting for tasks (S3.4, S3.5), once for every driver.
//
// A Dequeue that may wait registers as a waiter before each try, then calls the
// driver's Dequeue, which never blocks. When that finds nothing, the call sleeps
// until a Wake for one of its queues, until the result's Next has passed on the
// backend's clock (a delayed task due, a lease expired), until its wait ends, or
// until ctx is done, and tries again.
//
// Wakes come from the namespace's backend.Notifier, through one registration per
// Client, made when a waiter first has to sleep and stopped when the last waiter
// leaves. Because the registration may come after a try, the first try after it
// is confirmed is made at once: it sees every task that came before. A Wake{q, n}
// wakes the longest-waiting waiters serving q until their batch sizes cover n, so
// one task does not send every idle consumer to the store; Wake{} wakes all. A
// waiter woken for q that then leases a full batch, or leaves without trying,
// passes the wake on to another waiter of q: tasks may be left there.
//
// Without a Notifier, or while registering fails, a waiter polls: it tries again
// every pollEvery, or at Next when that is sooner. A registration that does not
// come within the wait leaves the call with its one try.

// pollEvery is how often a waiter tries again when no Wake will come.
const pollEvery = 50 * time.Millisecond

// waiters are the waiting Dequeue calls of a Client.
type waiters struct {
	notifier backend.Notifier // nil: waiters poll

	mu     sync.Mutex
	regs   []*waitReg // in registration order, longest waiting first
	listen *listening // nil while no registration is made or being made
}

// waitReg is one waiting Dequeue, for up to count tasks of queues. c receives
// the queue it was woken for, or "" when it should simply look again.
type waitReg struct {
	queues []string
	count  int
	c      chan string
}

// listening is one Notify registration.
type listening struct {
	ready  chan struct{} // closed when Notify has returned
	err    error         // Notify's error, set before ready is closed
	stop   func()        // Notify's stop while the registration is the current one
	cancel context.CancelFunc
}

// add registers a waiter; the caller must remove it.
func (w *waiters) add(queues []string, count int) *waitReg {
	r := &waitReg{queues: queues, count: count, c: make(chan string, 1)}
	w.mu.Lock()
	w.regs = append(w.regs, r)
	w.mu.Unlock()
	return r
}

// remove ends a wait. A wake for a queue it received and did not act on goes to
// another waiter of that queue. The last waiter to leave ends the registration.
func (w *waiters) remove(r *waitReg) {
	w.mu.Lock()
	w.regs = slices.DeleteFunc(w.regs, func(o *waitReg) bool { return o == r })
	select {
	case q := <-r.c:
		if q != "" {
			w.wakeLocked(q, 1, nil)
		}
	default:
	}
	var l *listening
	var stop func()
	if len(w.regs) == 0 && w.listen != nil {
		l, w.listen = w.listen, nil
		stop, l.stop = l.stop, nil // nil while Notify runs: it then stops itself
	}
	w.mu.Unlock()
	if l != nil {
		if stop != nil {
			stop()
		}
		l.cancel()
	}
}

// passOn wakes one waiter of queue q other than r.
func (w *waiters) passOn(q string, r *waitReg) {
	w.mu.Lock()
	w.wakeLocked(q, 1, r)
	w.mu.Unlock()
}

// wake is the Notifier's callback. A Wake{Cancelled} is for workers running
// the task (S12.4): no task became available, and no waiter wakes.
func (w *waiters) wake(k backend.Wake) {
	if k.Cancelled != "" {
		return
	}
	w.mu.Lock()
	w.wakeLocked(k.Queue, k.Count, nil)
	w.mu.Unlock()
}

// wakeLocked wakes waiters of queue q, longest waiting first, until their batch
// sizes cover n tasks, or every waiter for q == "". It skips r, and waiters
// already woken. The caller holds w.mu.
func (w *waiters) wakeLocked(q string, n int, skip *waitReg) {
	for _, r := range w.regs {
		if q != "" && n <= 0 {
			return
		}
		if r == skip || (q != "" && !slices.Contains(r.queues, q)) {
			continue
		}
		select {
		case r.c <- q:
			n -= r.count
		default: // already woken
		}
	}
}

// current returns the current Notify registration, or nil.
func (w *waiters) current() *listening {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.listen
}

// confirmed reports whether Notify has returned without an error.
func (l *listening) confirmed() bool {
	select {
	case <-l.ready:
		return l.err == nil
	default:
		return false
	}
}

// listening returns the current Notify registration, starting one when there is
// none, or nil when the driver has no Notifier. Notify runs on its own
// goroutine, which no waiter's ctx bounds: the registration is shared. When the
// last waiter leaves before Notify returns, its ctx is cancelled, and a
// registration made anyway is stopped at once.
func (w *waiters) listening() *listening {
	if w.notifier == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listen != nil {
		return w.listen
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &listening{ready: make(chan struct{}), cancel: cancel}
	w.listen = l
	go func() {
		stop, err := w.notifier.Notify(ctx, w.wake)
		if err == nil && stop == nil {
			err = malformed("Notify returned no stop function")
		}
		w.mu.Lock()
		l.err = err
		current := w.listen == l
		if current && err != nil {
			w.listen = nil // the next wait tries again
		} else if current {
			l.stop = stop
		}
		close(l.ready)
		w.mu.Unlock()
		if !current && err == nil {
			stop()
		}
		if !current || err != nil {
			cancel()
		}
	}()
	return l
}

// wait leases up to p.Count tasks of p.Queues, waiting up to d for them, as
// described at the top of this file.
func (c *Client) wait(ctx context.Context, p *backend.DequeueParams, d time.Duration) (backend.DequeueResult, error) {
	r := c.waits.add(p.Queues, p.Count)
	defer c.waits.remove(r)
	end := time.NewTimer(d) // the wait is the caller's, on the host's clock
	defer end.Stop()
	l := c.waits.current() // nil: none yet; this wait starts one if it must sleep
	deduped := 0           // over every try
	woken := ""            // the queue of the wake that led to this try
	for {
		select { // a wake since the last try is served by this one
		case q := <-r.c:
			if woken == "" {
				woken = q
			}
		default:
		}
		// A registration confirmed before the try hears of every task after it.
		covered := l != nil && l.confirmed()
		res, err := c.dequeueOnce(ctx, p)
		res.Deduped += deduped
		if woken != "" && (err != nil || len(res.Leases) == p.Count) {
			// A failed try may not have looked, and a full batch may have left
			// tasks in the queue this wake was for; a shorter one emptied every
			// queue of p.Queues.
			c.waits.passOn(woken, r)
		}
		woken = ""
		if err != nil || len(res.Leases) > 0 {
			return res, err // leases are returned even when ctx ended meanwhile
		}
		deduped = res.Deduped
		if l == nil {
			l = c.waits.listening()
		}
		next, ready, poll := res.Next, (<-chan struct{})(nil), l == nil
		if l != nil {
			select {
			case <-l.ready:
				if l.err == nil && !covered {
					continue // registered since the try: look again, for what came before
				}
				poll = l.err != nil
			default:
				ready = l.ready
			}
		}
		if poll && (next == 0 || next > pollEvery) {
			next = pollEvery
		}
		var nextT clock.Timer
		var nextC <-chan time.Time
		if next > 0 {
			nextT = c.clock.NewTimer(next)
			nextC = nextT.C()
		}
		over := false
		select {
		case woken = <-r.c:
		case <-nextC:
		case <-ready: // Notify returned: look again, for what came before
		case <-end.C:
			over = true
		case <-ctx.Done():
			over, err = true, backend.CtxErr(ctx)
		}
		if nextT != nil {
			nextT.Stop()
		}
		if over {
			return res, err
		}
	}
}
