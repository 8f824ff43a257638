package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/keyq/keyq/backend"
)

// The Inspector calls only read: they run no housekeeping, and report what it
// would find (backend.Inspector).

// Job returns a task's job record; see backend.Inspector.
func (ns *Namespace) Job(ctx context.Context, p backend.JobParams) (backend.Job, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return backend.Job{}, err
	}
	defer ns.unlock()
	j := ns.jobs[p.ID]
	if j == nil || (j.index >= 0 && !j.at.After(ns.b.clock.Now())) { // expired, not yet swept
		return backend.Job{}, fmt.Errorf("%w: no job record for task %q", backend.ErrNotFound, p.ID)
	}
	return j.rec, nil
}

// Stats counts tasks per queue; see backend.Inspector. A due delayed task and a
// lease past its deadline count as waiting.
func (ns *Namespace) Stats(ctx context.Context, p backend.StatsParams) (backend.Stats, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return backend.Stats{}, err
	}
	defer ns.unlock()
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
			qs = backend.QueueStats{Waiting: int64(q.tasks.len()), Leased: q.leased, Delayed: q.delayed, Dead: q.dead, Paused: q.paused}
		}
		st.Queues[name] = qs
	}
	now := ns.b.clock.Now()
	ns.delayed.dueEach(now, func(t *task) {
		if qs, ok := st.Queues[t.queue.name]; ok {
			qs.Waiting++
			qs.Delayed--
			st.Queues[t.queue.name] = qs
		}
	})
	ns.leaseDue.dueEach(now, func(t *task) {
		if qs, ok := st.Queues[t.queue.name]; ok {
			qs.Waiting++
			qs.Leased--
			st.Queues[t.queue.name] = qs
		}
	})
	return st, nil
}

// Peek returns waiting tasks from the head of a queue, as it stands; see
// backend.Inspector.
func (ns *Namespace) Peek(ctx context.Context, p backend.PeekParams) ([]backend.Task, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return nil, err
	}
	defer ns.unlock()
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

// Leases lists live leases, earliest deadline first; see backend.Inspector.
func (ns *Namespace) Leases(ctx context.Context, p backend.LeasesParams) ([]backend.Lease, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return nil, err
	}
	defer ns.unlock()
	now := ns.b.clock.Now()
	ts := slices.DeleteFunc(slices.Clone(ns.leaseDue.items), func(t *task) bool { return !t.at.After(now) })
	sortTimed(ts)
	var out []backend.Lease
	for _, t := range ts[:min(len(ts), p.Count)] {
		out = append(out, backend.Lease{Task: t.snapshot(), Token: t.token, Deadline: t.at})
	}
	return out, nil
}

// Dead lists dead-lettered tasks, oldest first; see backend.Inspector.
func (ns *Namespace) Dead(ctx context.Context, p backend.DeadParams) ([]backend.DeadTask, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return nil, err
	}
	defer ns.unlock()
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

// Delayed lists delayed tasks not yet due, earliest due first; see
// backend.Inspector. A task whose due time has passed counts as waiting, whether
// or not housekeeping has moved it yet.
func (ns *Namespace) Delayed(ctx context.Context, p backend.DelayedParams) ([]backend.DelayedTask, error) {
	if err := ns.lock(ctx, p.Validate()); err != nil {
		return nil, err
	}
	defer ns.unlock()
	now := ns.b.clock.Now()
	ts := slices.DeleteFunc(slices.Clone(ns.delayed.items), func(t *task) bool {
		return !t.at.After(now) || (p.Queue != "" && t.queue.name != p.Queue)
	})
	sortTimed(ts)
	lo := min(len(ts), p.Offset)
	var out []backend.DelayedTask
	for _, t := range ts[lo : lo+min(len(ts)-lo, p.Count)] { // no Offset+Count: it may overflow
		out = append(out, backend.DelayedTask{Task: t.snapshot(), Due: t.at})
	}
	return out, nil
}

// sortTimed sorts tasks by their time, then their order, as their heap does.
func sortTimed(ts []*task) {
	slices.SortFunc(ts, func(a, b *task) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
}
