package keyq

import (
	"context"
	"slices"
	"sync"
	"time"
	"weak"

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
// Client, made when a waiter first has to sleep and stopped once no waiter has
// been left for lingerFor. Because the registration may come after a try, the
// first try after it is confirmed is made at once: it sees every task that came
// before.
//
// While the registration is confirmed, a try that finds less than a full batch
// marks its queues empty, unless a wake came while it ran; any wake for a queue clears its mark,
// Wake{} clears every mark, and so does the end of the registration. A wait
// whose queues are all marked skips its first try and sleeps at once: nothing
// can have come that no wake announced. A mark lasts until the Next of the try
// that set it (a delayed task due, a lease expired), and at most trustEmpty on
// the host's clock, so that a wake-up lost in a driver costs at most one
// try's delay. This is what keeps an idle worker from asking the store twice
// for every task it is woken for. A Wake{q, n}
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

// lingerFor is how long a confirmed registration outlives the last waiter: a
// worker between tasks keeps it, and the empty marks it makes reliable.
const lingerFor = 5 * time.Second

// trustEmpty is the longest a queue stays marked empty on the host's clock.
const trustEmpty = time.Second

// waiters are the waiting Dequeue calls of a Client.
type waiters struct {
	notifier backend.Notifier // nil: waiters poll

	mu     sync.Mutex
	regs   []*waitReg // in registration order, longest waiting first
	listen *listening // nil while no registration is made or being made

	clock  clock.Clock   // the Client's: the backend's, or the host's
	linger time.Duration // lingerFor; 0 stops a registration with the last waiter
	idle   *time.Timer   // stops the registration once no waiter came for linger
	gen    uint64        // counts wakes: a try marks queues only if none came while it ran
	empty  map[string]emptyMark
}

// emptyMark says until when a queue is known to be empty: until at on the
// backend's clock (zero: no bound there) and host on the host's.
type emptyMark struct {
	at, host time.Time
}

// waitReg is one waiting Dequeue, for up to count tasks of queues. c receives
// the queue it was woken for, or "" when it should simply look again; event
// receives the time a Wake{In} names, on the Client's clock: it should look
// again by then.
type waitReg struct {
	queues []string
	count  int
	c      chan string
	event  chan time.Time
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
	r := &waitReg{queues: queues, count: count, c: make(chan string, 1), event: make(chan time.Time, 1)}
	w.mu.Lock()
	w.regs = append(w.regs, r)
	if w.idle != nil {
		w.idle.Stop()
		w.idle = nil
	}
	w.mu.Unlock()
	return r
}

// remove ends a wait. A wake for a queue it received and did not act on goes to
// another waiter of that queue. The last waiter to leave ends a registration
// that is not yet confirmed at once, and a confirmed one after w.linger unless
// another waiter comes first.
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
	if len(w.regs) > 0 || w.listen == nil {
		w.mu.Unlock()
		return
	}
	if l := w.listen; w.linger > 0 && l.confirmed() {
		if w.idle == nil {
			w.lingerLocked(l)
		}
		w.mu.Unlock()
		return
	}
	w.endLocked() // unlocks
}

// lingerLocked starts the timer that ends registration l once no waiter has
// come for w.linger. The timer holds w and l weakly: a Client its program has
// dropped, whose registration nothing else holds (its backend closed), is not
// kept alive, with its backend's data, for the linger. The caller holds w.mu.
func (w *waiters) lingerLocked(l *listening) {
	ww, wl := weak.Make(w), weak.Make(l)
	w.idle = time.AfterFunc(w.linger, func() {
		if w, l := ww.Value(), wl.Value(); w != nil && l != nil {
			w.stopIdle(l)
		}
	})
}

// stopIdle ends registration l if it is still the current one and no waiter
// came since its timer was set.
func (w *waiters) stopIdle(l *listening) {
	w.mu.Lock()
	if w.listen != l || len(w.regs) > 0 || w.idle == nil {
		w.mu.Unlock()
		return
	}
	w.idle = nil
	w.endLocked()
}

// endLocked ends the current registration and forgets the empty marks it made
// reliable. The caller holds w.mu, which endLocked unlocks.
func (w *waiters) endLocked() {
	l := w.listen
	w.listen = nil
	stop := l.stop
	l.stop = nil // nil while Notify runs: it then stops itself
	clear(w.empty)
	w.gen++
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
	l.cancel()
}

// knownEmpty reports how long every queue of qs stays marked empty, on the
// Client's clock, or 0 when one is not marked; a mark without a bound on that
// clock gives trustEmpty.
func (w *waiters) knownEmpty(qs []string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.empty) == 0 {
		return 0
	}
	now, host := w.now(), time.Now()
	left := trustEmpty
	for _, q := range qs {
		m, ok := w.empty[q]
		if !ok || !host.Before(m.host) || (!m.at.IsZero() && !now.Before(m.at)) {
			return 0
		}
		if !m.at.IsZero() {
			left = min(left, m.at.Sub(now))
		}
	}
	return left
}

