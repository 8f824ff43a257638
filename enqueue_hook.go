package keyq

import (
	"context"
	"maps"

	"github.com/keyq/keyq/backend"
)

// EnqueueHook sees every task a Client is about to enqueue, once per task, before
// the call goes to the backend and after the call's input was found valid:
// namespace and queue are where the task goes, and m is the task with its key, type
// and headers as they will be stored. The hook may change m's Headers, for example
// to carry a trace context to the worker (S1.4); it must not keep m. m.Headers is never nil and belongs to this enqueue, not to the
// caller. Changes to the payload, key or type are ignored. A hook runs on the
// caller's goroutine, with the caller's context (bounded by the operation
// timeout), and must not block for long.
type EnqueueHook func(ctx context.Context, namespace, queue string, m *Message)

// WithEnqueueHook adds h to the hooks that see every task the client enqueues, by
// Enqueue and EnqueueBatch alike. Hooks run in the order they were added. New
// fails with ErrInvalid when h is nil.
func WithEnqueueHook(h EnqueueHook) Option {
	return func(c *config) { c.enqueueHooks = append(c.enqueueHooks, h) }
}

// runEnqueueHooks lets the client's hooks see the tasks of p, a valid enqueue, and
// takes back the headers they set. Each task's headers are copied first: they may
// be the caller's own map.
func (c *Client) runEnqueueHooks(ctx context.Context, p *backend.EnqueueParams) {
	if len(c.cfg.enqueueHooks) == 0 {
		return
	}
	for i := range p.Tasks {
		t := &p.Tasks[i]
		m := Message{Payload: t.Payload, Key: t.Key, Type: t.Type, Headers: maps.Clone(t.Headers)}
		if m.Headers == nil {
			m.Headers = make(map[string]string)
		}
		for _, h := range c.cfg.enqueueHooks {
			h(ctx, c.ns, p.Queue, &m)
		}
		t.Headers = m.Headers
		if len(t.Headers) == 0 {
			t.Headers = nil
		}
	}
}
