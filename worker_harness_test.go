package keyq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyq/keyq"
	"github.com/keyq/keyq/backend"
	"github.com/keyq/keyq/clock"
	"github.com/keyq/keyq/memory"
)

// waitFor bounds every wait of the worker tests, and is their clients' operation
// timeout unless a test sets one. It only catches a hang: a loaded machine makes
// the tests slow, never failed.
const waitFor = time.Minute

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// env is one backend under test with a fresh namespace.
type env struct {
	client *keyq.Client
	// bclock is the backend's clock, nil when the backend keeps real time (Redis,
	// where leases, delays and the shared rate limit run on the server's clock).
	bclock *clock.Fake
	// wclock is a fake clock for the worker's own timers.
	wclock *clock.Fake
	redis  bool
}

type backendFactory struct {
	name string
	// new returns an env; with real, a memory backend keeps real time too.
	new func(t *testing.T, real bool, opts ...keyq.Option) env
}

// backends are the backends the worker tests run on; worker_redis_test.go adds
// Redis.
var backends = []backendFactory{
	{"memory", newMemoryEnv},
}

func namespace(t *testing.T) string {
	return "w:{" + strings.ReplaceAll(t.Name(), "/", ":") + "}"
}

func newMemoryEnv(t *testing.T, real bool, opts ...keyq.Option) env {
	t.Helper()
	e := env{wclock: clock.NewFake(epoch)}
	var b *memory.Backend
	if real {
		b = memory.New()
	} else {
		e.bclock = clock.NewFake(epoch)
		b = memory.New(memory.WithClock(e.bclock))
	}
	t.Cleanup(func() { _ = b.Close() })
	c, err := keyq.New(b, namespace(t), append([]keyq.Option{keyq.WithOpTimeout(waitFor)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	return e
}

// forEachBackend runs f once per backend as a subtest.
func forEachBackend(t *testing.T, f func(t *testing.T, bf backendFactory)) {
	for _, bf := range backends {
		t.Run(bf.name, func(t *testing.T) { f(t, bf) })
	}
}

// done is one delivery the worker reported through WorkerOnDone.
type done struct {
	task keyq.Task
	o    keyq.Outcome
	err  error
}

// recorder collects outcomes.
type recorder struct{ ch chan done }

func newRecorder() *recorder { return &recorder{ch: make(chan done, 100000)} }

func (r *recorder) option() keyq.WorkerOption {
	return keyq.WorkerOnDone(func(t *keyq.Task, o keyq.Outcome, err error) {
		r.ch <- done{*t, o, err}
	})
}

// next waits for the next outcome.
func (r *recorder) next(t *testing.T) done {
	t.Helper()
	select {
	case d := <-r.ch:
		return d
	case <-time.After(waitFor):
		t.Fatal("no worker outcome within", waitFor)
		return done{}
	}
}

// expect waits for the next outcome and checks it is o.
func (r *recorder) expect(t *testing.T, o keyq.Outcome) done {
	t.Helper()
	d := r.next(t)
	if d.o != o {
		t.Fatalf("outcome of task %s (attempt %d) = %s (err %v), want %s", d.task.ID, d.task.Attempt, d.o, d.err, o)
	}
	return d
}

// start runs w until the test ends, and checks that Run returns nil.
func start(t *testing.T, w *keyq.Worker) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- w.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := w.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func bounded(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}

// waitTimers waits until at least n timers wait on c.
func waitTimers(t *testing.T, c *clock.Fake, n int) {
	t.Helper()
	if err := c.WaitTimers(bounded(t), n); err != nil {
		t.Fatalf("%d timers did not start waiting (have %d): %v", n, c.Timers(), err)
	}
}

// recv waits for a value on ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitFor):
		t.Fatalf("%s did not happen within %v", what, waitFor)
		var zero T
		return zero
	}
}

func mustEnqueue(t *testing.T, c *keyq.Client, queue, payload string, opts ...keyq.EnqueueOption) string {
	t.Helper()
	id, err := c.Enqueue(context.Background(), queue, []byte(payload), opts...)
	if err != nil {
		t.Fatalf("enqueue %q: %v", payload, err)
	}
	return id
}

func mustJob(t *testing.T, c *keyq.Client, id string) keyq.Job {
	t.Helper()
	j, err := c.Job(context.Background(), id)
	if err != nil {
		t.Fatalf("job %s: %v", id, err)
	}
	return j
}

func mustWorker(t *testing.T, c *keyq.Client, opts ...keyq.WorkerOption) *keyq.Worker {
	t.Helper()
	w, err := keyq.NewWorker(c, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func isCause(ctx context.Context, target error) bool {
	return errors.Is(context.Cause(ctx), target)
}

// wrapBackend is a backend whose namespace handles are wrap's. It keeps the
// backend's clock.
type wrapBackend struct {
	backend.Backend
	wrap func(backend.Namespace) backend.Namespace
}

func (b wrapBackend) Namespace(name string) (backend.Namespace, error) {
	h, err := b.Backend.Namespace(name)
	if err != nil {
		return nil, err
	}
	return b.wrap(h), nil
}

func (b wrapBackend) Clock() clock.Clock {
	if c, ok := b.Backend.(backend.Clocked); ok {
		return c.Clock()
	}
	return clock.Real()
}

// nsParts is a namespace handle with its optional interfaces, each nil where the
// handle has not got it; a type that embeds it overrides what it spies on.
type nsParts struct {
	backend.Namespace
	backend.Inspector
	backend.Admin
	backend.Notifier
	backend.RateLimiter
}

func partsOf(h backend.Namespace) nsParts {
	p := nsParts{Namespace: h}
	p.Inspector, _ = h.(backend.Inspector)
	p.Admin, _ = h.(backend.Admin)
	p.Notifier, _ = h.(backend.Notifier)
	p.RateLimiter, _ = h.(backend.RateLimiter)
	return p
}

// wrapClient returns a client of e's backend on namespace ns whose handle is
// wrap's, with opts.
func wrapClient(t *testing.T, e env, ns string, wrap func(backend.Namespace) backend.Namespace, opts ...keyq.Option) *keyq.Client {
	t.Helper()
	c, err := keyq.New(wrapBackend{e.client.Backend(), wrap}, ns, append([]keyq.Option{keyq.WithOpTimeout(waitFor)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noLimiterNS is a namespace handle without a shared rate limiter.
type noLimiterNS struct {
	backend.Namespace
	backend.Inspector
	backend.Admin
	backend.Notifier
}

func noLimiter(h backend.Namespace) backend.Namespace {
	p := partsOf(h)
	return noLimiterNS{p.Namespace, p.Inspector, p.Admin, p.Notifier}
}
