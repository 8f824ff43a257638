// Package memory is keyq's in-process backend: for unit tests that need no Redis
// server, and for single processes.
//
// It keeps the whole keyq contract (package conformance proves it) with mutex-guarded
// maps, ring buffers and deadline heaps. Every call costs O(1) or O(log n) in the
// number of stored tasks, leaving aside the work of housekeeping (moving due delayed
// tasks and expired leases), which each call does for at most
// backend.HousekeepingBatch tasks. A waiting Dequeue is woken by the enqueue that
// feeds it, with no polling. The backend starts no goroutines.
//
// Time comes from a clock.Clock, the host's by default; tests pass a clock.Fake with
// WithClock and move it by hand. Dequeue waits are measured on the host's clock,
// as they would be for a remote backend.
//
// Task IDs and lease tokens are the bare numbers of backend/doc.go, unique for the
// life of a Backend: a namespace, once made, is never dropped, so its sequence
// never starts again. The data goes with the Backend, and so do the leases: IDs
// and tokens of one Backend mean nothing to another, which would take them for its
// own tasks of the same numbers.
package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// Backend is the in-memory backend. Its methods are safe for concurrent use.
type Backend struct {
	clock   clock.Clock
	closed  atomic.Bool
	closing chan struct{}

	mu         sync.RWMutex
	namespaces map[string]*namespace
}

// Option configures New.
type Option func(*Backend)

// WithClock makes the backend read time from c instead of the host's clock.
func WithClock(c clock.Clock) Option { return func(b *Backend) { b.clock = c } }

// New returns an empty backend.
func New(opts ...Option) *Backend {
	b := &Backend{
		clock:      clock.Real(),
		closing:    make(chan struct{}),
		namespaces: make(map[string]*namespace),
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.RateLimiter = (*Backend)(nil)
	_ backend.BatchAcker  = (*Backend)(nil)
)

// Close makes every later call fail with backend.ErrClosed and wakes waiting
// Dequeue calls, which return backend.ErrClosed. A second Close returns nil.
func (b *Backend) Close() error {
	if b.closed.CompareAndSwap(false, true) {
		close(b.closing)
	}
	return nil
}

// open locks the namespace, creating it, runs its housekeeping, and returns the
// time it read, which the call then uses throughout (the clock is read once per
// call). The caller must unlock ns.mu.
func (b *Backend) open(ctx context.Context, name string) (*namespace, time.Time, error) {
	ns, err := b.lock(ctx, name)
	if err != nil {
		return nil, time.Time{}, err
	}
	now := b.clock.Now()
	ns.housekeep(now)
	return ns, now, nil
}

// lock locks the namespace, creating it. The caller must unlock ns.mu.
func (b *Backend) lock(ctx context.Context, name string) (*namespace, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	b.mu.RLock()
	ns := b.namespaces[name]
	b.mu.RUnlock()
	if ns == nil {
		b.mu.Lock()
		if ns = b.namespaces[name]; ns == nil {
			ns = newNamespace(name)
			b.namespaces[name] = ns
		}
		b.mu.Unlock()
	}
	ns.mu.Lock()
	return ns, nil
}

// check reports ErrInvalid for a nil context, else ErrClosed or the context's
// error, if any.
func (b *Backend) check(ctx context.Context) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", backend.ErrInvalid)
	}
	if b.closed.Load() {
		return backend.ErrClosed
	}
	return ctxErr(ctx)
}

// ctxErr maps a done context to its error, a deadline to backend.ErrTimeout.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if err == context.DeadlineExceeded {
		return fmt.Errorf("%w: %w", backend.ErrTimeout, err)
	}
	return err
}

// Waiting returns how many Dequeue calls are blocked waiting for a task. Tests use it
// to know that a consumer is waiting.
func (b *Backend) Waiting() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	n := 0
	for _, ns := range b.namespaces {
		ns.mu.Lock()
		n += len(ns.waiters)
		ns.mu.Unlock()
	}
	return n
}
