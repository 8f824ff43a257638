package redisbackend

import (
	"context"
	"fmt"
	"time"

	"github.com/keyq/keyq/backend"
)

// namespace is the handle of one namespace: its key names and its Backend.
type namespace struct {
	b *Backend
	k *nsKeys
}

var (
	_ backend.Namespace   = (*namespace)(nil)
	_ backend.Inspector   = (*namespace)(nil)
	_ backend.Admin       = (*namespace)(nil)
	_ backend.Notifier    = (*namespace)(nil)
	_ backend.RateLimiter = (*namespace)(nil)
	_ backend.Controller  = (*namespace)(nil)
)

// Namespace implements backend.Backend. It does no I/O, and two calls with the
// same name return the same handle, which also implements backend.Inspector,
// backend.Admin, backend.Controller, backend.Notifier and backend.RateLimiter.
func (b *Backend) Namespace(name string) (backend.Namespace, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty namespace", backend.ErrInvalid)
	}
	select {
	case <-b.closed:
		return nil, backend.ErrClosed
	default:
	}
	return b.handle(name), nil
}

// handle returns the namespace called name, which must not be empty.
func (b *Backend) handle(name string) *namespace {
	if n, ok := b.spaces.Load(name); ok {
		return n.(*namespace)
	}
	n, _ := b.spaces.LoadOrStore(name, &namespace{b: b, k: newNSKeys(b.opts.Prefix, name)})
	return n.(*namespace)
}

// Enqueue implements backend.Namespace.
func (n *namespace) Enqueue(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return nil, err
	}
	var jobTTL int64
	if p.TrackJobs {
		jobTTL = durMS(p.JobTTL)
	}
	args := make([]any, 0, 7+3*len(p.Tasks))
	args = append(args, p.Queue, flag(p.AtHead), durMS(p.Delay), flag(p.Unique), jobTTL)
	for i := range p.Tasks {
		pre, rest := encodeMessage(&p.Tasks[i], jobTTL)
		args = append(args, pre, rest)
		if jobTTL > 0 { // the job record's type; enqueue.lua reads it only then
			args = append(args, p.Tasks[i].Type)
		}
	}
	args = append(args, newEpoch())
	r, err := n.b.runReq(ctx, scriptEnqueue, n.k, args, n.k.queue(p.Queue))
	if r == nil { // else err is nil or ErrNotReplicated
		return nil, err
	}
	if len(r) == 1 && r[0] == "dup" {
		return nil, backend.ErrDuplicate
	}
	if len(r) != 3 {
		return nil, corrupt("enqueue reply of %d items", len(r))
	}
	base, ok := r[1].(int64)
	epoch, _ := r[2].(string)
	if !ok || len(epoch) != epochLen {
		return nil, corrupt("enqueue reply: first ID %v, epoch %v", r[1], r[2])
	}
	ids := make([]string, len(p.Tasks))
	m := newIDMaker(epoch)
	for i := range ids {
		ids[i] = m.id(base + int64(i) + 1)
	}
	return ids, err
}

// Dequeue implements backend.Namespace. It never waits: an empty result carries
// the time until the namespace's next delayed task is due or lease expires. It
// skips paused queues (Pause), which the script learns from the read it makes
// anyway of the namespace's due time.
//
// Once sent, the dequeue script runs to the end and its leases reach the caller,
// even when ctx is cancelled meanwhile (S3.5); Options.DequeueGrace bounds how
// long past ctx's deadline the call may wait for the reply.
func (n *namespace) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	if err := n.b.begin(ctx, p.Validate()); err != nil {
		return backend.DequeueResult{}, err
	}
	args, qkeys := n.dequeueArgs(&p)
	dctx, cancel := n.dequeueCtx(ctx)
	defer cancel()
	return n.dequeueRounds(ctx, dctx, &p, args, qkeys, nil)
}

// dequeueArgs returns dequeue.lua's arguments for p, with room for the request
// TTL, and its queues' keys.
func (n *namespace) dequeueArgs(p *backend.DequeueParams) (args []any, qkeys []string) {
	args = make([]any, 0, 4+len(p.Queues))
	args = append(args, p.Count, durMS(p.Lease))
	qkeys = make([]string, len(p.Queues)) // KEYS[12..], one per queue
	for i, q := range p.Queues {
		args = append(args, q)
		qkeys[i] = n.k.queue(q)
	}
	return append(args, newEpoch()), qkeys
}

