package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// Enqueue adds tasks to a queue; see backend.Backend.
func (b *Backend) Enqueue(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.mu.Unlock()
	if p.Unique {
		for i, m := range p.Tasks {
			if ns.keys[m.Key] > 0 || ns.liveAnswer(m.Key, now) != nil ||
				slices.ContainsFunc(p.Tasks[:i], func(o backend.Message) bool { return o.Key == m.Key }) {
				return nil, fmt.Errorf("%w: key %.64q is answered, queued or leased", backend.ErrDuplicate, m.Key)
			}
		}
	}
	q := ns.queue(p.Queue)
	ids := make([]string, len(p.Tasks))
	for i, m := range p.Tasks {
		seq := ns.next()
		t := ns.newTask()
		*t = task{
			timed:    timed{index: -1},
			id:       itoa(seq),
			seq:      seq,
			queue:    q,
			typ:      m.Type,
			key:      m.Key,
			payload:  append(t.payload[:0], m.Payload...),
			attempt:  0,
			max:      m.MaxAttempts,
			enqueued: now,
			track:    p.TrackJobs,
			jobTTL:   backend.RoundUp(p.JobTTL), // kept in whole ms, as on every backend
		}
		if len(m.Headers) > 0 {
			t.headers = maps.Clone(m.Headers)
		}
		ids[i] = t.id
		ns.keys[t.key]++
		ns.counters.Enqueued++
		ns.setJob(t, now, backend.StatusPending, "")
		switch {
		case p.Delay > 0:
			ns.delay(t, now.Add(p.Delay))
		case p.AtHead:
			q.tasks.pushFront(t)
			ns.wake(q.name)
		default:
			q.tasks.pushBack(t)
			ns.wake(q.name)
		}
	}
	return ids, nil
}

// Dequeue leases tasks, waiting for them if asked to; see backend.Backend.
func (b *Backend) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return backend.DequeueResult{}, err
	}
	var waitEnd <-chan time.Time // on the host's clock, from the first time it waits
	expired := p.Wait == 0
	deduped := 0 // over every round of this call
	for {
		res := ns.take(p, now)
		deduped += res.Deduped
		if len(res.Leases) > 0 || expired {
			ns.mu.Unlock()
			res.Deduped = deduped
			return res, nil
		}
		if waitEnd == nil {
			t := time.NewTimer(p.Wait)
			defer t.Stop()
			waitEnd = t.C
		}
		w, ev := ns.park(p.Queues)
		ns.mu.Unlock()

		var evTimer clock.Timer // the next lease deadline or due time, on the backend's clock
		var evC <-chan time.Time
		if !ev.IsZero() {
			evTimer = b.clock.TimerAt(ev)
			evC = evTimer.C()
		}
		select {
		case <-w.wake:
		case <-evC:
		case <-waitEnd:
			expired = true
		case <-ctx.Done():
		case <-b.closing:
		}
		if evTimer != nil {
			evTimer.Stop()
		}
		// From here to the next take the lock is held: a wake-up is either used by
		// this call or, if it leaves, passed on.
		err := b.check(ctx)
		ns.mu.Lock()
		ns.unpark(w, err != nil)
		if err != nil {
			ns.mu.Unlock()
			return backend.DequeueResult{}, err
		}
		now = b.clock.Now()
		ns.housekeep(now)
	}
}

// take leases up to p.Count tasks from p.Queues in order, dropping answered ones.
// A round drops at most backend.DedupeCap tasks; the next one housekeeps first and
// starts again from the first queue, as every driver does (backend/doc.go).
func (ns *namespace) take(p backend.DequeueParams, now time.Time) backend.DequeueResult {
	var res backend.DequeueResult
	for round := 0; ; round++ {
		if round > 0 {
			ns.housekeep(now)
		}
		dropped := 0 // in this round
		for _, name := range p.Queues {
			q := ns.queues[name]
			if q == nil {
				continue
			}
			for len(res.Leases) < p.Count && dropped < backend.DedupeCap && q.tasks.len() > 0 {
				t := q.tasks.popFront()
				if a := ns.liveAnswer(t.key, now); a != nil {
					ns.refresh(a, now)
					ns.counters.Deduped++
					res.Deduped++
					dropped++
					ns.dropKey(t.key)
					ns.setJob(t, now, backend.StatusFinished, "")
					ns.free(t)
					continue
				}
				seq := ns.next()
				t.token = itoa(seq)
				ns.leases[t.token] = t
				ns.leaseDue.add(t, now.Add(p.Lease), seq)
				q.leased++
				ns.counters.Delivered++
				ns.setJob(t, now, backend.StatusRunning, "")
				res.Leases = append(res.Leases, backend.Lease{Task: t.snapshot(), Token: t.token, Deadline: t.at})
			}
			if len(res.Leases) == p.Count || dropped >= backend.DedupeCap {
				break
			}
		}
		if dropped < backend.DedupeCap || len(res.Leases) == p.Count {
			break
		}
	}
	if len(res.Leases) > 0 {
		ns.newEvent(res.Leases[0].Deadline)
		// This call may have been woken for a queue it did not take from (it serves a
		// higher one first): whoever else waits for tasks still queued is woken.
		for _, name := range p.Queues {
			if len(ns.waiters) == 0 {
				break
			}
			if q := ns.queues[name]; q != nil && q.tasks.len() > 0 {
				ns.wake(name)
			}
		}
	}
	return res
}

