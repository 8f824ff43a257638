package keyq

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/keyq/keyq/backend"
)

// Group commit of enqueues. Concurrent Enqueue and EnqueueBatch calls of a Client
// that go to one queue with the same AtHead and Delay share one driver call:
// while a call of that group is in flight, the next callers gather, and when it
// returns they go together in one call. There is no timer: a caller that finds
// its group idle calls the driver at once, alone, with its own context, as if
// there were no grouping.
//
// Each caller's input is validated, its hooks run and its payloads checked before
// it joins, so a combined call holds only valid tasks and one caller's bad input
// fails only that caller. A combined call is all or nothing as any call is; its
// error (ErrUnavailable, ErrTimeout, ErrFull, ErrNotReplicated with the IDs) goes
// to every caller in it, with one exception: a combined unique call that fails
// with ErrDuplicate changed nothing, so it is made again caller by caller, in the
// order they joined, and each gets the result of its own call. One caller's
// duplicate fails only that caller; a key two callers both enqueue goes to the
// one that joined first, as it would had each called alone in that order.

// maxGroupBytes is the byte budget of one combined call: the payloads, keys,
// types and headers of its tasks. A caller whose tasks alone are over it calls
// the driver by itself.
const maxGroupBytes = 4 << 20

// Coalesce switches group commit of enqueues on or off. It is on by default:
// Enqueue and EnqueueBatch calls made at the same time, to the same queue with the
// same AtHead, Delay and Unique, may share one backend call, each caller keeping
// its own all-or-nothing result and its own IDs: a duplicate fails only its own
// caller. A caller that finds no call of its group in flight goes at once.
func Coalesce(on bool) Option { return clientOption(func(c *config) { c.noCoalesce = !on }) }

// groupKey names the calls that can go together: the EnqueueParams fields other
// than Tasks that can differ between calls of one Client.
type groupKey struct {
	queue  string
	atHead bool
	delay  time.Duration
	unique bool
}

// enqueueGroups are a Client's groups with a call in flight. A group is in the
// map while its call runs and removed when it ends with nobody waiting.
type enqueueGroups struct {
	mu sync.Mutex
	m  map[groupKey]*enqueueGroup
}

type enqueueGroup struct {
	next *enqueueBatch // the callers gathered while the call runs; nil when none
}

// enqueueBatch is a combined call being gathered, then run.
type enqueueBatch struct {
	p       backend.EnqueueParams // the first caller's, without its tasks
	members []*joiner
	tasks   int // tasks of members
	bytes   int // taskBytes of members
	started bool
	live    int                // members still waiting for the started call
	cancel  context.CancelFunc // ends the call's context once started
}

// joiner is one caller in a batch.
type joiner struct {
	ctx   context.Context
	tasks []backend.Message
	bytes int
	done  chan struct{} // closed when ids and err are set
	ids   []string
	err   error
}

// enqueueGrouped runs p, valid and with its hooks run, through the group commit of
// its group, or by itself when it cannot join one.
func (c *Client) enqueueGrouped(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	size := taskBytes(p.Tasks)
	if c.cfg.noCoalesce || len(p.Tasks) > backend.MaxCount || size > maxGroupBytes {
		return c.h.Enqueue(ctx, p)
	}
	k := groupKey{p.Queue, p.AtHead, p.Delay, p.Unique}
	gs := &c.groups
	gs.mu.Lock()
	g := gs.m[k]
	if g == nil { // idle: go now, alone
		if gs.m == nil {
			gs.m = make(map[groupKey]*enqueueGroup)
		}
		g = &enqueueGroup{}
		gs.m[k] = g
		gs.mu.Unlock()
		ids, err := c.h.Enqueue(ctx, p)
		c.groupCallDone(k, g)
		return ids, err
	}
	b := g.next
	if b != nil && (b.tasks+len(p.Tasks) > backend.MaxCount || b.bytes+size > maxGroupBytes) {
		gs.mu.Unlock() // the gathered call is full: this one goes by itself
		return c.h.Enqueue(ctx, p)
	}
	if b == nil {
		b = &enqueueBatch{p: p}
		b.p.Tasks = nil
		g.next = b
	}
	j := &joiner{ctx: ctx, tasks: p.Tasks, bytes: size, done: make(chan struct{})}
	b.members = append(b.members, j)
	b.tasks += len(j.tasks)
	b.bytes += size
	gs.mu.Unlock()

	select {
	case <-j.done:
		return j.ids, j.err
	case <-ctx.Done():
	}
	gs.mu.Lock()
	if !b.started { // still gathering: leave it, nothing enqueued
		b.members = slices.DeleteFunc(b.members, func(m *joiner) bool { return m == j })
		b.tasks -= len(j.tasks)
		b.bytes -= size
		gs.mu.Unlock()
		return nil, backend.CtxErr(ctx)
	}
	if b.live--; b.live == 0 {
		b.cancel() // nobody waits for the call any more
	}
	gs.mu.Unlock()
	select {
	case <-j.done: // the call returned as ctx ended: its result stands
		return j.ids, j.err
	default: // in flight: the tasks may or may not be enqueued, as for a lone call
		return nil, backend.CtxErr(ctx)
	}
}

