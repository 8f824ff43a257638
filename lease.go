package keyq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyq/keyq/backend"
)

// DequeueOption changes one Dequeue or Next call.
type DequeueOption func(*backend.DequeueParams)

// Wait makes the call block up to d for a task to arrive; the default, 0, returns at
// once (S3.4).
func Wait(d time.Duration) DequeueOption { return func(p *backend.DequeueParams) { p.Wait = d } }

// Batch leases up to n tasks in one call (S3.3). The default is 1.
func Batch(n int) DequeueOption { return func(p *backend.DequeueParams) { p.Count = n } }

// LeaseFor sets the lease of this call's tasks instead of the client's (S4.1).
func LeaseFor(d time.Duration) DequeueOption {
	return func(p *backend.DequeueParams) { p.Lease = d }
}

// From serves these queues, highest priority first, instead of the client's.
func From(queues ...string) DequeueOption {
	return func(p *backend.DequeueParams) { p.Queues = queues }
}

// Dequeue leases the next tasks from the client's queues in priority order (S3.1).
// Tasks whose key already has an answer are skipped and the answer's TTL refreshed
// (S3.2). It returns no tasks and a nil error when none is available in time. A
// cancelled context ends a waiting call with the context's error (S3.5). Leases it
// returns are the caller's to end, whatever the error.
func (c *Client) Dequeue(ctx context.Context, opts ...DequeueOption) ([]Lease, error) {
	p := backend.DequeueParams{Namespace: c.ns, Queues: c.cfg.queues, Count: 1, Lease: c.cfg.lease}
	for _, o := range opts {
		if o == nil {
			return nil, c.wrap("dequeue", invalid("nil option"))
		}
		o(&p)
	}
	res, err := run(c, ctx, "dequeue", &p, max(p.Wait, 0), func(ctx context.Context) (backend.DequeueResult, error) {
		return c.b.Dequeue(ctx, p)
	})
	return res.Leases, err
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

// AckOption changes one Ack call.
type AckOption func(*ackOptions)

type ackOptions struct {
	value  any
	has    bool
	ok     bool
	status JobStatus
	err    string
}

// WithAnswer stores v, encoded as JSON, as the task's success answer in the same
// atomic step as the ack (S4.2, S5.1). A json.RawMessage is stored as it is and must
// be valid JSON; a []byte is encoded as encoding/json does, as a base64 string.
func WithAnswer(v any) AckOption {
	return func(o *ackOptions) { o.value, o.has, o.ok = v, true, true }
}

// WithErrorAnswer stores v, encoded as JSON, as the task's error answer, kept for the
// error TTL, and records the job as failed. Later tasks with the same key are answered
// from the store until the TTL passes (negative caching).
func WithErrorAnswer(v any) AckOption {
	return func(o *ackOptions) {
		o.value, o.has, o.ok = v, true, false
		if o.status == "" {
			o.status = StatusFailed
		}
	}
}

// WithStatus sets the job's final status: finished (the default), failed or
// timeout, and the error recorded with it.
func WithStatus(s JobStatus, lastError string) AckOption {
	return func(o *ackOptions) { o.status, o.err = s, lastError }
}

func (c *Client) leaseRef(l *Lease) (string, string, error) {
	if l == nil {
		return "", "", invalid("nil lease")
	}
	return l.ID, l.Token, nil
}

// Ack ends the lease and removes the task for good (S4.2). A lease that has expired
// or ended gives ErrLeaseLost and changes nothing (S4.6).
func (c *Client) Ack(ctx context.Context, l *Lease, opts ...AckOption) error {
	p, err := c.ackParams(l, opts)
	if err != nil {
		return c.wrap("ack", err)
	}
	_, err = run(c, ctx, "ack", &p, 0, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.b.Ack(ctx, p)
	})
	return err
}

func (c *Client) ackParams(l *Lease, opts []AckOption) (backend.AckParams, error) {
	var o ackOptions
	for _, f := range opts {
		if f == nil {
			return backend.AckParams{}, invalid("nil option")
		}
		f(&o)
	}
	id, token, err := c.leaseRef(l)
	if err != nil {
		return backend.AckParams{}, err
	}
	p := backend.AckParams{Namespace: c.ns, TaskID: id, Token: token, Status: o.status, Error: o.err}
	if o.has {
		a, err := c.encode(o.value, o.ok)
		if err != nil {
			return backend.AckParams{}, err
		}
		p.Answer = &a
	}
	return p, p.Validate()
}

// AckRequest is one lease for AckBatch, with the options Ack would take.
type AckRequest struct {
	Lease *Lease
	Opts  []AckOption
}

