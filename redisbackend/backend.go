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
	"github.com/keyq/keyq/clock"
	"github.com/redis/go-redis/v9"
)

// Options configure a Backend. The zero value is ready to use.
type Options struct {
	// Prefix starts every key name. It must not contain '{' or '}'. Default "keyq".
	Prefix string
	// Clock measures Dequeue waits on the host. It is never used for leases, delays
	// or TTLs, which come from the server's clock. Default clock.Real().
	Clock clock.Clock
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
	// server that refuses it the wake-up channel (wait.go), once. Default
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
	// many replicas have its change before it reports success: WAITAOF on servers
	// that have it (Redis 7.2+; the replicas must then run with appendonly yes),
	// else WAIT (durable.go). A change they do not confirm within WaitTimeout was
	// made on the master, and the call returns its usual result with an error
	// matching backend.ErrNotReplicated: the change may be lost if the master
	// fails over before a replica has it. Not for a Cluster client (ErrInvalid).
	WaitReplicas int
	// WaitTimeout bounds the wait for replicas. It must be shorter than the
	// calls' deadlines and, for a client without ContextTimeoutEnabled, than its
	// ReadTimeout. Default 1s.
	WaitTimeout time.Duration
}

// Backend is the Redis/KeyDB driver. It is safe for concurrent use.
type Backend struct {
	client redis.UniversalClient
	opts   Options
	keys   sync.Map // namespace -> *nsKeys
	wait   *waiter

	waiting atomic.Int64 // Dequeue calls blocked waiting, for tests

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
	_ backend.Backend     = (*Backend)(nil)
	_ backend.RateLimiter = (*Backend)(nil)
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
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.WaitReplicas < 0 || opts.WaitTimeout < 0 {
		return nil, fmt.Errorf("%w: WaitReplicas %d, WaitTimeout %v: negative", backend.ErrInvalid, opts.WaitReplicas, opts.WaitTimeout)
	}
	if _, ok := client.(*redis.ClusterClient); ok && opts.WaitReplicas > 0 {
		return nil, fmt.Errorf("%w: WaitReplicas is not supported on a cluster yet", backend.ErrInvalid)
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

// Close stops the backend's Pub/Sub subscription and its goroutine. Blocked
// Dequeue calls return backend.ErrClosed, later calls fail with it, and a second
// Close returns nil. The client and the stored data are left alone.
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

func (b *Backend) nsKeys(ns string) *nsKeys {
	if k, ok := b.keys.Load(ns); ok {
		return k.(*nsKeys)
	}
	k, _ := b.keys.LoadOrStore(ns, newNSKeys(b.opts.Prefix, ns))
	return k.(*nsKeys)
}

// begin checks what every call checks first.
func (b *Backend) begin(ctx context.Context, validate func() error) error {
	if ctx == nil {
		return fmt.Errorf("%w: nil context", backend.ErrInvalid)
	}
	select {
	case <-b.closed:
		return backend.ErrClosed
	default:
	}
	if err := validate(); err != nil {
		return err
	}
	return ctxErr(ctx)
}

// run runs a namespace script and returns its reply as a list. A script that only
// reads, refused because the server is out of memory, runs again as its
// read-only twin, without housekeeping (oom.go).
func (b *Backend) run(ctx context.Context, s *script, k *nsKeys, args ...any) ([]any, error) {
	v, err := b.exec(ctx, s, k.all, args...)
	if err != nil && s.ro != nil && isOOM(err) {
		v, err = b.exec(ctx, s.ro, k.all, args...)
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

// Enqueue implements backend.Backend.
func (b *Backend) Enqueue(ctx context.Context, p backend.EnqueueParams) ([]string, error) {
	if err := b.begin(ctx, p.Validate); err != nil {
		return nil, err
	}
	var jobTTL int64
	if p.TrackJobs {
		jobTTL = durMS(p.JobTTL)
	}
	args := make([]any, 0, 7+3*len(p.Tasks))
	args = append(args, p.Queue, flag(p.AtHead), durMS(p.Delay), flag(p.Unique), jobTTL)
	for i := range p.Tasks {
		pre, rest := encodeMessage(&p.Tasks[i], p.TrackJobs)
		args = append(args, pre, rest)
		if jobTTL > 0 { // the job record's type; enqueue.lua reads it only then
			args = append(args, p.Tasks[i].Type)
		}
	}
	args = append(args, newEpoch())
	r, err := b.runReq(ctx, scriptEnqueue, b.nsKeys(p.Namespace), args)
	if r == nil { // else err is nil or ErrNotReplicated
		return nil, err
	}
	if len(r) == 1 && r[0] == "dup" {
		return nil, backend.ErrDuplicate
	}
	if len(r) != 3 {
		return nil, corrupt("enqueue reply of %d items", len(r))
	}
	base, ok := r[1].(int64)
	epoch, _ := r[2].(string)
	if !ok || len(epoch) != epochLen {
		return nil, corrupt("enqueue reply: first ID %v, epoch %v", r[1], r[2])
	}
	ids := make([]string, len(p.Tasks))
	m := newIDMaker(epoch)
	for i := range ids {
		ids[i] = m.id(base + int64(i) + 1)
	}
	return ids, err
}

// Dequeue implements backend.Backend. A waiting Dequeue listens on the namespace's
// wake-up channel (wait.go) and holds no pool connection while it waits.
func (b *Backend) Dequeue(ctx context.Context, p backend.DequeueParams) (backend.DequeueResult, error) {
	if err := b.begin(ctx, p.Validate); err != nil {
		return backend.DequeueResult{}, err
	}
	k := b.nsKeys(p.Namespace)
	if p.Wait == 0 {
		res, _, err := b.dequeueOnce(ctx, k, p)
		return res, err
	}
	// The subscription is confirmed within the wait, or the call makes one try
	// without waiting: a server that is down then reports itself.
	rctx, cancel := context.WithTimeout(ctx, p.Wait)
	reg, err := b.wait.register(rctx, k.channel, p.Queues, p.Count)
	cancel()
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			res, _, err := b.dequeueOnce(ctx, k, p)
			return res, b.closedOr(err)
		}
		return backend.DequeueResult{}, b.closedOr(err)
	}
	defer b.wait.unregister(k.channel, reg)
	total := b.opts.Clock.NewTimer(p.Wait)
	defer total.Stop()
	deduped := 0
	woken := "" // the queue of the wake-up that led to this try
	for {
		select { // a wake-up since the last try is served by this one
		case q := <-reg.c:
			if woken == "" {
				woken = q
			}
		default:
		}
		res, next, err := b.dequeueOnce(ctx, k, p)
		res.Deduped += deduped
		if woken != "" && (err != nil || len(res.Leases) == p.Count) {
			// A failed try may not have looked, and a full batch may have left
			// tasks in the queue this wake-up was for; a shorter batch emptied
			// every queue of p.Queues.
			b.wait.passOn(k.channel, woken)
		}
		woken = ""
		if err != nil || len(res.Leases) > 0 {
			return res, b.closedOr(err)
		}
		deduped = res.Deduped
		var nextC <-chan time.Time
		var nextT clock.Timer
		if reg.poll && (next < 0 || next > pollEvery) { // no wake-up will come
			next = pollEvery
		}
		if next >= 0 {
			nextT = b.opts.Clock.NewTimer(next)
			nextC = nextT.C()
		}
		b.waiting.Add(1)
		err = nil
		done := false
		select {
		case woken = <-reg.c:
		case <-nextC:
		case <-total.C():
			done = true
		case <-ctx.Done():
			err = ctxErr(ctx)
		case <-b.closed:
			err = backend.ErrClosed
		}
		b.waiting.Add(-1)
		if nextT != nil {
			nextT.Stop()
		}
		if done || err != nil {
			return res, err
		}
	}
}

// closedOr returns ErrClosed once the backend is closed, else err: a call cut short
// by Close reports the Close, not the broken connection it caused.
func (b *Backend) closedOr(err error) error {
	if err == nil {
		return nil
	}
	select {
	case <-b.closed:
		return backend.ErrClosed
	default:
		return err
	}
}

// dequeueOnce runs the dequeue script once. It returns the time until the next
// delayed task is due or lease expires, or -1 when there is none.
func (b *Backend) dequeueOnce(ctx context.Context, k *nsKeys, p backend.DequeueParams) (backend.DequeueResult, time.Duration, error) {
	var res backend.DequeueResult
	select {
	case <-b.closed:
		return res, -1, backend.ErrClosed
	default:
	}
	if ctx.Err() != nil {
		return res, -1, ctxErr(ctx)
	}
	args := make([]any, 0, 4+len(p.Queues))
	args = append(args, p.Count, durMS(p.Lease))
	for _, q := range p.Queues {
		args = append(args, q)
	}
	args = append(args, newEpoch())
	// Once sent, the script runs to the end: a cancelled ctx must not lose the
	// tasks it leased (S3.5). Without a deadline, the client's read timeout bounds
	// the call.
	dctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
	if d, ok := ctx.Deadline(); ok {
		dctx, cancel = context.WithDeadline(dctx, d.Add(b.opts.DequeueGrace))
	}
	defer cancel()
	next := time.Duration(-1)
	for { // more than one round only when a round stopped at its dedupe cap
		r, err := b.runReq(dctx, scriptDequeue, k, args)
		if err == nil {
			var more bool
			if more, err = decodeDequeue(r, &res); err == nil {
				next = -1
				if n := num(r[3]); n >= 0 {
					next = time.Duration(n) * time.Millisecond
				}
				if !more || len(res.Leases) >= p.Count || ctx.Err() != nil {
					return res, next, nil
				}
				args[0] = p.Count - len(res.Leases)
				continue
			}
		}
		switch {
		case len(res.Leases) > 0: // leased by an earlier round: they are the caller's
			return res, next, nil
		case ctx.Err() != nil:
			return res, -1, ctxErr(ctx)
		}
		return res, -1, err
	}
}

// decodeDequeue adds the leases of a dequeue script's reply to res and reports
// whether the script asks to be called again.
func decodeDequeue(r []any, res *backend.DequeueResult) (more bool, err error) {
	if len(r) < 7 {
		return false, corrupt("dequeue reply of %d items", len(r))
	}
	epoch, _ := r[len(r)-1].(string)
	r = r[:len(r)-1]
	if len(r) > 6 && len(epoch) != epochLen {
		return false, corrupt("dequeue reply: epoch %v", epoch)
	}
	m := newIDMaker(epoch)
	deadline := msTime(num(r[1]))
	res.Deduped += int(num(r[2]))
	token := num(r[5]) // the leases' tokens follow it, one by one
	for i := 6; i < len(r); {
		queue, err := str(r[i])
		if err != nil {
			return false, err
		}
		if i+1 >= len(r) {
			return false, corrupt("dequeue reply: queue %q without a count at its end", queue)
		}
		n, ok := r[i+1].(int64)
		if !ok || n <= 0 || n > int64(len(r)-i-2) {
			return false, corrupt("dequeue reply: a run of %v leases at item %d of %d", r[i+1], i, len(r))
		}
		for _, v := range r[i+2 : i+2+int(n)] {
			blob, err := str(v)
			if err != nil {
				return false, err
			}
			t, err := decodeBlob(queue, []byte(blob))
			if err != nil {
				return false, err
			}
			token++
			t.ID = m.decimal(t.ID)
			res.Leases = append(res.Leases, backend.Lease{Task: t, Token: m.id(token), Deadline: deadline})
		}
		i += 2 + int(n)
	}
	return num(r[4]) == 1, nil
}

func leaseResult(r []any) error {
	if s, ok := r[0].(string); ok && s == "lost" {
		return backend.ErrLeaseLost
	}
	return nil
}

// Ack implements backend.Backend.
func (b *Backend) Ack(ctx context.Context, p backend.AckParams) error {
	if err := b.begin(ctx, p.Validate); err != nil {
		return err
	}
	if !ackable(&p) {
		return backend.ErrLeaseLost
	}
	args, _ := ackArgs([]backend.AckParams{p}, []int{0})
	r, err := b.runReq(ctx, scriptAck, b.nsKeys(p.Namespace), append(args, p.Token[:epochLen]))
	if r == nil {
		return err
	}
	return firstErr(leaseResult(r), err)
}

// Release implements backend.Backend.
func (b *Backend) Release(ctx context.Context, p backend.ReleaseParams) error {
	if err := b.begin(ctx, p.Validate); err != nil {
		return err
	}
	epoch, token, id, ok := leaseName(p.Token, p.TaskID)
	if !ok {
		return backend.ErrLeaseLost
	}
	r, err := b.runReq(ctx, scriptRelease, b.nsKeys(p.Namespace), []any{token, id, flag(p.ToTail),
		durMS(p.Delay), p.Error, flag(p.KeepAttempt), flag(p.DeadLetter), epoch})
	if r == nil {
		return err
	}
	return firstErr(leaseResult(r), err)
}

// Extend implements backend.Backend.
func (b *Backend) Extend(ctx context.Context, p backend.ExtendParams) (time.Time, error) {
	if err := b.begin(ctx, p.Validate); err != nil {
		return time.Time{}, err
	}
	epoch, token, id, ok := leaseName(p.Token, p.TaskID)
	if !ok {
		return time.Time{}, backend.ErrLeaseLost
	}
	r, err := b.runReq(ctx, scriptExtend, b.nsKeys(p.Namespace), []any{token, id, durMS(p.Lease), epoch})
	if err != nil {
		return time.Time{}, err
	}
	if err := leaseResult(r); err != nil {
		return time.Time{}, err
	}
	if len(r) != 2 {
		return time.Time{}, corrupt("extend reply of %d items", len(r))
	}
	return msTime(num(r[1])), nil
}

// Reclaim implements backend.Backend.
func (b *Backend) Reclaim(ctx context.Context, p backend.ReclaimParams) (int, error) {
	if err := b.begin(ctx, p.Validate); err != nil {
		return 0, err
	}
	total := 0
	for { // one script reclaims at most ten housekeeping batches
		r, err := b.runReq(ctx, scriptReclaim, b.nsKeys(p.Namespace), nil)
		if err != nil {
			return total, err
		}
		if len(r) != 3 {
			return total, corrupt("reclaim reply of %d items", len(r))
		}
		total += int(num(r[1]))
		if num(r[2]) == 0 {
			return total, nil
		}
	}
}

func str(v any) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", corrupt("reply item %T, want a string", v)
	}
	return s, nil
}

// num reads an integer reply item; a missing or malformed one reads as 0.
func num(v any) int64 {
	switch v := v.(type) {
	case int64:
		return v
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
