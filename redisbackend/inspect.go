package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/redisbackend/internal/lua"
)

// Stats implements backend.Inspector.
func (n *namespace) Stats(ctx context.Context, p backend.StatsParams) (backend.Stats, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return backend.Stats{}, err
	}
	args := make([]any, len(p.Queues)) // none means every queue
	for i, q := range p.Queues {
		args[i] = q
	}
	r, err := n.b.run(ctx, scriptStats, n.k.all, args...)
	if err != nil {
		return backend.Stats{}, err
	}
	return decodeStats(r)
}

func decodeStats(r []any) (backend.Stats, error) {
	var s backend.Stats
	if len(r) < 2 || (len(r)-2)%6 != 0 {
		return s, corrupt("stats reply of %d items", len(r))
	}
	c, ok := r[1].([]any)
	if !ok || len(c) != 8 {
		return s, corrupt("stats counters %T", r[1])
	}
	var in ints
	s.Counters = backend.Counters{
		Enqueued: in.orZero(c[0]), Delivered: in.orZero(c[1]), Acked: in.orZero(c[2]), Released: in.orZero(c[3]),
		Reclaimed: in.orZero(c[4]), Deduped: in.orZero(c[5]), Dead: in.orZero(c[6]), Cancelled: in.orZero(c[7]),
	}
	s.Queues = make(map[string]backend.QueueStats, (len(r)-2)/6)
	for i := 2; i < len(r); i += 6 {
		q, err := str(r[i])
		if err != nil {
			return s, err
		}
		s.Queues[q] = backend.QueueStats{Waiting: in.of(r[i+1]), Leased: in.of(r[i+2]), Delayed: in.of(r[i+3]),
			Dead: in.of(r[i+4]), Paused: in.of(r[i+5]) == 1}
	}
	if in.err != nil {
		return backend.Stats{}, fmt.Errorf("stats reply: %w", in.err)
	}
	return s, nil
}

// Peek implements backend.Inspector.
func (n *namespace) Peek(ctx context.Context, p backend.PeekParams) ([]backend.Task, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	off, cnt := window(p.Offset, p.Count)
	r, err := n.b.run(ctx, scriptPeek, n.k.with("", n.k.queue(p.Queue)), p.Queue, off, cnt)
	if err != nil {
		return nil, err
	}
	m, r, err := epochReply(r)
	if err != nil {
		return nil, err
	}
	var tasks []backend.Task
	for _, v := range r[1:] {
		s, err := str(v)
		if err != nil {
			return nil, err
		}
		t, err := decodeBlob(p.Queue, []byte(s))
		if err != nil {
			return nil, err
		}
		t.ID = m.decimal(t.ID)
		tasks = append(tasks, t)
	}
	return tasks, nil
}

// epochReply splits the epoch off the end of an inspection script's reply.
func epochReply(r []any) (idMaker, []any, error) {
	if len(r) < 2 {
		return idMaker{}, nil, corrupt("reply of %d items without its epoch", len(r))
	}
	epoch, ok := r[len(r)-1].(string)
	if !ok || (epoch != "" && len(epoch) != epochLen) {
		return idMaker{}, nil, corrupt("reply epoch %v", r[len(r)-1])
	}
	return newIDMaker(epoch), r[:len(r)-1], nil
}

// maxWindow bounds the offset and count of Peek, Leases and Dead: no list, hash
// or sorted set of Redis holds more items. Bounded so, offset + count stays an
// integer that Lua formats as digits: Lua writes a larger number given to
// redis.call in exponent notation, which Redis refuses.
const maxWindow int64 = 1 << 32

// window clamps an inspection call's offset and count to maxWindow, as decimal
// strings for the script. The script runs even for an offset past every item:
// it housekeeps, as every call does (backend/doc.go).
func window(offset, count int) (off, n string) {
	return strconv.FormatInt(min(int64(offset), maxWindow), 10), strconv.FormatInt(min(int64(count), maxWindow), 10)
}

