package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// Redis replicates asynchronously: a master acknowledges a write before any
// replica has it, and a failover that promotes a replica which had not received
// it loses the write, though the call reported success. With
// Options.WaitReplicas, every call that ends in a change a caller relies on
// (durableScripts) sends, on the same connection and in the same round trip as
// its script, WAIT <n> <timeout> (n replicas have received it), or with
// Options.WaitAOF, WAITAOF 0 <n> <timeout> where the server has it (Redis 7.2
// and later: n replicas have written the change to their append-only file and
// synced it). WAIT and WAITAOF count the writes of their own connection, so they
// go in one pipeline with the script. Whether the server has WAITAOF is found by
// trying it, never by its version: the first such call sends both, and the one
// the server refuses is not sent again.
//
// WAIT is the default on every server: WAITAOF counts only replicas that run
// with appendonly yes, and a replica without it never confirms, so the same
// deployment that works on Redis 7.0 would fail every call on 7.2, Valkey or
// Redis 8.
//
// Dequeue, Extend and Reclaim do not wait: a lease lost in a failover comes back
// as its task, delivered again (at least once), and a Dequeue must hand over the
// tasks it has leased (S3.5).

// durableScripts names the scripts that wait for replicas under WaitReplicas.
var durableScripts = map[string]bool{
	"enqueue": true, "settle": true, "exchange": true, "deadaction": true, "setanswer": true, "delanswer": true,
	"pause": true, "cancel": true,
}

// Whether the server has WAITAOF.
const (
	aofUnknown int32 = iota
	aofOn
	aofOff
)

// defaultWaitTimeout is Options.WaitTimeout's default.
const defaultWaitTimeout = time.Second

// notReplicated is the error of a call whose change the master made and fewer
// than the wanted replicas confirmed in time.
func notReplicated(got int64, want int, timeout time.Duration, aof bool) error {
	what := "received"
	if aof {
		what = "written to their append-only files"
	}
	return fmt.Errorf("%w: %d of %d replicas had %s the change within %v", backend.ErrNotReplicated, got, want, what, timeout)
}

// pipeWait sends the command that write queues, then WAITAOF or WAIT (or both,
// while it is not known whether the server has WAITAOF), in one pipeline. On a
// cluster the pipeline goes to the master of key's slot, the slot of the
// command's keys: a cluster client's own pipeline would send WAIT, which has no
// key, to any master (keys.go's hash tag puts every key of a call in one slot).
func (b *Backend) pipeWait(ctx context.Context, key string, write func(redis.Pipeliner) *redis.Cmd) (any, error) {
	n, timeout := b.opts.WaitReplicas, b.opts.WaitTimeout
	mode := aofOff // WAIT alone
	if b.opts.WaitAOF {
		mode = b.aofMode.Load()
	}
	pipe, err := b.waitPipeline(ctx, key)
	if err != nil {
		return nil, err
	}
	cmd := write(pipe)
	ms := timeout.Milliseconds()
	var aof, wait *redis.Cmd
	if mode != aofOff {
		aof = pipe.Do(ctx, "waitaof", 0, n, ms)
	}
	if mode != aofOn {
		wait = pipe.Do(ctx, "wait", n, ms)
	}
	_, _ = pipe.Exec(ctx) // each command's error is its own
	v, err := cmd.Result()
	if err != nil {
		if cc, ok := b.client.(*redis.ClusterClient); ok {
			// After a failover or a resharding the node may be gone, or answer
			// that another serves the slot (MOVED, ASK: the command did not run):
			// the cluster client learns the new layout for the next call.
			cc.ReloadState(ctx)
			if isRedirect(err) {
				return nil, fmt.Errorf("%w: %w", backend.ErrUnavailable, err)
			}
		}
		return nil, err
	}
	if aof != nil {
		got, err := aof.Int64Slice()
		switch {
		case err == nil && len(got) == 2:
			b.aofMode.CompareAndSwap(aofUnknown, aofOn)
			if got[1] >= int64(n) {
				return v, nil
			}
			return v, notReplicated(got[1], n, timeout, true)
		case isRefused(err):
			b.aofMode.CompareAndSwap(aofUnknown, aofOff)
		case err == nil:
			return v, fmt.Errorf("redisbackend: WAITAOF answered %v: %w", got, backend.ErrNotReplicated)
		case wait == nil:
			return v, fmt.Errorf("redisbackend: WAITAOF: %w: %w", backend.ErrNotReplicated, mapErr(ctx, err))
		}
	}
	if wait == nil { // WAITAOF has gone from the server since: find out again
		b.aofMode.Store(aofUnknown)
		return v, fmt.Errorf("redisbackend: the server no longer takes WAITAOF: %w", backend.ErrNotReplicated)
	}
	got, err := wait.Int64()
	if err != nil {
		return v, fmt.Errorf("redisbackend: WAIT: %w: %w", backend.ErrNotReplicated, mapErr(ctx, err))
	}
	if got >= int64(n) {
		return v, nil
	}
	return v, notReplicated(got, n, timeout, false)
}

// isRefused reports a server's refusal of a command: one it does not have, or
// that the user may not run; not one it cannot serve now.
func isRefused(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !isServerDown(err) && !isOOM(err)
}

// waitPipeline returns the pipeline of pipeWait: on a cluster, one to the
// master of key's slot, as the cluster client knows it. Without a key, the
// client's own.
func (b *Backend) waitPipeline(ctx context.Context, key string) (redis.Pipeliner, error) {
	cc, ok := b.client.(*redis.ClusterClient)
	if !ok || key == "" {
		return b.client.Pipeline(), nil
	}
	node, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return nil, err
	}
	return node.Pipeline(), nil
}

// isRedirect reports a cluster node's answer that another node serves the slot.
func isRedirect(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && (redis.HasErrorPrefix(err, "MOVED") || redis.HasErrorPrefix(err, "ASK"))
}
