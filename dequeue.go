package keyq

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/keyq/keyq/backend"
)

// DequeueOption changes one Dequeue or Next call. Queues and LeaseFor are
// DequeueOptions too.
type DequeueOption interface{ applyDequeue(*dequeueOptions) }

type dequeueOption func(*dequeueOptions)

func (f dequeueOption) applyDequeue(o *dequeueOptions) { f(o) }

type dequeueOptions struct {
	p     backend.DequeueParams
	wait  time.Duration
	until <-chan struct{} // ends a wait's sleep, as its end would (the worker's)
	err   error           // a bad option's
}

// until makes a wait return, empty, when ch receives while it sleeps between
// tries. The worker's fetch loop uses it to take acks that wait.
func until(ch <-chan struct{}) DequeueOption {
	return dequeueOption(func(o *dequeueOptions) { o.until = ch })
}

// Wait makes the call block up to d for a task to arrive; the default, 0, returns at
// once (S3.4).
func Wait(d time.Duration) DequeueOption {
	return dequeueOption(func(o *dequeueOptions) { o.wait = d })
}

// randIntN draws the order of a Weighted call.
var randIntN = rand.IntN

// Batch leases up to n tasks in one call (S3.3). The default is 1.
func Batch(n int) DequeueOption { return dequeueOption(func(o *dequeueOptions) { o.p.Count = n }) }

// Dequeue leases the next tasks from the client's queues in priority order (S3.1).
// Tasks whose key already has an answer are skipped and the answer's TTL refreshed
// (S3.2). It returns no tasks and a nil error when none is available in time. A
// cancelled context ends a waiting call with the context's error (S3.5). Leases it
// returns are the caller's to end, whatever the error.
func (c *Client) Dequeue(ctx context.Context, opts ...DequeueOption) ([]Lease, error) {
	res, err := c.dequeue(ctx, opts)
	return res.Leases, err
}

func (c *Client) dequeue(ctx context.Context, opts []DequeueOption) (backend.DequeueResult, error) {
	o := dequeueOptions{p: backend.DequeueParams{Queues: c.cfg.queues, Count: 1, Lease: c.cfg.lease}}
	for _, f := range opts {
		if f == nil {
			return backend.DequeueResult{}, c.wrap("dequeue", invalid("nil option"))
		}
		f.applyDequeue(&o)
	}
	if o.err != nil {
		return backend.DequeueResult{}, c.wrap("dequeue", o.err)
	}
	if o.wait < 0 || o.wait > MaxDuration {
		return backend.DequeueResult{}, c.wrap("dequeue", invalid("wait %v out of range 0 to %v", o.wait, MaxDuration))
	}
	return run(c, ctx, "dequeue", &o.p, o.wait, func(ctx context.Context) (backend.DequeueResult, error) {
		if o.wait == 0 {
			return c.dequeueOnce(ctx, &o.p)
		}
		return c.wait(ctx, &o.p, o.wait, o.until)
	})
}

// dequeueOnce runs the driver's Dequeue and checks its reply.
func (c *Client) dequeueOnce(ctx context.Context, p *backend.DequeueParams) (backend.DequeueResult, error) {
	res, err := c.h.Dequeue(ctx, *p)
	if len(res.Leases) > p.Count || res.Deduped < 0 || res.Next < 0 {
		// Leases the driver handed out are returned all the same: they are leased.
		err = malformed("%d leases for a batch of %d, %d deduped, next in %v", len(res.Leases), p.Count, res.Deduped, res.Next)
	}
	return res, err
}

// Next leases one task from the first of the client's queues that has one (S3.1):
// it returns nil and no error when nothing is available in time.
func (c *Client) Next(ctx context.Context, opts ...DequeueOption) (*Lease, error) {
	ls, err := c.Dequeue(ctx, append(opts[:len(opts):len(opts)], Batch(1))...)
	if len(ls) == 0 {
		return nil, err
	}
	return &ls[0], err
}
