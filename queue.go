// Package keyq is a task queue with interchangeable backends.
//
// Producers enqueue tasks into named queues of a namespace; consumers lease them,
// do the work, and ack with an answer; a failed task goes back to the head of its
// queue. Answers are stored per task key with separate TTLs for success and error,
// and a task whose answer already exists is skipped on dequeue while the answer's TTL
// is refreshed. Leases time out and come back by themselves, so a crashed consumer
// loses nothing. The rules are numbered (S1.1 ...) in docs/semantics.md, the
// module's contract, and package conformance proves every backend keeps them.
//
// A Client binds a backend (package memory, or package redisbackend) to a
// namespace:
//
//	q, err := keyq.New(memory.New(), "callapp", keyq.Queues("queue", "reestr"))
//	id, err := q.Enqueue(ctx, "queue", []byte("task-1"))
//	lease, err := q.Next(ctx)                           // nil when nothing waits
//	err = q.Ack(ctx, lease, keyq.WithAnswer(result))    // store the answer, done
//	err = q.Release(ctx, lease)                          // or: back to the head
//	ok, err := q.ExistsRefresh(ctx, "task-1")           // answered? keep it fresh
//
// Every method validates its input (bad input is ErrInvalid and changes nothing),
// bounds the backend call by the operation timeout (ErrTimeout), and wraps errors so
// errors.Is finds keyq's sentinels and errors.As the driver's own error. A method
// that needs an optional interface of the driver (inspection, admin, a shared rate
// limiter) that it has not got returns an error matching errors.ErrUnsupported. A
// Client is safe for concurrent use.
package keyq

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// The types a Client hands out are the driver contract's own.
type (
	Task       = backend.Task
	Lease      = backend.Lease
	Job        = backend.Job
	JobStatus  = backend.JobStatus
	Stats      = backend.Stats
	QueueStats = backend.QueueStats
	Counters   = backend.Counters
	DeadTask   = backend.DeadTask
)

// The job statuses (S6.1).
const (
	StatusPending  = backend.StatusPending
	StatusRunning  = backend.StatusRunning
	StatusFinished = backend.StatusFinished
	StatusFailed   = backend.StatusFailed
	StatusTimeout  = backend.StatusTimeout
	StatusDead     = backend.StatusDead
	// StatusCancelled: deleted or cancelled by ID (S12.2 to S12.4).
	StatusCancelled = backend.StatusCancelled
)

// Client is a namespace of a backend. It is safe for concurrent use.
type Client struct {
	b      backend.Backend
	h      backend.Namespace // the namespace's handle: every call runs on it
	ns     string
	cfg    config
	clock  clock.Clock // the backend's, or the host's: Dequeue waits for Next on it
	waits  waiters
	groups enqueueGroups // see Coalesce
}

// New returns a client for a namespace of b. The namespace may hold any bytes but
// must not be empty, and the backend may refuse names it cannot hold (ErrInvalid).
// Closing is the backend's: close b when done with every client.
func New(b backend.Backend, namespace string, opts ...Option) (*Client, error) {
	cfg := defaults()
	c := &Client{b: b, ns: namespace, clock: clock.Real()}
	for _, o := range opts {
		if o == nil {
			return nil, c.wrap("new", invalid("nil option"))
		}
		o.applyClient(&cfg)
	}
	c.cfg = cfg
	if isNil(b) {
		return nil, c.wrap("new", invalid("nil backend"))
	}
	if namespace == "" {
		return nil, c.wrap("new", invalid("empty namespace"))
	}
	if err := cfg.validate(); err != nil {
		return nil, c.wrap("new", err)
	}
	h, err := b.Namespace(namespace)
	if err == nil && isNil(h) {
		err = malformed("the backend returned a nil namespace handle")
	}
	if err != nil {
		return nil, c.wrap("new", err)
	}
	c.h = h
	c.waits.notifier, _ = h.(backend.Notifier)
	if cb, ok := b.(backend.Clocked); ok && cb.Clock() != nil {
		c.clock = cb.Clock()
	}
	return c, nil
}

// isNil reports whether b is nil, or an interface holding a nil pointer, map,
// slice, func or channel (a typed nil), whose methods would panic.
func isNil(b any) bool {
	if b == nil {
		return true
	}
	switch v := reflect.ValueOf(b); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// Namespace returns the client's namespace.
func (c *Client) Namespace() string { return c.ns }

// Queues returns the queues Dequeue serves, highest priority first.
func (c *Client) Queues() []string { return append([]string(nil), c.cfg.queues...) }

// Backend returns the backend the client uses.
func (c *Client) Backend() backend.Backend { return c.b }

// optional returns the client's namespace handle as the optional interface I, or
// an error matching errors.ErrUnsupported, wrapped for op, when the driver has not
// got it.
func optional[I any](c *Client, op string) (I, error) {
	i, ok := c.h.(I)
	if !ok {
		return i, c.wrap(op, backend.Unsupported("the backend has no "+fmt.Sprintf("%T", (*I)(nil))[1:]))
	}
	return i, nil
}

// LeaseDuration returns the lease a dequeue asks for by default.
func (c *Client) LeaseDuration() time.Duration { return c.cfg.lease }

// validate checks p and runs f under the operation timeout.
func run[T any, P interface{ Validate() error }](c *Client, ctx context.Context, op string, p P, extra time.Duration, f func(context.Context) (T, error)) (T, error) {
	if err := p.Validate(); err != nil {
		var zero T
		return zero, c.wrap(op, err)
	}
	return call(c, ctx, op, extra, f)
}
