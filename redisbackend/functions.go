package redisbackend

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Whether a Backend runs its scripts as functions of the library (scripts.go).
const (
	fnUnknown int32 = iota // not tried yet, or the try did not reach the server
	fnOn                   // the library is loaded
	fnOff                  // the server refused it: EVALSHA only
)

// functions reports whether scripts run as functions. The first call finds out by
// trying FUNCTION LOAD, never by the server's version: Redis 7 takes it; Redis
// 6.2, KeyDB and miniredis answer with an error, as does a server whose ACL
// forbids it, and the Backend uses EVALSHA from then on. A try that does not get
// an answer (the server is down) decides nothing; that call uses EVALSHA.
func (b *Backend) functions(ctx context.Context) bool {
	switch b.fnMode.Load() {
	case fnOn:
		return true
	case fnOff:
		return false
	}
	b.fnMu.Lock()
	defer b.fnMu.Unlock()
	if m := b.fnMode.Load(); m != fnUnknown {
		return m == fnOn
	}
	err := b.loadLibrary(ctx)
	var refused redis.Error
	switch {
	case err == nil:
		b.fnMode.Store(fnOn)
	case isOOM(err) || isServerDown(err):
		// Out of memory, or a replica (READONLY: a failover under way), decides
		// nothing: FUNCTION LOAD writes, so it is refused now and may be taken
		// later. This call uses EVALSHA.
	case errors.As(err, &refused):
		b.fnMode.Store(fnOff)
	}
	return err == nil
}

// loadLibrary loads the library, or loads it again, on the server or on every
// master of a cluster.
func (b *Backend) loadLibrary(ctx context.Context) error {
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.FunctionLoadReplace(ctx, library).Err()
		})
	}
	return b.client.FunctionLoadReplace(ctx, library).Err()
}

// missingFunction reports whether FCALL failed because the server has no such
// function: after FUNCTION FLUSH, a restart without persistence, or on a node new
// to the cluster. The function did not run.
func missingFunction(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Function not found")
}

// exec runs s with keys and args, as a function where the server takes them (by
// FCALL_RO for a script that only reads), else by EVALSHA (loading the script
// after NOSCRIPT). A script that waits for replicas under Options.WaitReplicas
// goes in one pipeline with WAIT or WAITAOF (durable.go).
func (b *Backend) exec(ctx context.Context, s *script, keys []string, args ...any) (any, error) {
	if err := b.checkEviction(ctx); err != nil {
		return nil, err
	}
	do := func(cmd func(redis.Cmdable) *redis.Cmd) (any, error) {
		if s.durable && b.opts.WaitReplicas > 0 {
			key := ""
			if len(keys) > 0 { // every durable script has its namespace's keys
				key = keys[0]
			}
			return b.pipeWait(ctx, key, func(p redis.Pipeliner) *redis.Cmd { return cmd(p) })
		}
		return cmd(b.client).Result()
	}
	if s.fn != "" && b.functions(ctx) {
		fcall := func(c redis.Cmdable) *redis.Cmd {
			if s.noWrites {
				return c.FCallRO(ctx, s.fn, keys, args...)
			}
			return c.FCall(ctx, s.fn, keys, args...)
		}
		v, err := do(fcall)
		if !missingFunction(err) {
			return v, err
		}
		if err := b.loadLibrary(ctx); err == nil {
			return do(fcall)
		}
		// Loading failed: this call goes by EVALSHA, and the next one tries again.
	}
	evalsha := func(c redis.Cmdable) *redis.Cmd { return c.EvalSha(ctx, s.eval.Hash(), keys, args...) }
	v, err := do(evalsha)
	if err == nil || !redis.HasErrorPrefix(err, "NOSCRIPT") {
		return v, err
	}
	if err := s.eval.Load(ctx, b.client).Err(); err != nil {
		return nil, err
	}
	return do(evalsha)
}
