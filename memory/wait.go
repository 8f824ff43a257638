package memory

import (
	"slices"
	"time"
)

// waiter is a Dequeue call blocked until a task may be available.
type waiter struct {
	queues []string
	wake   chan struct{} // buffered; sent to once, after the waiter left ns.waiters
	reason string        // the queue it was woken for; "" for a timer change
}

// wake wakes one waiter that serves queue q, for a task that became available there.
// The caller holds ns.mu.
func (ns *namespace) wake(q string) {
	for i, w := range ns.waiters {
		if slices.Contains(w.queues, q) {
			ns.waiters = slices.Delete(ns.waiters, i, i+1)
			w.reason = q
			w.wake <- struct{}{}
			return
		}
	}
}

// newEvent notes a new lease deadline or delayed due time. When it is earlier than
// the one the waiters sleep towards, they are all woken to set their timers again.
func (ns *namespace) newEvent(at time.Time) {
	if len(ns.waiters) == 0 || (!ns.eventAt.IsZero() && !at.Before(ns.eventAt)) {
		return
	}
	for _, w := range ns.waiters {
		w.reason = ""
		w.wake <- struct{}{}
	}
	clear(ns.waiters)
	ns.waiters = ns.waiters[:0]
}

// nextEvent returns the earliest delayed due time or lease deadline, or zero.
func (ns *namespace) nextEvent() time.Time {
	a, b := ns.delayed.first(), ns.leaseDue.first()
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// park registers a waiter. The caller holds ns.mu.
func (ns *namespace) park(queues []string) (*waiter, time.Time) {
	w := &waiter{queues: queues, wake: make(chan struct{}, 1)}
	ns.waiters = append(ns.waiters, w)
	ev := ns.nextEvent()
	ns.eventAt = ev
	return w, ev
}

// unpark removes a waiter that stops waiting without taking a task. If it was woken
// for a queue meanwhile, the wake-up goes to another waiter, so none is lost.
func (ns *namespace) unpark(w *waiter) {
	if i := slices.Index(ns.waiters, w); i >= 0 {
		ns.waiters = slices.Delete(ns.waiters, i, i+1)
		return
	}
	select {
	case <-w.wake:
		if w.reason != "" {
			ns.wake(w.reason)
		}
	default:
	}
}
