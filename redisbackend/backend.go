package redisbackend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// Options configure a Backend. The zero value is ready to use.
type Options struct {
	// Prefix starts every key name. It must not contain '{' or '}'. Default "keyq".
	Prefix string
	// DequeueGrace is how long a dequeue script already sent may outlive the
	// caller's context, cancelled or past its deadline, so that the tasks it leases
	// reach the caller instead of waiting for their leases to expire (S3.5). A
	// Dequeue on an unresponsive server may so return up to DequeueGrace after its
	// deadline. Default 1s.
	DequeueGrace time.Duration
	// NoFunctions runs every script by EVALSHA, even on a server that takes Redis 7
	// functions. By default the Backend loads its scripts there as one function
	// library (FUNCTION LOAD), which makes each call cheaper for the server.
	NoFunctions bool
	// TLSConfig configures the TLS connections of OpenURL to a rediss URL: the CA
	// that signed the servers' certificates (RootCAs), client certificates, and so
	// on. Default: verify the servers against the host's root CAs. New refuses it:
	// a client made by the caller carries its own TLS configuration.
	TLSConfig *tls.Config
	// Logger receives what the Backend has to report outside a call's result: a
	// server that refuses it the wake-up channel (notify.go), once. Default
	// slog.Default().
	Logger *slog.Logger
	// AllowEviction accepts a server whose maxmemory-policy is not noeviction. By
	// default the first call that reaches the server reads the policy (from every
	// master of a cluster) and, if it is any other, that call and every later one
	// fail with an error matching backend.ErrInvalid and ErrEvictionPolicy, which
	// says what may be lost; OpenURL fails at once. See ErrEvictionPolicy for what
	// each policy may delete.
	AllowEviction bool
	// WaitReplicas, when above 0, makes each call that enqueues, acks, releases,
	// requeues or purges dead tasks, or sets or deletes an answer, wait until that
	// many replicas have received its change (WAIT) before it reports success;
	// with WaitAOF, until they have written it to their append-only files
	// (durable.go). A change they do not confirm within WaitTimeout was
	// made on the master, and the call returns its usual result with an error
	// matching backend.ErrNotReplicated: the change may be lost if the master
	// fails over before a replica has it. On a Cluster client the replicas are
	// those of the master of the namespace's slot.
	WaitReplicas int
	// WaitAOF makes WaitReplicas wait until the replicas have written each
	// change to their append-only files and synced them (WAITAOF), which
	// survives a replica's restart as well as the master's loss. The replicas
	// must run with appendonly yes, or they never confirm, and a confirmation
	// may take up to a second (a replica acknowledges a write it synced after
	// the request to confirm it on its once-a-second tick; Valkey 8.0), so
	// WaitTimeout must be longer. On a server without WAITAOF (before Redis 7.2;
	// KeyDB) the wait is WAIT's all the same. It needs WaitReplicas above 0.
	WaitAOF bool
	// WaitTimeout bounds the wait for replicas. It must be shorter than the
	// calls' deadlines and, for a client without ContextTimeoutEnabled, than its
	// ReadTimeout. Default 1s.
	WaitTimeout time.Duration
}

// Backend is the Redis/KeyDB driver. It is safe for concurrent use.
type Backend struct {
	client redis.UniversalClient
	opts   Options
	spaces sync.Map // namespace name -> *namespace
	wait   *waiter

	resends bool // the client may send a command twice (request.go)
	// testRequest, when set by a test, names the request key of every call, so
	// that two calls are one call sent twice.
	testRequest func(k *nsKeys) string

	fnMu   sync.Mutex   // held while finding out whether functions work
	fnMode atomic.Int32 // fnUnknown, fnOn or fnOff (functions.go)

	aofMode atomic.Int32 // aofUnknown, aofOn or aofOff (durable.go)

	evict eviction // the maxmemory-policy check (eviction.go)

	closeOnce sync.Once
	closed    chan struct{}
	owned     io.Closer // the client, when OpenURL made it
}

var (
	_ backend.Backend         = (*Backend)(nil)
	_ backend.NamespaceLister = (*Backend)(nil)
)

