package memory

import (
	"slices"
	"time"
)

// waiter is a Dequeue call blocked until a task may be available.
type waiter struct {
	queues []string
	wake   chan struct{} // buffered; sent to once, after the waiter left ns.waiters
	woken  bool          // taken off ns.waiters by a wake-up
	reason string        // the queue it was woken for; "" for a timer change
}

// wake wakes one waiter that serves queue q, for a task that became available there.
// The caller holds ns.mu.
func (ns *namespace) wake(q string) {
	for i, w := range ns.waiters {
		if slices.Contains(w.queues, q) {
			ns.waiters = slices.Delete(ns.waiters, i, i+1)
			w.woken, w.reason = true, q
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
		w.woken, w.reason = true, ""
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

// unpark ends a wait, whatever ended it. A waiter that leaves without trying again
// (its context ended, or the backend closed) passes a wake-up it received for a queue
// on to another waiter, so a task never sits while someone waits for it.
func (ns *namespace) unpark(w *waiter, leaving bool) {
	if !w.woken {
		if i := slices.Index(ns.waiters, w); i >= 0 {
			ns.waiters = slices.Delete(ns.waiters, i, i+1)
		}
		return
	}
	if leaving && w.reason != "" {
		ns.wake(w.reason)
	}
}
