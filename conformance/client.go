package conformance

import (
	"github.com/keyq/keyq"
)

// The client tier's helpers: tests that use keyq.Client, as an application does.

// client returns a client of the test's namespace, serving queue "q" with an
// operation timeout of opTimeout unless the options say otherwise.
func (e *env) client(opts ...keyq.Option) *keyq.Client {
	e.Helper()
	return e.clientOf(e.ns, opts...)
}

func (e *env) clientOf(ns string, opts ...keyq.Option) *keyq.Client {
	e.Helper()
	c, err := keyq.New(e.tg.Backend, ns, append([]keyq.Option{keyq.WithQueues("q"), keyq.WithOpTimeout(opTimeout)}, opts...)...)
	if err != nil {
		e.Fatalf("keyq.New: %v", err)
	}
	return c
}

func (e *env) enqueue(c *keyq.Client, queue, payload string, opts ...keyq.EnqueueOption) string {
	e.Helper()
	id, err := c.Enqueue(e.ctx, queue, []byte(payload), opts...)
	if err != nil {
		e.Fatalf("Enqueue(%q, %q): %v", queue, payload, err)
	}
	return id
}

// next leases one task and fails the test when there is none.
func (e *env) next(c *keyq.Client, opts ...keyq.DequeueOption) *keyq.Lease {
	e.Helper()
	l, err := c.Next(e.ctx, opts...)
	if err != nil {
		e.Fatalf("Next: %v", err)
	}
	if l == nil {
		e.Fatal("Next: no task, want one")
	}
	return l
}

// nextPayload leases one task and checks its payload.
func (e *env) nextPayload(c *keyq.Client, want string, opts ...keyq.DequeueOption) *keyq.Lease {
	e.Helper()
	l := e.next(c, opts...)
	if string(l.Payload) != want {
		e.Fatalf("Next delivered %q, want %q", l.Payload, want)
	}
	return l
}

// none checks that nothing can be leased now.
func (e *env) none(c *keyq.Client, opts ...keyq.DequeueOption) {
	e.Helper()
	l, err := c.Next(e.ctx, opts...)
	if err != nil {
		e.Fatalf("Next: %v", err)
	}
	if l != nil {
		e.Fatalf("Next delivered %q (ID %s), want nothing", l.Payload, l.ID)
	}
}

func (e *env) ack(c *keyq.Client, l *keyq.Lease, opts ...keyq.AckOption) {
	e.Helper()
	if err := c.Ack(e.ctx, l, opts...); err != nil {
		e.Fatalf("Ack(%s): %v", l.ID, err)
	}
}

func (e *env) release(c *keyq.Client, l *keyq.Lease, opts ...keyq.ReleaseOption) {
	e.Helper()
	if err := c.Release(e.ctx, l, opts...); err != nil {
		e.Fatalf("Release(%s): %v", l.ID, err)
	}
}

// drain leases and acks everything available now and returns the payloads in order.
func (e *env) drain(c *keyq.Client) []string {
	e.Helper()
	var out []string
	for {
		l, err := c.Next(e.ctx)
		if err != nil {
			e.Fatalf("Next: %v", err)
		}
		if l == nil {
			return out
		}
		out = append(out, string(l.Payload))
		e.ack(c, l)
	}
}

func (e *env) stats(c *keyq.Client, queues ...string) keyq.Stats {
	e.Helper()
	st, err := c.Stats(e.ctx, queues...)
	if err != nil {
		e.Fatalf("Stats: %v", err)
	}
	return st
}

func (e *env) queueStats(c *keyq.Client, queue string) keyq.QueueStats {
	e.Helper()
	return e.stats(c, queue).Queues[queue]
}

func (e *env) wantQueue(c *keyq.Client, queue string, want keyq.QueueStats) {
	e.Helper()
	if got := e.queueStats(c, queue); got != want {
		e.Fatalf("queue %q: stats %+v, want %+v", queue, got, want)
	}
}