// New returns a Backend that stores its data through client, which may be a single
// node, Sentinel or Cluster client. Close does not close client.
//
// Make the client with ContextTimeoutEnabled set in its options. Without it,
// go-redis bounds a call by its ReadTimeout and WriteTimeout (5 s by default)
// instead of the call's context, so against a server that stops answering a call
// may outlast its context's deadline and keyq's operation timeout (S7.1) by up to
// that long. New accepts such a client, since go-redis's timeouts still bound the
// call, but ContextTimeoutEnabled reports it. OpenURL always sets it.
//
// go-redis sends a command again after some network errors, and the first send
// may have run. Every call that changes state is safe to resend: its script runs
// once per call, and a resend returns the first run's outcome (request.go).
func New(client redis.UniversalClient, opts Options) (*Backend, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", backend.ErrInvalid)
	}
	if opts.TLSConfig != nil {
		return nil, fmt.Errorf("%w: Options.TLSConfig is for OpenURL; set TLS in the client's options", backend.ErrInvalid)
	}
	if opts.Prefix == "" {
		opts.Prefix = "keyq"
	}
	for _, c := range opts.Prefix {
		if c == '{' || c == '}' {
			return nil, fmt.Errorf("%w: key prefix %q holds a brace", backend.ErrInvalid, opts.Prefix)
		}
	}
	if opts.WaitReplicas < 0 || opts.WaitTimeout < 0 {
		return nil, fmt.Errorf("%w: WaitReplicas %d, WaitTimeout %v: negative", backend.ErrInvalid, opts.WaitReplicas, opts.WaitTimeout)
	}
	if opts.WaitAOF && opts.WaitReplicas == 0 {
		return nil, fmt.Errorf("%w: WaitAOF without WaitReplicas: say how many replicas to wait for", backend.ErrInvalid)
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = defaultWaitTimeout
	}
	if opts.DequeueGrace <= 0 {
		opts.DequeueGrace = time.Second
	}
	b := &Backend{client: client, opts: opts, closed: make(chan struct{}), resends: clientResends(client)}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b.wait = newWaiter(client, b.closed, opts.Logger)
	b.wait.follow = newFollower(client, opts.Prefix)
	if opts.NoFunctions {
		b.fnMode.Store(fnOff)
	}
	return b, nil
}

// Close stops the backend's Pub/Sub subscription and its goroutines, after
// calling every Notify callback still registered once more with an empty Wake.
// Later calls fail with backend.ErrClosed, and a second Close returns nil. The
// client and the stored data are left alone.
func (b *Backend) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.closed)
		b.wait.close()
		if b.owned != nil {
			err = b.owned.Close()
		}
	})
	return err
}

// begin checks what every call checks first: its ctx and invalid, the error of
// its parameters' Validate (backend.Check; nil for a call without parameters),
// then that the backend is open.
func (b *Backend) begin(ctx context.Context, invalid error) error {
	if err := backend.Check(ctx, invalid); err != nil {
		return err
	}
	select {
	case <-b.closed:
		return backend.ErrClosed
	default:
		return nil
	}
}

// run runs a namespace script and returns its reply as a list. A script that only
// reads, refused because the server is out of memory, runs again as its
// read-only twin, without housekeeping (oom.go).
func (b *Backend) run(ctx context.Context, s *script, keys []string, args ...any) ([]any, error) {
	v, err := b.exec(ctx, s, keys, args...)
	if err != nil && s.ro != nil && isOOM(err) {
		v, err = b.exec(ctx, s.ro, keys, args...)
	}
	return replyOf(ctx, v, err)
}

// replyOf returns a script's reply as a list, and its error. A change not
// confirmed by replicas (backend.ErrNotReplicated) has a reply: both are
// returned, so a caller that sees a list must also return the error.
func replyOf(ctx context.Context, v any, err error) ([]any, error) {
	if err != nil && !errors.Is(err, backend.ErrNotReplicated) {
		return nil, mapErr(ctx, err)
	}
	list, lerr := listReply(v)
	if lerr != nil {
		return nil, lerr
	}
	return list, err
}

// listReply returns a script's reply as a list, which must not be empty.
func listReply(v any) ([]any, error) {
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return nil, corrupt("script reply %T", v)
	}
	return list, nil
}

func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

func str(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", corrupt("reply item %T, want a string", v)
	}
	return s, nil
}

// integer reads an integer reply item: a number, or a string of one.
func integer(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, corrupt("reply item %v (%T), want an integer", v, v)
}

// ints reads integer reply items and keeps the first error, so that a decoder
// reads every field and checks once.
type ints struct{ err error }

// orZero reads a counter that may be absent (a nil reply item) as 0.
func (p *ints) orZero(v any) int64 {
	if v == nil {
		return 0
	}
	return p.of(v)
}

func (p *ints) of(v any) int64 {
	n, err := integer(v)
	if p.err == nil {
		p.err = err
	}
	return n
}
