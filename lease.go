package keyq

import (
	"context"
	"encoding/json"
	"time"

	"github.com/keyq/keyq/backend"
)

// AckOption changes one Ack call.
type AckOption interface{ applyAck(*ackOptions) }

type ackOption func(*ackOptions)

func (f ackOption) applyAck(o *ackOptions) { f(o) }

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
	return ackOption(func(o *ackOptions) { o.value, o.has, o.ok = v, true, true })
}

// WithErrorAnswer stores v, encoded as JSON, as the task's error answer, kept for the
// error TTL, and records the job as failed. Later tasks with the same key are answered
// from the store until the TTL passes (negative caching).
func WithErrorAnswer(v any) AckOption {
	return ackOption(func(o *ackOptions) {
		o.value, o.has, o.ok = v, true, false
		if o.status == "" {
			o.status = StatusFailed
		}
	})
}

// WithStatus sets the job's final status: finished (the default), failed or
// timeout, and the error recorded with it.
func WithStatus(s JobStatus, lastError string) AckOption {
	return ackOption(func(o *ackOptions) { o.status, o.err = s, lastError })
}

func leaseRef(l *Lease) (backend.LeaseRef, error) {
	if l == nil {
		return backend.LeaseRef{}, invalid("nil lease")
	}
	return backend.LeaseRef{TaskID: l.ID, Token: l.Token}, nil
}

// Ack ends the lease and removes the task for good (S4.2). A lease that has expired
// or ended gives ErrLeaseLost and changes nothing (S4.6).
func (c *Client) Ack(ctx context.Context, l *Lease, opts ...AckOption) error {
	s, err := c.ackSettlement(l, opts)
	if err != nil {
		return c.wrap("ack", err)
	}
	_, err = c.settleOne(ctx, "ack", s)
	return err
}

// ackSettlement makes the settlement of an Ack, answer encoded, and checks it.
func (c *Client) ackSettlement(l *Lease, opts []AckOption) (backend.Settlement, error) {
	var o ackOptions
	for _, f := range opts {
		if f == nil {
			return backend.Settlement{}, invalid("nil option")
		}
		f.applyAck(&o)
	}
	ref, err := leaseRef(l)
	if err != nil {
		return backend.Settlement{}, err
	}
	s := backend.Settlement{LeaseRef: ref, Action: backend.Ack, Status: o.status, Error: o.err}
	if o.has {
		a, err := c.encode(o.value, o.ok)
		if err != nil {
			return backend.Settlement{}, err
		}
		s.Answer = &a
	}
	return s, checkSettlement(s)
}

// checkSettlement validates one settlement, so that a batch never fails for one
// bad item.
func checkSettlement(s backend.Settlement) error {
	p := backend.SettleParams{Items: []backend.Settlement{s}}
	return p.Validate()
}

// AckRequest is one lease for AckBatch, with the options Ack would take.
type AckRequest struct {
	Lease *Lease
	Opts  []AckOption
}

// AckBatch acks several leases, each as Ack would, in one round trip. It returns
// one error per request, in order: nil when acked, else an error matching
// ErrLeaseLost or ErrInvalid. The second result reports a failure of the whole
// call, after which any lease may or may not have been acked.
func (c *Client) AckBatch(ctx context.Context, reqs []AckRequest) ([]error, error) {
	switch {
	case ctx == nil:
		return nil, c.wrap("ack batch", invalid("nil context"))
	case len(reqs) > MaxCount:
		return nil, c.wrap("ack batch", invalid("%d requests, over the maximum %d", len(reqs), MaxCount))
	}
	errs := make([]error, len(reqs))
	var items []backend.Settlement
	var at []int // index in reqs of each of items
	for i, r := range reqs {
		s, err := c.ackSettlement(r.Lease, r.Opts)
		if err != nil {
			errs[i] = c.wrap("ack", err)
			continue
		}
		items, at = append(items, s), append(at, i)
	}
	if len(items) == 0 {
		return errs, nil
	}
	res, err := c.settle(ctx, "ack batch", items)
	if res == nil {
		return errs, err
	}
	for j, r := range res {
		errs[at[j]] = c.settleErr("ack", r)
	}
	return errs, err
}

// settle settles items in one call and checks the reply: one known result per
// item, SettleDead only for a Release. The results come with ErrNotReplicated
// too; with any other error they are nil.
func (c *Client) settle(ctx context.Context, op string, items []backend.Settlement) ([]backend.SettleResult, error) {
	p := backend.SettleParams{Items: items}
	return run(c, ctx, op, &p, 0, func(ctx context.Context) ([]backend.SettleResult, error) {
		res, err := c.h.Settle(ctx, p)
		if res == nil && err != nil {
			return nil, err
		}
		if merr := checkSettled(items, res); merr != nil {
			return nil, merr
		}
		return res, err
	})
}

