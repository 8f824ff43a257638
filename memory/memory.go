// Package memory is keyq's in-process backend: for unit tests that need no Redis
// server, and for single processes.
//
// It keeps the whole keyq contract (package conformance proves it) with mutex-guarded
// maps, ring buffers and deadline heaps. Every call that enqueues, dequeues,
// settles or extends costs O(1) or O(log n) in the number of stored tasks,
// leaving aside the work of housekeeping (moving due delayed tasks and expired
// leases), which each call does for at most backend.HousekeepingBatch tasks.
// Cancel looks for its task through every stored one, O(n), and Leases and
// Delayed sort every lease or delayed task, O(n log n): they are for operators.
// Calls never wait; a Namespace tells waiting callers when tasks arrive through
// Notify, with no polling. The backend starts no goroutines.
//
// Time comes from a clock.Clock, the host's by default; tests pass a clock.Fake with
// WithClock and move it by hand. Clock returns it, so that package keyq waits on it.
//
// Task IDs and lease tokens are the bare numbers of backend/doc.go, unique for the
// life of a Backend: a namespace, once made, is never dropped, so its sequence
// never starts again. The data goes with the Backend, and so do the leases: IDs
// and tokens of one Backend mean nothing to another, which would take them for its
// own tasks of the same numbers.
package memory

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
)

// Backend is the in-memory backend. Its methods are safe for concurrent use.
type Backend struct {
	clock  clock.Clock
	closed atomic.Bool

	mu         sync.Mutex
	namespaces map[string]*Namespace
}

// Option configures New.
type Option func(*Backend)

// WithClock makes the backend read time from c instead of the host's clock.
func WithClock(c clock.Clock) Option { return func(b *Backend) { b.clock = c } }

// New returns an empty backend.
func New(opts ...Option) *Backend {
	b := &Backend{clock: clock.Real(), namespaces: make(map[string]*Namespace)}
	for _, o := range opts {
		o(b)
	}
	return b
}

var (
	_ backend.Backend         = (*Backend)(nil)
	_ backend.NamespaceLister = (*Backend)(nil)
	_ backend.Clocked         = (*Backend)(nil)
)

// Namespace returns the handle of the namespace called name, a *Namespace, the
// same one for every call with that name. An empty name gives backend.ErrInvalid,
// a closed backend backend.ErrClosed.
func (b *Backend) Namespace(name string) (backend.Namespace, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty namespace name", backend.ErrInvalid)
	}
	if b.closed.Load() {
		return nil, backend.ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ns := b.namespaces[name]
	if ns == nil {
		ns = newNamespace(b, name)
		b.namespaces[name] = ns
	}
	return ns, nil
}

// Clock returns the clock the backend keeps time on.
func (b *Backend) Clock() clock.Clock { return b.clock }

// Close makes every later call fail with backend.ErrClosed and sends Wake{} to every
// Notify registration, which it then drops. A second Close returns nil.
func (b *Backend) Close() error {
	if !b.closed.CompareAndSwap(false, true) {
		return nil
	}
	for _, ns := range b.all() {
		ns.mu.Lock()
		ns.send(backend.Wake{})
		clear(ns.listeners)
		ns.mu.Unlock()
	}
	return nil
}

// all returns every namespace handed out so far.
func (b *Backend) all() []*Namespace {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Collect(maps.Values(b.namespaces))
}
