package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
)

// Job returns a task's job record; see backend.Backend.
func (b *Backend) Job(ctx context.Context, p backend.JobParams) (backend.Job, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return backend.Job{}, err
	}
	defer ns.mu.Unlock()
	j := ns.jobs[p.ID]
	if j == nil || (j.index >= 0 && !j.at.After(now)) { // expired, not yet swept
		return backend.Job{}, fmt.Errorf("%w: no job record for task %q", backend.ErrNotFound, p.ID)
	}
	return j.rec, nil
}

// Stats counts tasks per queue; see backend.Backend.
func (b *Backend) Stats(ctx context.Context, p backend.StatsParams) (backend.Stats, error) {
	ns, _, err := b.open(ctx, p.Namespace)
	if err != nil {
		return backend.Stats{}, err
	}
	defer ns.mu.Unlock()
	names := p.Queues
	if len(names) == 0 {
		for name := range ns.queues {
			names = append(names, name)
		}
	}
	st := backend.Stats{Queues: make(map[string]backend.QueueStats, len(names)), Counters: ns.counters}
	for _, name := range names {
		var qs backend.QueueStats
		if q := ns.queues[name]; q != nil {
			qs = backend.QueueStats{Waiting: int64(q.tasks.len()), Leased: q.leased, Delayed: q.delayed, Dead: q.dead}
		}
		st.Queues[name] = qs
	}
	return st, nil
}

// Peek returns waiting tasks from the head of a queue; see backend.Backend.
func (b *Backend) Peek(ctx context.Context, p backend.PeekParams) ([]backend.Task, error) {
	ns, _, err := b.open(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.mu.Unlock()
	q := ns.queues[p.Queue]
	if q == nil {
		return nil, nil
	}
	var out []backend.Task
	for i := p.Offset; i < q.tasks.len() && len(out) < p.Count; i++ {
		out = append(out, q.tasks.at(i).snapshot())
	}
	return out, nil
}

// Leases lists live leases, earliest deadline first; see backend.Backend.
func (b *Backend) Leases(ctx context.Context, p backend.LeasesParams) ([]backend.Lease, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.mu.Unlock()
	ts := slices.DeleteFunc(slices.Clone(ns.leaseDue.items), func(t *task) bool { return !t.at.After(now) })
	slices.SortFunc(ts, func(a, b *task) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	var out []backend.Lease
	for _, t := range ts[:min(len(ts), p.Count)] {
		out = append(out, backend.Lease{Task: t.snapshot(), Token: t.token, Deadline: t.at})
	}
	return out, nil
}

// Dead lists dead-lettered tasks, oldest first; see backend.Backend.
func (b *Backend) Dead(ctx context.Context, p backend.DeadParams) ([]backend.DeadTask, error) {
	ns, _, err := b.open(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.mu.Unlock()
	var out []backend.DeadTask
	i := 0
	for e := ns.dead.Front(); e != nil && len(out) < p.Count; e = e.Next() {
		if i++; i <= p.Offset {
			continue
		}
		d := e.Value.(*deadTask)
		out = append(out, backend.DeadTask{Task: d.t.snapshot(), Reason: d.reason, DiedAt: d.died})
	}
	return out, nil
}

// RequeueDead puts dead tasks back at the tail of their queues; see backend.Backend.
func (b *Backend) RequeueDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return b.deadAction(ctx, p, func(ns *namespace, d *deadTask, now time.Time) {
		t := d.t
		t.attempt = 0
		ns.keys[t.key]++
		ns.setJob(t, now, backend.StatusPending, "")
		t.queue.tasks.pushBack(t)
		ns.wake(t.queue.name)
	})
}

// PurgeDead deletes dead tasks; see backend.Backend.
func (b *Backend) PurgeDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return b.deadAction(ctx, p, func(*namespace, *deadTask, time.Time) {})
}

// deadAction takes the selected tasks off the dead-letter list and hands each to f.
func (b *Backend) deadAction(ctx context.Context, p backend.DeadActionParams, f func(*namespace, *deadTask, time.Time)) (int, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return 0, err
	}
	defer ns.mu.Unlock()
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
		f(ns, d, now)
		n++
	}
	return n, nil
}
