package keyq

import (
	"context"
	"maps"
	"time"

	"github.com/keyq/keyq/backend"
)

// Message is one task of EnqueueBatch.
type Message struct {
	Payload []byte
	Key     string // empty: the payload is the key (S1.2)
	Type    string
	Headers map[string]string
}

// EnqueueOption changes one Enqueue or EnqueueBatch call.
type EnqueueOption interface{ applyEnqueue(*enqueueOptions) }

type enqueueOption func(*enqueueOptions)

func (f enqueueOption) applyEnqueue(o *enqueueOptions) { f(o) }

type enqueueOptions struct {
	key         string
	typ         string
	headers     map[string]string
	atHead      bool
	delay       time.Duration
	unique      bool
	maxAttempts int
	err         error // a bad option's
}

// Key sets the task's key, its identity for dedupe and answers (S1.2). Without it, or
// with an empty key, the payload is the key.
func Key(k string) EnqueueOption { return enqueueOption(func(o *enqueueOptions) { o.key = k }) }

// Type sets the task's type, the name of the handler that runs it (S1.4).
func Type(t string) EnqueueOption { return enqueueOption(func(o *enqueueOptions) { o.typ = t }) }

// Header adds a string header to the task (S1.4). A name that starts with
// ReservedHeaderPrefix is refused with ErrInvalid (S7.6).
func Header(name, value string) EnqueueOption {
	return enqueueOption(func(o *enqueueOptions) {
		if err := checkHeaders(map[string]string{name: ""}); err != nil {
			o.err = err
			return
		}
		reserve(o, name, value)
	})
}

// AtHead puts the task before every waiting task, as Redis LPUSH would (S2.2).
func AtHead() EnqueueOption { return enqueueOption(func(o *enqueueOptions) { o.atHead = true }) }

// DelayOption is what Delay returns: an EnqueueOption and a ReleaseOption.
type DelayOption struct{ d time.Duration }

// Delay makes the task available at the head of its queue only after d (S7.2): a
// task enqueued, or one released. Tasks that come due together are each put at
// the head in turn, as AtHead would: a delayed batch comes out last task first.
func Delay(d time.Duration) DelayOption { return DelayOption{d} }

func (o DelayOption) applyEnqueue(e *enqueueOptions) { e.delay = o.d }
func (o DelayOption) applyRelease(r *releaseOptions) { r.delay = o.d }

// Unique refuses the enqueue with ErrDuplicate when the key has an answer or a task
// with that key is waiting, delayed or leased in the namespace (S2.4).
func Unique() EnqueueOption { return enqueueOption(func(o *enqueueOptions) { o.unique = true }) }

// Enqueue appends a task to the tail of queue and returns its ID (S2.1). The payload
// may be any bytes, empty included, up to the client's maximum (S1.1, S1.5).
func (c *Client) Enqueue(ctx context.Context, queue string, payload []byte, opts ...EnqueueOption) (string, error) {
	ids, err := c.enqueue(ctx, "enqueue", queue, []Message{{Payload: payload}}, opts)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// EnqueueBatch adds several tasks to queue, all or nothing (S2.3), and returns their
// IDs in order. The options apply to every message; a message's own Key, Type and
// Headers win over them. Calls made at the same time may share one backend call
// (see Coalesce); each stays all or nothing for its caller.
func (c *Client) EnqueueBatch(ctx context.Context, queue string, msgs []Message, opts ...EnqueueOption) ([]string, error) {
	return c.enqueue(ctx, "enqueue batch", queue, msgs, opts)
}

func (c *Client) enqueue(ctx context.Context, op, queue string, msgs []Message, opts []EnqueueOption) ([]string, error) {
	o := enqueueOptions{maxAttempts: c.cfg.maxAttempts}
	for _, f := range opts {
		if f == nil {
			return nil, c.wrap(op, invalid("nil option"))
		}
		f.applyEnqueue(&o)
	}
	if o.err != nil {
		return nil, c.wrap(op, o.err)
	}
	p := backend.EnqueueParams{
		Queue:     queue,
		Tasks:     make([]backend.Message, len(msgs)),
		AtHead:    o.atHead,
		Delay:     o.delay,
		Unique:    o.unique,
		TrackJobs: c.cfg.trackJobs,
		JobTTL:    c.cfg.jobTTL,
	}
	for i, m := range msgs {
		if len(m.Payload) > c.cfg.maxPayload {
			return nil, c.wrap(op, invalid("payload of %d bytes is over the %d byte maximum", len(m.Payload), c.cfg.maxPayload))
		}
		if err := checkHeaders(m.Headers); err != nil {
			return nil, c.wrap(op, err)
		}
		t := backend.Message{Key: m.Key, Type: m.Type, Payload: m.Payload, Headers: m.Headers, MaxAttempts: o.maxAttempts}
		if t.Key == "" {
			t.Key = o.key
		}
		if t.Key == "" {
			t.Key = string(m.Payload)
		}
		if t.Type == "" {
			t.Type = o.typ
		}
		if len(o.headers) > 0 {
			h := maps.Clone(o.headers)
			maps.Copy(h, m.Headers)
			t.Headers = h
		}
		p.Tasks[i] = t
	}
	return run(c, ctx, op, &p, 0, func(ctx context.Context) ([]string, error) {
		c.runEnqueueHooks(ctx, &p)
		return c.enqueueGrouped(ctx, p)
	})
}
