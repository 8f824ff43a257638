package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/keyq/keyq/backend"
)

// lock begins a call: it checks ctx and invalid, the error of the call's
// parameters' Validate (backend.Check; nil for a call without parameters), locks
// the namespace and fails with backend.ErrClosed after Close. The caller must
// call ns.unlock.
func (ns *Namespace) lock(ctx context.Context, invalid error) error {
	if err := backend.Check(ctx, invalid); err != nil {
		return err
	}
	ns.mu.Lock()
	if ns.b.closed.Load() {
		ns.mu.Unlock()
		return backend.ErrClosed
	}
	return nil
}

// open is lock for a call that changes tasks: it runs housekeeping, and returns
// the time it read, which the call then uses throughout (the clock is read once
// per call).
func (ns *Namespace) open(ctx context.Context, invalid error) (time.Time, error) {
	if err := ns.lock(ctx, invalid); err != nil {
		return time.Time{}, err
	}
	now := ns.b.clock.Now()
	ns.housekeep(now)
	return now, nil
}

// unlock ends a call: it tells the Notify registrations what became available,
// and sends Wake{} when a delayed due time or lease deadline came sooner than the
// earliest there was before the call and an empty Dequeue reported a Next since
// the last Wake{} (without one, nobody sleeps towards a Next). Then it unlocks
// the namespace.
func (ns *Namespace) unlock() {
	for _, q := range ns.fresh {
		// Minus those this call took; a paused queue's tasks wake nobody until
		// it is resumed (Pause).
		if n := min(q.fresh, q.tasks.len()); n > 0 && !q.paused {
			ns.send(backend.Wake{Queue: q.name, Count: n})
		}
		q.fresh = 0
	}
	clear(ns.fresh)
	ns.fresh = ns.fresh[:0]
	ev := ns.nextEvent()
	if ns.asked && !ev.IsZero() && (ns.eventAt.IsZero() || ev.Before(ns.eventAt)) {
		ns.asked = false
		ns.send(backend.Wake{})
	}
	ns.eventAt = ev
	ns.mu.Unlock()
}

// avail notes that a task became available in q, for unlock to announce.
func (ns *Namespace) avail(q *queue) {
	if q.fresh == 0 {
		ns.fresh = append(ns.fresh, q)
	}
	q.fresh++
}

// send calls every Notify registration with w. The caller holds ns.mu.
func (ns *Namespace) send(w backend.Wake) {
	for _, f := range ns.listeners {
		f(w)
	}
}

// nextEvent returns the earliest delayed due time or lease deadline, or zero.
func (ns *Namespace) nextEvent() time.Time {
	a, b := ns.delayed.first(), ns.leaseDue.first()
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// Notify registers f to be called whenever tasks may have become available in the
// namespace; see backend.Notifier. It is live once Notify returns. f is called
// with the namespace locked, at the end of the call that made the tasks available:
// it must not block and must not call the driver, stop included. After stop
// returns f is not called again; a second stop does nothing. Close calls every
// registration with Wake{} and drops it.
//
// f gets Wake{Queue: q, Count: n} when n tasks became available in q (an enqueue
// without delay, a release without delay, RequeueDead, or housekeeping moving due
// delayed tasks and expired leases back), less those the same call took, unless
// q is paused; Wake{} when a call made a delayed due time or lease deadline
// earlier than any there was before it, if a Dequeue came back empty since the
// last Wake{} (a caller that sleeps towards the Next of that Dequeue then looks
// again), and when Pause resumes a paused queue; and Wake{Cancelled: id} when
// Cancel ends the lease of task id.
func (ns *Namespace) Notify(ctx context.Context, f func(backend.Wake)) (stop func(), err error) {
	if err := ns.lock(ctx, nil); err != nil {
		return nil, err
	}
	defer ns.unlock()
	if f == nil {
		return nil, fmt.Errorf("%w: nil notify function", backend.ErrInvalid)
	}
	ns.lastID++
	id := ns.lastID
	ns.listeners[id] = f
	return func() {
		ns.mu.Lock()
		delete(ns.listeners, id)
		ns.mu.Unlock()
	}, nil
}