// AckBatch acks several leases, each as Ack would, in one round trip when the
// backend can (backend.BatchAcker). It returns one error per request, in order: nil
// when acked, else an error matching ErrLeaseLost or ErrInvalid. The second result
// reports a failure of the whole call, after which any lease may or may not have
// been acked.
func (c *Client) AckBatch(ctx context.Context, reqs []AckRequest) ([]error, error) {
	switch {
	case ctx == nil:
		return nil, c.wrap("ack batch", invalid("nil context"))
	case len(reqs) > MaxCount:
		return nil, c.wrap("ack batch", invalid("%d requests, over the maximum %d", len(reqs), MaxCount))
	}
	errs := make([]error, len(reqs))
	var ps []backend.AckParams
	var at []int // index in reqs of each of ps
	for i, r := range reqs {
		p, err := c.ackParams(r.Lease, r.Opts)
		if err != nil {
			errs[i] = c.wrap("ack", err)
			continue
		}
		ps, at = append(ps, p), append(at, i)
	}
	if len(ps) == 0 {
		return errs, nil
	}
	res, err := c.ackBatch(ctx, ps)
	if err != nil {
		return errs, err
	}
	for j, e := range res {
		errs[at[j]] = e
	}
	return errs, nil
}

// ackBatch acks ps, made by ackParams, in one call when the backend can. It returns
// one error per item, as Ack would have returned it, or the failure of the whole
// call.
func (c *Client) ackBatch(ctx context.Context, ps []backend.AckParams) ([]error, error) {
	res, err := call(c, ctx, "ack batch", 0, func(ctx context.Context) ([]error, error) {
		if ba, ok := c.b.(backend.BatchAcker); ok {
			res, err := ba.AckBatch(ctx, ps)
			if err == nil && len(res) != len(ps) {
				err = fmt.Errorf("the driver answered %d results for %d acks", len(res), len(ps))
			}
			return res, err
		}
		out := make([]error, len(ps))
		for i := range ps {
			if out[i] = c.b.Ack(ctx, ps[i]); out[i] != nil && !errors.Is(out[i], ErrLeaseLost) {
				return nil, out[i]
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	for i, e := range res {
		if e != nil {
			res[i] = c.wrap("ack", e)
		}
	}
	return res, nil
}

// encode makes an answer of v with the TTL for its outcome.
func (c *Client) encode(v any, ok bool) (backend.Answer, error) {
	raw, isRaw := v.(json.RawMessage)
	if isRaw && !json.Valid(raw) {
		return backend.Answer{}, invalid("answer is a json.RawMessage that is not valid JSON")
	}
	if !isRaw {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return backend.Answer{}, invalid("answer does not encode as JSON: %w", err)
		}
	}
	ttl := c.cfg.answerTTL
	if !ok {
		ttl = c.cfg.errorTTL
	}
	return backend.Answer{Value: raw, OK: ok, TTL: ttl}, nil
}

// ReleaseOption changes one Release call.
type ReleaseOption func(*backend.ReleaseParams)

// ToTail puts the released task at the tail of its queue instead of the head.
func ToTail() ReleaseOption { return func(p *backend.ReleaseParams) { p.ToTail = true } }

// After makes the released task available again only after d (S7.2).
func After(d time.Duration) ReleaseOption { return func(p *backend.ReleaseParams) { p.Delay = d } }

// Because records err as the job's last error, and as the reason if the task is
// dead-lettered.
func Because(err error) ReleaseOption {
	return func(p *backend.ReleaseParams) {
		if err != nil {
			p.Error = err.Error()
		}
	}
}

// KeepAttempt does not count this delivery as an attempt: for a task handed back
// unstarted, as on shutdown.
func KeepAttempt() ReleaseOption { return func(p *backend.ReleaseParams) { p.KeepAttempt = true } }

// DeadLetter sends the task to the dead-letter list now, whatever its attempt count.
func DeadLetter() ReleaseOption { return func(p *backend.ReleaseParams) { p.DeadLetter = true } }

// Release ends the lease and puts the task back at the head of its queue, to be
// delivered next, with its attempt count up by one (S4.3). A task that has used up
// its attempts goes to the dead-letter list instead (S4.7).
func (c *Client) Release(ctx context.Context, l *Lease, opts ...ReleaseOption) error {
	id, token, err := c.leaseRef(l)
	if err != nil {
		return c.wrap("release", err)
	}
	p := backend.ReleaseParams{Namespace: c.ns, TaskID: id, Token: token}
	for _, o := range opts {
		if o == nil {
			return c.wrap("release", invalid("nil option"))
		}
		o(&p)
	}
	_, err = run(c, ctx, "release", &p, 0, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, c.b.Release(ctx, p)
	})
	return err
}

// Extend pushes the lease's deadline to now + d on the backend's clock and updates
// l.Deadline (S4.4).
func (c *Client) Extend(ctx context.Context, l *Lease, d time.Duration) error {
	id, token, err := c.leaseRef(l)
	if err != nil {
		return c.wrap("extend", err)
	}
	p := backend.ExtendParams{Namespace: c.ns, TaskID: id, Token: token, Lease: d}
	at, err := run(c, ctx, "extend", &p, 0, func(ctx context.Context) (time.Time, error) {
		return c.b.Extend(ctx, p)
	})
	if err == nil {
		l.Deadline = at
	}
	return err
}

// Reclaim puts every expired lease of the namespace back now, and returns how many.
// Backends do this on their own; the call is for tools (S4.5).
func (c *Client) Reclaim(ctx context.Context) (int, error) {
	p := backend.ReclaimParams{Namespace: c.ns}
	return run(c, ctx, "reclaim", &p, 0, func(ctx context.Context) (int, error) {
		return c.b.Reclaim(ctx, p)
	})
}
