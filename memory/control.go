package memory

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/keyq/keyq/backend"
)

// Pause stops deliveries from queues, or with p.Resume starts them again; see
// backend.Controller. A paused queue is kept, and listed by Stats, even when it
// holds no task; its enqueues send no Wake until it is resumed, and a resume
// that changes something sends Wake{}.
func (ns *Namespace) Pause(ctx context.Context, p backend.PauseParams) error {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return err
	}
	defer ns.unlock()
	resumed := false
	for _, name := range p.Queues {
		switch q := ns.queues[name]; {
		case !p.Resume:
			ns.queue(name).paused = true
		case q != nil && q.paused:
			q.paused = false
			resumed = true
		}
	}
	if resumed {
		ns.send(backend.Wake{})
	}
	return nil
}

// Cancel removes a waiting or delayed task, or ends the lease of a leased one
// with p.Running; see backend.Controller. It looks for the task in every queue,
// the delayed tasks and the leases: it costs O(n) in the tasks the namespace
// holds, which keeps Enqueue, Dequeue and Settle free of an index by ID.
func (ns *Namespace) Cancel(ctx context.Context, p backend.CancelParams) (backend.CancelResult, error) {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return 0, err
	}
	defer ns.unlock()
	notFound := fmt.Errorf("%w: no task %q is waiting, delayed or leased", backend.ErrNotFound, p.ID)
	seq, err := strconv.ParseUint(p.ID, 10, 64)
	if err != nil || seq == 0 || seq > ns.seq {
		return 0, notFound
	}
	if t := ns.findLeased(seq); t != nil {
		if !t.at.After(now) {
			// Its lease has expired and waits for housekeeping (more expired at
			// once than a round takes): reclaim it now, then it is waiting.
			ns.unlease(t)
			ns.counters.Reclaimed++
			if ns.putBack(t, now, false, 0, false, "lease expired") {
				return 0, notFound // dead-lettered by the reclaim
			}
			t.queue.fresh-- // it went to the head, where it is taken off below
			t.queue.tasks.popFront()
			ns.cancel(t, now)
			return backend.CancelRemoved, nil
		}
		if !p.Running {
			return 0, fmt.Errorf("%w: task %q; cancel it as running to end its lease", backend.ErrLeased, p.ID)
		}
		c := &cancelledLease{id: t.id, token: t.token}
		ns.cancelled[c.token] = c
		ns.cancelledDue.add(c, t.at, seq)
		ns.unlease(t)
		ns.cancel(t, now)
		ns.send(backend.Wake{Cancelled: p.ID})
		return backend.CancelRunning, nil
	}
	for _, t := range ns.delayed.items {
		if t.seq == seq {
			ns.delayed.remove(t)
			t.queue.delayed--
			ns.cancel(t, now)
			return backend.CancelRemoved, nil
		}
	}
	for _, q := range ns.queues {
		for i := range q.tasks.len() {
			if t := q.tasks.at(i); t.seq == seq {
				q.tasks.removeAt(i)
				ns.cancel(t, now)
				return backend.CancelRemoved, nil
			}
		}
	}
	return 0, notFound
}

// findLeased returns the leased task whose ID is seq, its lease live or not, or
// nil.
func (ns *Namespace) findLeased(seq uint64) *task {
	for _, t := range ns.leaseDue.items {
		if t.seq == seq {
			return t
		}
	}
	return nil
}

// cancel ends a task that Cancel took out of its queue, the delayed tasks or its
// lease: its key is free again, as after an ack without an answer, and its job
// record, if any, ends cancelled.
func (ns *Namespace) cancel(t *task, now time.Time) {
	ns.dropKey(t.key)
	ns.counters.Cancelled++
	ns.setJob(t, now, backend.StatusCancelled, "")
	ns.free(t)
}
