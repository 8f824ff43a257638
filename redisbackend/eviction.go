package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// ErrEvictionPolicy reports a server whose maxmemory-policy may evict keyq's
// keys. Errors that carry it also match backend.ErrInvalid; the call changed
// nothing.
//
// Only noeviction is safe: a server out of memory then refuses writes, which
// keyq reports as backend.ErrFull, and loses nothing. Under allkeys-lru,
// allkeys-lfu and allkeys-random the server deletes any key when it needs
// room: waiting tasks, whole queues, lease records (tasks vanish with no error).
// Under volatile-lru, volatile-lfu, volatile-random and volatile-ttl it deletes
// only keys with a TTL, which keyq gives to answers, finished job records and
// rate limiters, never to tasks or leases: no task is lost, but an answer or a
// job record may vanish before its TTL, so a task whose answer went early is
// delivered again instead of deduped (S3.2, S5.1), and GetAnswer and Job miss.
// keyq refuses every policy but noeviction unless Options.AllowEviction says the
// risk is accepted.
var ErrEvictionPolicy = errors.New("the server's maxmemory-policy may evict keyq's keys")

// eviction remembers the outcome of the policy check, made once per Backend.
type eviction struct {
	mu   sync.Mutex  // held while checking
	done atomic.Bool // the check has its answer (which may be "unknown"); err is set
	err  error       // the refusal, when the policy is unsafe
}

// checkEviction reads maxmemory-policy, from every master of a cluster, the
// first time it gets an answer, and returns an error matching backend.ErrInvalid
// and ErrEvictionPolicy, from then on, when a policy is not noeviction. A server
// that refuses CONFIG GET (an ACL without +config|get, or a managed service that
// renames CONFIG) leaves the policy unknown: the Backend runs, and the user must
// see to noeviction. A server that cannot be reached decides nothing: the call
// fails with that error (unmapped: callers map it), and a later call checks
// again. With Options.AllowEviction there is no check.
func (b *Backend) checkEviction(ctx context.Context) error {
	if b.opts.AllowEviction {
		return nil
	}
	e := &b.evict
	if e.done.Load() {
		return e.err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.done.Load() {
		return e.err
	}
	policies, err := b.readPolicies(ctx)
	var refused redis.Error
	switch {
	case err == nil:
	case errors.As(err, &refused) && !isServerDown(err):
		e.done.Store(true) // refused by the server: unknown for good
		return nil
	default:
		return err // not answered: the call fails as it would have, a later one checks
	}
	defer e.done.Store(true)
	for addr, p := range policies {
		if p != "noeviction" {
			e.err = fmt.Errorf("%w: %w: redis at %s has maxmemory-policy %q, under which it may delete waiting tasks, leases or answers; "+
				"set it to noeviction, or set Options.AllowEviction to accept the risk", backend.ErrInvalid, ErrEvictionPolicy, addr, p)
			return e.err
		}
	}
	return nil
}

// readPolicies returns the maxmemory-policy of the server, or of every master of
// a cluster, by address.
func (b *Backend) readPolicies(ctx context.Context) (map[string]string, error) {
	out := make(map[string]string)
	var mu sync.Mutex
	read := func(ctx context.Context, c redis.Cmdable, addr string) error {
		m, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
		if err != nil {
			return err
		}
		p, ok := m["maxmemory-policy"]
		if !ok {
			return redis.ErrClosed // not a reply to use; cannot happen on a real server
		}
		mu.Lock()
		out[addr] = p
		mu.Unlock()
		return nil
	}
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return read(ctx, c, c.Options().Addr)
		})
		return out, err
	}
	addr := "the server"
	if c, ok := b.client.(*redis.Client); ok {
		addr = c.Options().Addr
	}
	return out, read(ctx, b.client, addr)
}