// Leases implements backend.Inspector.
func (n *namespace) Leases(ctx context.Context, p backend.LeasesParams) ([]backend.Lease, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	_, cnt := window(0, p.Count)
	r, err := n.b.run(ctx, scriptLeases, n.k.all, cnt)
	if err != nil {
		return nil, err
	}
	m, r, err := epochReply(r)
	if err != nil {
		return nil, err
	}
	if (len(r)-1)%3 != 0 {
		return nil, corrupt("leases reply of %d items", len(r))
	}
	var leases []backend.Lease
	for i := 1; i < len(r); i += 3 {
		token, err1 := str(r[i])
		deadline, err2 := str(r[i+1])
		rec, err3 := str(r[i+2])
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		l, err := decodeLease(token, deadline, rec)
		if err != nil {
			return nil, err
		}
		l.ID, l.Token = m.decimal(l.ID), m.decimal(l.Token)
		leases = append(leases, l)
	}
	return leases, nil
}

// decodeLease decodes a lease record, pack(queue) .. blob, with its token and
// deadline in ms.
func decodeLease(token, deadline, rec string) (backend.Lease, error) {
	f, blob, err := unpackFields(rec, 1)
	if err != nil {
		return backend.Lease{}, err
	}
	t, err := decodeBlob(f[0], []byte(blob))
	if err != nil {
		return backend.Lease{}, err
	}
	ms, err := strconv.ParseFloat(deadline, 64)
	if err != nil {
		return backend.Lease{}, corrupt("lease deadline %q", deadline)
	}
	return backend.Lease{Task: t, Token: token, Deadline: msTime(int64(ms))}, nil
}

// Dead implements backend.Inspector.
func (n *namespace) Dead(ctx context.Context, p backend.DeadParams) ([]backend.DeadTask, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	off, cnt := window(p.Offset, p.Count)
	r, err := n.b.run(ctx, scriptDead, n.k.all, off, cnt)
	if err != nil {
		return nil, err
	}
	m, r, err := epochReply(r)
	if err != nil {
		return nil, err
	}
	var dead []backend.DeadTask
	for _, v := range r[1:] {
		s, err := str(v)
		if err != nil {
			return nil, err
		}
		d, err := decodeDead(s)
		if err != nil {
			return nil, err
		}
		d.ID = m.decimal(d.ID)
		dead = append(dead, d)
	}
	return dead, nil
}

// decodeDead decodes a dead-letter record,
// pack(queue, reason, died ms, job type, job TTL) .. blob.
func decodeDead(rec string) (backend.DeadTask, error) {
	f, blob, err := unpackFields(rec, lua.DeadFields)
	if err != nil {
		return backend.DeadTask{}, err
	}
	t, err := decodeBlob(f[0], []byte(blob))
	if err != nil {
		return backend.DeadTask{}, err
	}
	ms, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return backend.DeadTask{}, corrupt("dead time %q", f[2])
	}
	return backend.DeadTask{Task: t, Reason: f[1], DiedAt: msTime(ms)}, nil
}

// RequeueDead implements backend.Admin.
func (n *namespace) RequeueDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return n.deadAction(ctx, "requeue", p)
}

// PurgeDead implements backend.Admin.
func (n *namespace) PurgeDead(ctx context.Context, p backend.DeadActionParams) (int, error) {
	return n.deadAction(ctx, "purge", p)
}

func (n *namespace) deadAction(ctx context.Context, action string, p backend.DeadActionParams) (int, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return 0, err
	}
	args := make([]any, 0, 3+len(p.IDs))
	args = append(args, action, flag(p.All))
	if !p.All {
		for _, id := range p.IDs {
			if _, _, ok := splitID(id); ok { // others name no task
				args = append(args, id)
			}
		}
	}
	r, err := n.b.runReq(ctx, scriptDeadAction, n.k, args)
	if r == nil { // else err is nil or ErrNotReplicated
		return 0, err
	}
	if len(r) != 2 {
		return 0, corrupt("dead action reply of %d items", len(r))
	}
	moved, ierr := integer(r[1])
	if ierr != nil {
		return 0, ierr
	}
	return int(moved), err
}