// groupCallDone is called when the call of group k ends: it starts the batch
// gathered meanwhile, on a goroutine of its own, or marks the group idle.
func (c *Client) groupCallDone(k groupKey, g *enqueueGroup) {
	if b, ctx := c.nextBatch(k, g); b != nil {
		go c.runBatches(ctx, k, g, b)
	}
}

// runBatches runs b, then each batch gathered while the one before ran, until
// the group is idle. One goroutine carries a group through a busy spell: a new
// goroutine per call would start small and grow its stack on every call.
func (c *Client) runBatches(ctx context.Context, k groupKey, g *enqueueGroup, b *enqueueBatch) {
	for b != nil {
		b.run(ctx, c.h)
		b, ctx = c.nextBatch(k, g)
	}
}

// nextBatch takes the batch of group k gathered while its call ran, started and
// with its call's context, or marks the group idle and returns nil.
func (c *Client) nextBatch(k groupKey, g *enqueueGroup) (*enqueueBatch, context.Context) {
	gs := &c.groups
	gs.mu.Lock()
	defer gs.mu.Unlock()
	b := g.next
	g.next = nil
	if b == nil || len(b.members) == 0 {
		delete(gs.m, k)
		return nil, nil
	}
	b.started = true
	b.live = len(b.members)
	return b, b.context()
}

// context returns the context of b's call: the values of its first member's, a
// deadline at the latest of its members' (each bounded by the operation timeout,
// S7.1), and cancelled once no member waits. The caller holds the groups' lock.
func (b *enqueueBatch) context() context.Context {
	base := context.WithoutCancel(b.members[0].ctx)
	var last time.Time
	for _, j := range b.members {
		d, ok := j.ctx.Deadline()
		if !ok {
			last = time.Time{}
			break
		}
		if d.After(last) {
			last = d
		}
	}
	var ctx context.Context
	if last.IsZero() {
		ctx, b.cancel = context.WithCancel(base)
	} else {
		ctx, b.cancel = context.WithDeadline(base, last)
	}
	return ctx
}

// run makes b's combined call on h and hands each member its part of the result.
func (b *enqueueBatch) run(ctx context.Context, h backend.Namespace) {
	defer b.cancel()
	p := b.p
	p.Tasks = make([]backend.Message, 0, b.tasks)
	for _, j := range b.members {
		p.Tasks = append(p.Tasks, j.tasks...)
	}
	ids, err := h.Enqueue(ctx, p)
	if p.Unique && len(b.members) > 1 && errors.Is(err, backend.ErrDuplicate) {
		b.alone(h)
		return
	}
	if len(ids) != len(p.Tasks) {
		if err == nil {
			err = malformed("%d task IDs for %d tasks", len(ids), len(p.Tasks))
		}
		ids = nil
	}
	for _, j := range b.members {
		n := len(j.tasks)
		if ids != nil {
			j.ids, ids = ids[:n:n], ids[n:]
		}
		j.err = err
		close(j.done)
	}
}

// alone makes the call of each member of b by itself, in the order they joined,
// with the member's own context: the combined call found a duplicate, and
// changed nothing.
func (b *enqueueBatch) alone(h backend.Namespace) {
	for _, j := range b.members {
		p := b.p
		p.Tasks = j.tasks
		if err := j.ctx.Err(); err != nil {
			j.err = backend.CtxErr(j.ctx)
		} else {
			j.ids, j.err = h.Enqueue(j.ctx, p)
		}
		if j.err == nil && len(j.ids) != len(p.Tasks) {
			j.ids, j.err = nil, malformed("%d task IDs for %d tasks", len(j.ids), len(p.Tasks))
		}
		close(j.done)
	}
}

// taskBytes returns the size of ts's payloads, keys, types and headers.
func taskBytes(ts []backend.Message) int {
	n := 0
	for i := range ts {
		t := &ts[i]
		n += len(t.Payload) + len(t.Key) + len(t.Type)
		for k, v := range t.Headers {
			n += len(k) + len(v)
		}
	}
	return n
}