// now reads the Client's clock: the backend's, or the host's.
func (w *waiters) now() time.Time {
	if w.clock == nil { // a zero waiters, in tests
		return time.Now()
	}
	return w.clock.Now()
}

// generation returns the count of wakes so far, for markEmpty.
func (w *waiters) generation() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gen
}

// markEmpty marks qs empty after a try that found nothing, made while
// registration l was confirmed, if no wake came since generation returned gen.
// next is the try's Next, on the Client's clock.
func (w *waiters) markEmpty(l *listening, qs []string, gen uint64, next time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.listen != l || w.gen != gen {
		return
	}
	m := emptyMark{host: time.Now().Add(trustEmpty)}
	if next > 0 {
		m.at = w.now().Add(next)
	}
	if w.empty == nil {
		w.empty = make(map[string]emptyMark)
	}
	for _, q := range qs {
		w.empty[q] = m
	}
}

// passOn wakes one waiter of queue q other than r.
func (w *waiters) passOn(q string, r *waitReg) {
	w.mu.Lock()
	w.wakeLocked(q, 1, r)
	w.mu.Unlock()
}

// wake is the Notifier's callback. A Wake{Cancelled} is for workers running
// the task (S12.4): no task became available, and no waiter wakes. A Wake{In}
// bounds the empty marks and tells every waiter to look again by then, not
// now.
func (w *waiters) wake(k backend.Wake) {
	if k.Cancelled != "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	switch {
	case k.Queue == "" && k.In > 0:
		w.eventLocked(k.In)
	case k.Queue == "":
		clear(w.empty)
		w.wakeLocked("", 0, nil)
	default:
		delete(w.empty, k.Queue)
		w.wakeLocked(k.Queue, k.Count, nil)
	}
}

// eventLocked handles a Wake{In: d}: something may become available d from
// now. The caller holds w.mu.
func (w *waiters) eventLocked(d time.Duration) {
	at := w.now().Add(d) // now: the waiters may see it later
	if len(w.empty) > 0 {
		for q, m := range w.empty {
			if m.at.IsZero() || at.Before(m.at) {
				m.at = at
				w.empty[q] = m
			}
		}
	}
	for _, r := range w.regs {
		select {
		case old := <-r.event: // not yet seen: keep the sooner
			if old.Before(at) {
				r.event <- old
			} else {
				r.event <- at
			}
		default:
			r.event <- at
		}
	}
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
			if len(w.regs) == 0 && w.linger > 0 && w.idle == nil {
				// Every waiter left while Notify ran: linger from now.
				w.lingerLocked(l)
			}
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
// described at the top of this file; a receive from until ends it as the end of
// d would, between tries.
func (c *Client) wait(ctx context.Context, p *backend.DequeueParams, d time.Duration, until <-chan struct{}) (backend.DequeueResult, error) {
	r := c.waits.add(p.Queues, p.Count)
	defer c.waits.remove(r)
	end := time.NewTimer(d) // the wait is the caller's, on the host's clock
	defer end.Stop()
	l := c.waits.current() // nil: none yet; this wait starts one if it must sleep
	deduped := 0           // over every try
	woken := ""            // the queue of the wake that led to this try
	skip := c.waits.knownEmpty(p.Queues)
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
		var res backend.DequeueResult
		var err error
		if skip > 0 && woken == "" && covered {
			res.Next = skip // known empty: sleep until a wake, or the mark ends
		} else {
			gen := c.waits.generation()
			res, err = c.dequeueOnce(ctx, p)
			if covered && err == nil && len(res.Leases) < p.Count {
				// Short of a full batch, the try emptied every queue it
				// asked: the next wait need not ask again before a wake.
				c.waits.markEmpty(l, p.Queues, gen, res.Next)
			}
		}
		skip = 0
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
		var nextAt time.Time
		if next > 0 {
			nextT = c.clock.NewTimer(next)
			nextC = nextT.C()
			nextAt = c.clock.Now().Add(next)
		}
		over := false
		select {
		case woken = <-r.c:
		case at := <-r.event:
			// Something comes at: sleep until then, or until this sleep's
			// end if sooner, without a try now (none if both have passed).
			if !nextAt.IsZero() && nextAt.Before(at) {
				at = nextAt
			}
			skip = at.Sub(c.clock.Now())
		case <-nextC:
		case <-ready: // Notify returned: look again, for what came before
		case <-end.C:
			over = true
		case <-until:
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