// Job implements backend.Inspector. A job record is a hash j:<id> with fields status,
// attempts, queue, type, enq, start, end (ms on the server's clock), err and ttl.
// Enqueue writes neither status nor attempts: without them a job is pending, at 0.
// A delivery writes attempts as it starts, and a release or reclaim as it puts the
// task back (see backend.Job for what the count means).
func (n *namespace) Job(ctx context.Context, p backend.JobParams) (backend.Job, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return backend.Job{}, err
	}
	epoch, id, ok := splitID(p.ID)
	if !ok {
		return backend.Job{}, backend.ErrNotFound
	}
	r, err := n.b.run(ctx, scriptJob, n.k.with("", n.k.job(id)), id, epoch)
	if err != nil {
		return backend.Job{}, err
	}
	if len(r)%2 != 1 {
		return backend.Job{}, corrupt("job reply of %d items", len(r))
	}
	m := make(map[string]string, len(r)/2)
	for i := 1; i < len(r); i += 2 {
		k, err1 := str(r[i])
		v, err2 := str(r[i+1])
		if err := errors.Join(err1, err2); err != nil {
			return backend.Job{}, err
		}
		m[k] = v
	}
	return decodeJob(p.ID, m)
}

func decodeJob(id string, m map[string]string) (backend.Job, error) {
	if len(m) == 0 {
		return backend.Job{}, backend.ErrNotFound
	}
	j := backend.Job{
		ID: id, Queue: m["queue"], Type: m["type"], Status: backend.StatusPending,
		LastError: m["err"],
	}
	if s, ok := m["status"]; ok {
		j.Status = backend.JobStatus(s)
	}
	switch j.Status {
	case backend.StatusPending, backend.StatusRunning, backend.StatusFinished, backend.StatusFailed,
		backend.StatusTimeout, backend.StatusDead, backend.StatusCancelled:
	default:
		return backend.Job{}, corrupt("job status %q", j.Status)
	}
	if v, ok := m["attempts"]; ok {
		a, err := strconv.Atoi(v)
		if err != nil {
			return backend.Job{}, corrupt("job attempts %q", v)
		}
		j.Attempts = a
	}
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"enq", &j.EnqueuedAt}, {"start", &j.StartedAt}, {"end", &j.EndedAt}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return backend.Job{}, corrupt("job %s %q", f.name, v)
		}
		*f.t = msTime(ms)
	}
	return j, nil
}

// Delayed implements backend.Inspector with one read-only script
// (scripts/delayed.lua). Every queue's window is one ZRANGE; one queue's is read
// from the namespace's delayed tasks in order of due time, so its cost grows with
// the delayed tasks of other queues due before the window's last.
func (n *namespace) Delayed(ctx context.Context, p backend.DelayedParams) ([]backend.DelayedTask, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	off, cnt := window(p.Offset, p.Count)
	r, err := n.b.run(ctx, scriptDelayed, n.k.all, p.Queue, off, cnt)
	if err != nil {
		return nil, err
	}
	m, r, err := epochReply(r)
	if err != nil {
		return nil, err
	}
	if (len(r)-1)%2 != 0 {
		return nil, corrupt("delayed reply of %d items", len(r))
	}
	var out []backend.DelayedTask
	for i := 1; i < len(r); i += 2 {
		due, err1 := str(r[i])
		rec, err2 := str(r[i+1])
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		ms, err := strconv.ParseFloat(due, 64) // a zset score
		if err != nil {
			return nil, corrupt("delayed due time %q", due)
		}
		f, blob, err := unpackFields(rec, 1)
		if err != nil {
			return nil, err
		}
		t, err := decodeBlob(f[0], []byte(blob))
		if err != nil {
			return nil, err
		}
		t.ID = m.decimal(t.ID)
		out = append(out, backend.DelayedTask{Task: t, Due: msTime(int64(ms))})
	}
	return out, nil
}
