package redisbackend

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/keyq/keyq/backend"
	"github.com/redis/go-redis/v9"
)

// dropBatch is how many keys one UNLINK deletes, and the COUNT hint of each SCAN.
const dropBatch = 500

// DropNamespace deletes every key of namespace ns, "<Prefix>:{<ns>}:*": its queues,
// leases, delayed and dead tasks, answers, job records, counters and rate limiters,
// and returns how many keys it deleted. On a cluster it deletes them on every
// master. It is meant for tools, tests and examples that clean up after themselves;
// no other call may use ns meanwhile, or what that call writes may stay behind.
//
// It finds the keys with SCAN, so it walks the whole keyspace of each server once,
// and deletes them with UNLINK, so the server frees their memory in the background.
// A namespace that holds nothing returns 0 and no error. An empty ns or a nil ctx is
// backend.ErrInvalid; after Close it fails with backend.ErrClosed.
func (b *Backend) DropNamespace(ctx context.Context, ns string) (int, error) {
	if err := b.begin(ctx, nil); err != nil {
		return 0, err
	}
	if ns == "" {
		return 0, fmt.Errorf("%w: empty namespace", backend.ErrInvalid)
	}
	pattern := escapeGlob(b.handle(ns).k.prefix) + "*"
	var err error
	var n atomic.Int64
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return unlinkMatching(ctx, c, pattern, &n)
		})
	} else {
		err = unlinkMatching(ctx, b.client, pattern, &n)
	}
	if err != nil {
		return int(n.Load()), fmt.Errorf("redisbackend: drop namespace %q: %w", ns, mapErr(ctx, err))
	}
	return int(n.Load()), nil
}

// unlinkMatching unlinks the keys of one server that match the SCAN pattern, in
// batches of dropBatch, and adds how many it unlinked to n.
func unlinkMatching(ctx context.Context, c redis.Cmdable, pattern string, n *atomic.Int64) error {
	iter := c.Scan(ctx, 0, pattern, dropBatch).Iterator()
	batch := make([]string, 0, dropBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		deleted, err := c.Unlink(ctx, batch...).Result()
		n.Add(deleted)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == dropBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// escapeGlob escapes the characters that SCAN's MATCH pattern treats as special,
// so that s matches only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