// checkSettled checks a driver's results for items: one known result per item,
// SettleDead only for a Release.
func checkSettled(items []backend.Settlement, res []backend.SettleResult) error {
	if len(res) != len(items) {
		return malformed("%d results for %d settlements", len(res), len(items))
	}
	for i, r := range res {
		switch {
		case r == backend.SettleDone, r == backend.SettleLost:
		case r == backend.SettleDead && items[i].Action == backend.Release:
		default:
			return malformed("settlement %d: result %v", i, r)
		}
	}
	return nil
}

// settleOne settles one lease and returns its result, with ErrLeaseLost for
// SettleLost.
func (c *Client) settleOne(ctx context.Context, op string, s backend.Settlement) (backend.SettleResult, error) {
	res, err := c.settle(ctx, op, []backend.Settlement{s})
	if res == nil {
		return 0, err
	}
	if e := c.settleErr(op, res[0]); e != nil {
		return res[0], e
	}
	return res[0], err
}

// settleErr is the error of one settled item: ErrLeaseLost when it was lost.
func (c *Client) settleErr(op string, r backend.SettleResult) error {
	if r == backend.SettleLost {
		return c.wrap(op, ErrLeaseLost)
	}
	return nil
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

// ReleaseOption changes one Release call. Delay is a ReleaseOption too.
type ReleaseOption interface{ applyRelease(*releaseOptions) }

type releaseOption func(*releaseOptions)

func (f releaseOption) applyRelease(o *releaseOptions) { f(o) }

type releaseOptions struct {
	toTail, keepAttempt, dead bool
	delay                     time.Duration
	err                       string
}

// ToTail puts the released task at the tail of its queue instead of the head.
func ToTail() ReleaseOption { return releaseOption(func(o *releaseOptions) { o.toTail = true }) }

// Because records err as the job's last error, and as the reason if the task is
// dead-lettered.
func Because(err error) ReleaseOption {
	return releaseOption(func(o *releaseOptions) {
		if err != nil {
			o.err = err.Error()
		}
	})
}

// KeepAttempt does not count this delivery as an attempt: for a task handed back
// unstarted, as on shutdown.
func KeepAttempt() ReleaseOption {
	return releaseOption(func(o *releaseOptions) { o.keepAttempt = true })
}

// DeadLetter sends the task to the dead-letter list now, whatever its attempt count.
// It takes no other option than Because.
func DeadLetter() ReleaseOption { return releaseOption(func(o *releaseOptions) { o.dead = true }) }

// Release ends the lease and puts the task back at the head of its queue, to be
// delivered next, with its attempt count up by one (S4.3). A task that has used up
// its attempts goes to the dead-letter list instead (S4.7).
func (c *Client) Release(ctx context.Context, l *Lease, opts ...ReleaseOption) error {
	s, err := releaseSettlement(l, opts)
	if err != nil {
		return c.wrap("release", err)
	}
	_, err = c.settleOne(ctx, "release", s)
	return err
}

// releaseSettlement makes the settlement of a Release and checks it.
func releaseSettlement(l *Lease, opts []ReleaseOption) (backend.Settlement, error) {
	var o releaseOptions
	for _, f := range opts {
		if f == nil {
			return backend.Settlement{}, invalid("nil option")
		}
		f.applyRelease(&o)
	}
	ref, err := leaseRef(l)
	if err != nil {
		return backend.Settlement{}, err
	}
	s := backend.Settlement{LeaseRef: ref, Action: backend.Release, Error: o.err,
		ToTail: o.toTail, Delay: o.delay, KeepAttempt: o.keepAttempt}
	if o.dead {
		s.Action = backend.DeadLetter
	}
	return s, checkSettlement(s)
}

// Extend pushes the lease's deadline to now + d on the backend's clock and updates
// l.Deadline (S4.4).
func (c *Client) Extend(ctx context.Context, l *Lease, d time.Duration) error {
	ref, err := leaseRef(l)
	if err != nil {
		return c.wrap("extend", err)
	}
	at, err := c.extend(ctx, []backend.LeaseRef{ref}, d)
	if at == nil {
		return err
	}
	switch {
	case at[0].Cancelled:
		return c.wrap("extend", ErrCancelled)
	case at[0].Deadline.IsZero():
		return c.wrap("extend", ErrLeaseLost)
	}
	l.Deadline = at[0].Deadline
	return err
}

// extend extends refs in one call and checks the reply: one result per lease.
// The results come with ErrNotReplicated too; with any other error they are nil.
func (c *Client) extend(ctx context.Context, refs []backend.LeaseRef, d time.Duration) ([]backend.ExtendResult, error) {
	p := backend.ExtendParams{Leases: refs, Lease: d}
	return run(c, ctx, "extend", &p, 0, func(ctx context.Context) ([]backend.ExtendResult, error) {
		at, err := c.h.Extend(ctx, p)
		if at == nil && err != nil {
			return nil, err
		}
		if len(at) != len(refs) {
			return nil, malformed("%d deadlines for %d leases", len(at), len(refs))
		}
		for i, r := range at {
			if r.Cancelled && !r.Deadline.IsZero() {
				return nil, malformed("lease %d cancelled with a deadline", i)
			}
		}
		return at, err
	})
}
