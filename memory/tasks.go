package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/keyq/keyq/backend"
)

// Enqueue adds tasks to a queue; see backend.Namespace.
func (ns *Namespace) Enqueue(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return nil, err
	}
	defer ns.unlock()
	if p.Unique {
		ns.indexKeys()
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
		ns.addKey(t.key)
		ns.counters.Enqueued++
		ns.setJob(t, now, backend.StatusPending, "")
		switch {
		case p.Delay > 0:
			ns.delay(t, now.Add(p.Delay))
		case p.AtHead:
			q.tasks.pushFront(t)
			ns.avail(q)
		default:
			q.tasks.pushBack(t)
			ns.avail(q)
		}
	}
	return ids, nil
}

// Dequeue leases tasks without waiting; see backend.Namespace. Next is measured on
// the backend's clock.
func (ns *Namespace) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return backend.DequeueResult{}, err
	}
	defer ns.unlock()
	return ns.dequeue(&p, now), nil
}

// dequeue is Dequeue's work, on a held namespace.
func (ns *Namespace) dequeue(p *backend.DequeueParams, now time.Time) backend.DequeueResult {
	res := ns.take(p, now)
	if next := ns.nextEvent(); !next.IsZero() {
		res.Next = max(backend.RoundUp(next.Sub(now)), time.Millisecond)
	}
	if len(res.Leases) == 0 {
		ns.asked = true
	}
	return res
}

// take leases up to p.Count tasks from p.Queues in order, skipping paused ones
// and dropping answered tasks.
// A round drops at most backend.DedupeCap tasks; the next one housekeeps first and
// starts again from the first queue, as every driver does (backend/doc.go).
func (ns *Namespace) take(p *backend.DequeueParams, now time.Time) backend.DequeueResult {
	var res backend.DequeueResult
	for round := 0; ; round++ {
		if round > 0 {
			ns.housekeep(now)
		}
		dropped := 0 // in this round
		for _, name := range p.Queues {
			q := ns.queues[name]
			if q == nil || q.paused { // a paused queue is as though empty (S12.1)
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
				if res.Leases == nil { // room for what this queue can give
					res.Leases = make([]backend.Lease, 0, min(p.Count, q.tasks.len()+1))
				}
				n := len(res.Leases)
				res.Leases = slices.Grow(res.Leases, 1)[:n+1] // a zero Lease, set in place
				l := &res.Leases[n]
				l.Token, l.Deadline = t.token, t.at
				t.copyTo(&l.Task)
			}
			if len(res.Leases) == p.Count || dropped >= backend.DedupeCap {
				break
			}
		}
		if dropped < backend.DedupeCap || len(res.Leases) == p.Count {
			break
		}
	}
	return res
}

// lease returns the task of a live lease, or nil. A lease is live while now is
// before its deadline, whether or not housekeeping has reclaimed it yet.
func (ns *Namespace) lease(r backend.LeaseRef, now time.Time) *task {
	t := ns.leases[r.Token]
	if t == nil || t.id != r.TaskID || !t.at.After(now) {
		return nil
	}
	return t
}

// Settle ends many leases under one lock; see backend.Namespace.
func (ns *Namespace) Settle(ctx context.Context, p backend.SettleParams) ([]backend.SettleResult, error) {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return nil, err
	}
	defer ns.unlock()
	out := make([]backend.SettleResult, len(p.Items))
	for i := range p.Items {
		out[i] = ns.settle(&p.Items[i], now)
	}
	return out, nil
}

// Exchange settles, then leases, under one hold of the namespace; see
// backend.Exchanger.
func (ns *Namespace) Exchange(ctx context.Context, s backend.SettleParams, d backend.DequeueParams) ([]backend.SettleResult, backend.DequeueResult, error) {
	invalid := s.Validate()
	if invalid == nil {
		invalid = d.Validate()
	}
	now, err := ns.open(ctx, invalid)
	if err != nil {
		return nil, backend.DequeueResult{}, err
	}
	defer ns.unlock()
	out := make([]backend.SettleResult, len(s.Items))
	for i := range s.Items {
		out[i] = ns.settle(&s.Items[i], now)
	}
	return out, ns.dequeue(&d, now), nil
}

func (ns *Namespace) settle(s *backend.Settlement, now time.Time) backend.SettleResult {
	t := ns.lease(s.LeaseRef, now)
	if t == nil {
		return backend.SettleLost
	}
	ns.unlease(t)
	switch s.Action {
	case backend.Ack:
		ns.dropKey(t.key)
		ns.counters.Acked++
		if s.Answer != nil {
			a := *s.Answer
			a.Value = slices.Clone(a.Value)
			ns.setAnswer(t.key, a, now)
		}
		status := s.Status
		if status == "" {
			status = backend.StatusFinished
		}
		ns.setJob(t, now, status, s.Error)
		ns.free(t)
	case backend.Release:
		ns.counters.Released++
		if ns.putBack(t, now, s.KeepAttempt, s.Delay, s.ToTail, s.Error) {
			return backend.SettleDead
		}
	default: // backend.DeadLetter: Validate allows no other action
		ns.counters.Released++
		ns.bury(t, now, s.Error)
	}
	return backend.SettleDone
}

// Extend moves live leases' deadlines; see backend.Namespace.
func (ns *Namespace) Extend(ctx context.Context, p backend.ExtendParams) ([]backend.ExtendResult, error) {
	now, err := ns.open(ctx, p.Validate())
	if err != nil {
		return nil, err
	}
	defer ns.unlock()
	out := make([]backend.ExtendResult, len(p.Leases))
	for i, r := range p.Leases {
		if t := ns.lease(r, now); t != nil {
			out[i].Deadline = now.Add(p.Lease)
			ns.leaseDue.move(t, out[i].Deadline)
		} else if c := ns.cancelled[r.Token]; c != nil && c.id == r.TaskID && c.at.After(now) {
			out[i].Cancelled = true
		}
	}
	return out, nil
}