// dequeueCtx returns the context a dequeue's script calls run under: ctx's
// deadline plus Options.DequeueGrace, and no cancellation, so that a script
// sent gets its reply and its leases reach the caller.
func (n *namespace) dequeueCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if d, ok := ctx.Deadline(); ok {
		dctx, cancel = context.WithDeadline(dctx, d.Add(n.b.opts.DequeueGrace))
	}
	return dctx, cancel
}

// dequeueRounds runs dequeue.lua under dctx until it has leased p.Count tasks or
// stops for another reason than its dedupe cap. first, when not nil, is the
// first round's reply, from a call that ran it already.
func (n *namespace) dequeueRounds(ctx, dctx context.Context, p *backend.DequeueParams, args []any, qkeys []string, first []any) (backend.DequeueResult, error) {
	var res backend.DequeueResult
	for { // more than one round only when a round stopped at its dedupe cap
		r, err := first, error(nil)
		if first == nil {
			r, err = n.b.runReq(dctx, scriptDequeue, n.k, args, qkeys...)
		}
		first = nil
		var more bool
		if err == nil {
			more, err = decodeDequeue(r, &res)
		}
		switch {
		case len(res.Leases) > 0 && (err != nil || !more || len(res.Leases) >= p.Count || ctx.Err() != nil):
			// Leased by this round or an earlier one: they are the caller's.
			res.Next = 0
			return res, nil
		case err != nil && ctx.Err() != nil:
			return backend.DequeueResult{}, backend.CtxErr(ctx)
		case err != nil:
			return backend.DequeueResult{}, err
		case !more || ctx.Err() != nil:
			return res, nil
		}
		args[0] = p.Count - len(res.Leases)
	}
}

// decodeDequeue adds the leases of a dequeue script's reply to res, sets
// res.Next, and reports whether the script asks to be called again.
func decodeDequeue(r []any, res *backend.DequeueResult) (more bool, err error) {
	if len(r) < 7 {
		return false, corrupt("dequeue reply of %d items", len(r))
	}
	epoch, ok := r[len(r)-1].(string)
	r = r[:len(r)-1]
	if !ok || (len(r) > 6 && len(epoch) != epochLen) {
		return false, corrupt("dequeue reply: epoch %v", epoch)
	}
	var in ints
	deadline := msTime(in.of(r[1]))
	deduped := in.of(r[2])
	next := in.of(r[3])
	again := in.of(r[4])
	token := in.of(r[5]) // the leases' tokens follow it, one by one
	if in.err != nil {
		return false, fmt.Errorf("dequeue reply: %w", in.err)
	}
	res.Deduped += int(deduped)
	res.Next = 0
	if next >= 0 {
		res.Next = max(time.Duration(next)*time.Millisecond, time.Millisecond)
	}
	m := newIDMaker(epoch)
	for i := 6; i < len(r); {
		queue, err := str(r[i])
		if err != nil {
			return false, err
		}
		if i+1 >= len(r) {
			return false, corrupt("dequeue reply: queue %q without a count at its end", queue)
		}
		c, ok := r[i+1].(int64)
		if !ok || c <= 0 || c > int64(len(r)-i-2) {
			return false, corrupt("dequeue reply: a run of %v leases at item %d of %d", r[i+1], i, len(r))
		}
		for _, v := range r[i+2 : i+2+int(c)] {
			blob, err := str(v)
			if err != nil {
				return false, err
			}
			t, err := decodeBlob(queue, []byte(blob))
			if err != nil {
				return false, err
			}
			token++
			t.ID = m.decimal(t.ID)
			res.Leases = append(res.Leases, backend.Lease{Task: t, Token: m.id(token), Deadline: deadline})
		}
		i += 2 + int(c)
	}
	return again == 1, nil
}

// Reclaim implements backend.Admin.
func (n *namespace) Reclaim(ctx context.Context) (int, error) {
	if err := n.b.begin(ctx, nil); err != nil {
		return 0, err
	}
	total := 0
	for { // one script reclaims at most ten housekeeping batches
		r, err := n.b.runReq(ctx, scriptReclaim, n.k, nil)
		if err != nil {
			return total, err
		}
		if len(r) != 3 {
			return total, corrupt("reclaim reply of %d items", len(r))
		}
		var in ints
		got, more := in.of(r[1]), in.of(r[2])
		if in.err != nil {
			return total, fmt.Errorf("reclaim reply: %w", in.err)
		}
		total += int(got)
		if more == 0 {
			return total, nil
		}
	}
}
