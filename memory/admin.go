package memory

import (
	"context"
	"time"

	"github.com/keyq/keyq/backend"
)

// Reclaim puts every expired lease back now; see backend.Admin.
func (ns *Namespace) Reclaim(ctx context.Context) (int, error) {
	if err := ns.lock(ctx, nil); err != nil {
		return 0, err
	}
	defer ns.unlock()
	now := ns.b.clock.Now()
	before := ns.counters.Reclaimed
	for {
		ns.housekeep(now) // at most HousekeepingBatch leases a round
		if next := ns.leaseDue.first(); next.IsZero() || next.After(now) {
			return int(ns.counters.Reclaimed - before), nil
		}
	}
}

// RequeueDead puts dead tasks back at the tail of their queues; see backend.Admin.
func (ns *Namespace) RequeueDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return ns.deadAction(ctx, &p, func(d *deadTask, now time.Time) {
		t := d.t
		t.attempt = 0
		ns.addKey(t.key)
		ns.setJob(t, now, backend.StatusPending, "")
		t.queue.tasks.pushBack(t)
		ns.avail(t.queue)
	})
}

// PurgeDead deletes dead tasks; see backend.Admin.
func (ns *Namespace) PurgeDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return ns.deadAction(ctx, &p, func(*deadTask, time.Time) {})
}

// deadAction takes the selected tasks off the dead-letter list and hands each to f.
func (ns *Namespace) deadAction(ctx context.Context, p *backend.DeadActionParams, f func(*deadTask, time.Time)) (int, error) {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return 0, err
	}
	defer ns.unlock()
	var picked []*deadTask
	if p.All {
		for e := ns.dead.Front(); e != nil; e = e.Next() {
			picked = append(picked, e.Value.(*deadTask))
		}
	} else {
		for _, id := range p.IDs {
			if e := ns.deadByID[id]; e != nil {
				picked = append(picked, e.Value.(*deadTask))
			}
		}
	}
	n := 0
	for _, d := range picked {
		e := ns.deadByID[d.t.id]
		if e == nil { // listed twice in IDs
			continue
		}
		ns.dead.Remove(e)
		delete(ns.deadByID, d.t.id)
		d.t.queue.dead--
		f(d, now)
		n++
	}
	return n, nil
}

// DeleteAnswer removes an answer; see backend.Admin.
func (ns *Namespace) DeleteAnswer(ctx context.Context, p backend.DeleteAnswerParams) error {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return err
	}
	defer ns.unlock()
	a := ns.liveAnswer(p.Key, now)
	if a == nil {
		return answerNotFound(p.Key)
	}
	ns.answerDue.remove(a)
	delete(ns.answers, p.Key)
	return nil
}