// lease returns the task of a live lease, or ErrLeaseLost. A lease is live while
// now is before its deadline, whether or not housekeeping has reclaimed it yet.
func (ns *namespace) lease(id, token string, now time.Time) (*task, error) {
	t := ns.leases[token]
	if t == nil || t.id != id || !t.at.After(now) {
		return nil, fmt.Errorf("%w: task %s, token %s", backend.ErrLeaseLost, id, token)
	}
	return t, nil
}

// Ack ends a lease and removes its task; see backend.Backend.
func (b *Backend) Ack(ctx context.Context, p backend.AckParams) error {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return err
	}
	defer ns.mu.Unlock()
	return ns.ack(&p, now)
}

func (ns *namespace) ack(p *backend.AckParams, now time.Time) error {
	t, err := ns.lease(p.TaskID, p.Token, now)
	if err != nil {
		return err
	}
	ns.unlease(t)
	ns.dropKey(t.key)
	ns.counters.Acked++
	if p.Answer != nil {
		a := *p.Answer
		a.Value = slices.Clone(a.Value)
		ns.setAnswer(t.key, a, now)
	}
	status := p.Status
	if status == "" {
		status = backend.StatusFinished
	}
	ns.setJob(t, now, status, p.Error)
	ns.free(t)
	return nil
}

// Release ends a lease and puts its task back; see backend.Backend.
func (b *Backend) Release(ctx context.Context, p backend.ReleaseParams) error {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return err
	}
	defer ns.mu.Unlock()
	t, err := ns.lease(p.TaskID, p.Token, now)
	if err != nil {
		return err
	}
	ns.unlease(t)
	ns.counters.Released++
	if p.DeadLetter {
		ns.bury(t, now, p.Error)
		return nil
	}
	ns.putBack(t, now, p.KeepAttempt, p.Delay, p.ToTail, p.Error)
	return nil
}

// Extend moves a live lease's deadline; see backend.Backend.
func (b *Backend) Extend(ctx context.Context, p backend.ExtendParams) (time.Time, error) {
	ns, now, err := b.open(ctx, p.Namespace)
	if err != nil {
		return time.Time{}, err
	}
	defer ns.mu.Unlock()
	t, err := ns.lease(p.TaskID, p.Token, now)
	if err != nil {
		return time.Time{}, err
	}
	at := now.Add(p.Lease)
	ns.leaseDue.move(t, at)
	ns.newEvent(at)
	return at, nil
}

// Reclaim puts expired leases back now; see backend.Backend.
func (b *Backend) Reclaim(ctx context.Context, p backend.ReclaimParams) (int, error) {
	ns, err := b.lock(ctx, p.Namespace)
	if err != nil {
		return 0, err
	}
	defer ns.mu.Unlock()
	now := b.clock.Now()
	before := ns.counters.Reclaimed
	for {
		ns.housekeep(now)
		if next := ns.leaseDue.first(); next.IsZero() || next.After(now) {
			return int(ns.counters.Reclaimed - before), nil
		}
	}
}

// AckBatch acks many leases under one lock; see backend.BatchAcker.
func (b *Backend) AckBatch(ctx context.Context, ps []backend.AckParams) ([]error, error) {
	if len(ps) == 0 {
		return nil, b.check(ctx)
	}
	ns, now, err := b.open(ctx, ps[0].Namespace)
	if err != nil {
		return nil, err
	}
	defer ns.mu.Unlock()
	errs := make([]error, len(ps))
	for i := range ps {
		if ps[i].Namespace != ns.name {
			errs[i] = fmt.Errorf("%w: batch mixes namespaces", backend.ErrInvalid)
			continue
		}
		errs[i] = ns.ack(&ps[i], now)
	}
	return errs, nil
}
